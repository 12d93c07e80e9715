#include "hashdb/sqlite.h"

namespace tollgate::hashdb::sql {

Error error(sqlite3* db, std::string_view path, std::string_view what) {
  int rc = db ? sqlite3_errcode(db) : SQLITE_ERROR;
  ErrorCode code = ErrorCode::kIo;
  if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) code = ErrorCode::kCorrupt;
  else if (rc == SQLITE_CANTOPEN) code = ErrorCode::kNotFound;
  else if (rc == SQLITE_PERM || rc == SQLITE_AUTH || rc == SQLITE_READONLY) code = ErrorCode::kPermission;
  std::string msg(path);
  msg.append(": ").append(what).append(": ").append(db ? sqlite3_errmsg(db) : "out of memory");
  return Error(code, std::move(msg));
}

Result<Db> open(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) return std::unexpected(error(raw, path, "cannot open database"));
  sqlite3_extended_result_codes(raw, 0);
  return db;
}

Status exec(sqlite3* db, std::string_view path, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    return std::unexpected(error(db, path, "database error"));
  return {};
}

Result<Stmt> prepare(sqlite3* db, std::string_view path, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK)
    return std::unexpected(error(db, path, "database error"));
  return Stmt(raw);
}

std::string column_text(sqlite3_stmt* stmt, int col) {
  const unsigned char* text = sqlite3_column_text(stmt, col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

std::span<const uint8_t> column_blob(sqlite3_stmt* stmt, int col) {
  const void* blob = sqlite3_column_blob(stmt, col);
  if (!blob) return {};
  return {static_cast<const uint8_t*>(blob), static_cast<size_t>(sqlite3_column_bytes(stmt, col))};
}

void bind_text(sqlite3_stmt* stmt, int idx, std::string_view text) {
  sqlite3_bind_text(stmt, idx, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void bind_blob(sqlite3_stmt* stmt, int idx, std::span<const uint8_t> blob) {
  sqlite3_bind_blob(stmt, idx, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
}

}  // namespace tollgate::hashdb::sql
