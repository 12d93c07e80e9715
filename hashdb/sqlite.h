// RAII owners for SQLite handles and the few statement helpers that the
// reader and writer share. Internal to hashdb.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace tollgate::hashdb::sql {

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using Db = std::unique_ptr<sqlite3, DbDeleter>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// "PATH: WHAT: sqlite message", with Corrupt for SQLITE_CORRUPT/NOTADB.
Error error(sqlite3* db, std::string_view path, std::string_view what);

Result<Db> open(const std::string& path, int flags);
Status exec(sqlite3* db, std::string_view path, const char* sql);
Result<Stmt> prepare(sqlite3* db, std::string_view path, const char* sql);

// Column accessors that never return null pointers.
std::string column_text(sqlite3_stmt* stmt, int col);
std::span<const uint8_t> column_blob(sqlite3_stmt* stmt, int col);

void bind_text(sqlite3_stmt* stmt, int idx, std::string_view text);
void bind_blob(sqlite3_stmt* stmt, int idx, std::span<const uint8_t> blob);

}  // namespace tollgate::hashdb::sql
