#include "hashdb/schema.h"

#include <array>
#include <cstring>
#include <memory>

#include "hashdb/evp_handles.h"
#include "hashdb/sqlite.h"

namespace tollgate::hashdb {

const char* const kSchemaSql = R"sql(
CREATE TABLE meta(
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE hash_rules(
  sha256      BLOB PRIMARY KEY NOT NULL CHECK(typeof(sha256) = 'blob' AND length(sha256) = 32),
  action      TEXT NOT NULL CHECK(action IN ('allow', 'deny')),
  label       TEXT NOT NULL DEFAULT '',
  origin_path TEXT NOT NULL DEFAULT '',
  source_file TEXT NOT NULL DEFAULT '',
  source_line INTEGER NOT NULL DEFAULT 0,
  approved_by TEXT NOT NULL DEFAULT '',
  approved_at TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE path_rules(
  path        TEXT NOT NULL,
  match       TEXT NOT NULL CHECK(match IN ('exact', 'prefix')),
  action      TEXT NOT NULL CHECK(action IN ('allow', 'deny')),
  label       TEXT NOT NULL DEFAULT '',
  source_file TEXT NOT NULL DEFAULT '',
  source_line INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(path, match, action)
) WITHOUT ROWID;
CREATE TABLE signers(
  key_id      BLOB PRIMARY KEY NOT NULL CHECK(typeof(key_id) = 'blob' AND length(key_id) = 32),
  pem         TEXT NOT NULL,
  label       TEXT NOT NULL DEFAULT '',
  source_file TEXT NOT NULL DEFAULT '',
  source_line INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE file_cache(
  path     TEXT PRIMARY KEY NOT NULL,
  size     INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  ino      INTEGER NOT NULL,
  sha256   BLOB NOT NULL CHECK(length(sha256) = 32)
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

namespace {

class Hasher {
 public:
  Hasher() : ctx_(new_digest(EVP_sha256())) {}
  void add(const void* data, size_t len) { EVP_DigestUpdate(ctx_.get(), data, len); }
  void add_tagged(char tag, const void* data, size_t len) {
    std::array<uint8_t, 9> head{};
    head[0] = static_cast<uint8_t>(tag);
    uint64_t n = len;
    for (int i = 0; i < 8; ++i) head[1 + i] = static_cast<uint8_t>(n >> (8 * i));
    add(head.data(), head.size());
    add(data, len);
  }
  Sha256 finish() {
    Sha256 out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), out.data(), &len);
    return out;
  }

 private:
  MdCtx ctx_;
};

// Feeds every row of `sql` into the hasher, each column tagged with its type.
Status hash_rows(Hasher& h, sqlite3* db, std::string_view path, std::string_view table, const char* sql) {
  h.add_tagged('T', table.data(), table.size());
  auto stmt = sql::prepare(db, path, sql);
  if (!stmt) return std::unexpected(stmt.error());
  const int cols = sqlite3_column_count(stmt->get());
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    h.add("R", 1);
    for (int c = 0; c < cols; ++c) {
      switch (sqlite3_column_type(stmt->get(), c)) {
        case SQLITE_INTEGER: {
          auto text = std::to_string(sqlite3_column_int64(stmt->get(), c));
          h.add_tagged('i', text.data(), text.size());
          break;
        }
        case SQLITE_TEXT: {
          auto text = sql::column_text(stmt->get(), c);
          h.add_tagged('s', text.data(), text.size());
          break;
        }
        case SQLITE_BLOB: {
          auto blob = sql::column_blob(stmt->get(), c);
          h.add_tagged('b', blob.data(), blob.size());
          break;
        }
        case SQLITE_FLOAT: {
          double d = sqlite3_column_double(stmt->get(), c);
          h.add_tagged('f', &d, sizeof d);
          break;
        }
        default: h.add_tagged('n', nullptr, 0);
      }
    }
  }
  if (rc != SQLITE_DONE) return std::unexpected(sql::error(db, path, "cannot read rules"));
  return {};
}

}  // namespace

Result<Sha256> content_digest(sqlite3* db, std::string_view path) {
  Hasher h;
  h.add("tollgate-content-v1\n", 20);
  if (auto st = hash_rows(h, db, path, "hash_rules",
                          "SELECT sha256, action, label, origin_path, source_file, source_line, "
                          "approved_by, approved_at FROM hash_rules ORDER BY sha256");
      !st)
    return std::unexpected(st.error());
  if (auto st = hash_rows(h, db, path, "path_rules",
                          "SELECT path, match, action, label, source_file, source_line "
                          "FROM path_rules ORDER BY path, match, action");
      !st)
    return std::unexpected(st.error());
  if (auto st = hash_rows(h, db, path, "signers",
                          "SELECT key_id, pem, label, source_file, source_line FROM signers ORDER BY key_id");
      !st)
    return std::unexpected(st.error());
  return h.finish();
}

Result<Sha256> cache_digest(sqlite3* db, std::string_view path) {
  Hasher h;
  h.add("tollgate-cache-v1\n", 18);
  if (auto st = hash_rows(h, db, path, "file_cache",
                          "SELECT path, size, mtime_ns, ino, sha256 FROM file_cache ORDER BY path");
      !st)
    return std::unexpected(st.error());
  return h.finish();
}

std::string signed_message(const MetaMap& meta) {
  std::string msg = "tollgate-policy-signature-v1\n";
  for (const auto& [key, value] : meta) {
    if (key == meta_key::kSignature) continue;
    msg.append(key).append("=").append(value).append("\n");
  }
  return msg;
}

Result<MetaMap> read_meta(sqlite3* db, std::string_view path) {
  auto stmt = sql::prepare(db, path, "SELECT key, value FROM meta ORDER BY key");
  if (!stmt) return std::unexpected(stmt.error());
  MetaMap meta;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW)
    meta.emplace(sql::column_text(stmt->get(), 0), sql::column_text(stmt->get(), 1));
  if (rc != SQLITE_DONE) return std::unexpected(sql::error(db, path, "cannot read meta table"));
  return meta;
}

}  // namespace tollgate::hashdb
