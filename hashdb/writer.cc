#include "hashdb/writer.h"

#include <sqlite3.h>

#include <ctime>

#include "common/io.h"
#include "common/time.h"
#include "hashdb/schema.h"
#include "hashdb/sqlite.h"

namespace tollgate::hashdb {
namespace {

Status insert_rules(sqlite3* db, const std::string& path, const PolicyContent& content) {
  auto hash = sql::prepare(db, path,
                           "INSERT INTO hash_rules(sha256, action, label, origin_path, source_file, "
                           "source_line, approved_by, approved_at) VALUES(?,?,?,?,?,?,?,?)");
  if (!hash) return std::unexpected(hash.error());
  for (const auto& r : content.hash_rules) {
    sqlite3_stmt* s = hash->get();
    sql::bind_blob(s, 1, r.sha256);
    sql::bind_text(s, 2, to_string(r.action));
    sql::bind_text(s, 3, r.label);
    sql::bind_text(s, 4, r.origin_path);
    sql::bind_text(s, 5, r.source.file);
    sqlite3_bind_int64(s, 6, r.source.line);
    sql::bind_text(s, 7, r.approved_by);
    sql::bind_text(s, 8, r.approved_at);
    if (sqlite3_step(s) != SQLITE_DONE) {
      if (sqlite3_errcode(db) == SQLITE_CONSTRAINT)
        return fail(ErrorCode::kInvalidInput, path + ": hash " + to_hex(r.sha256) + " appears twice in the policy");
      return std::unexpected(sql::error(db, path, "cannot insert hash rule"));
    }
    sqlite3_reset(s);
  }
  auto prule = sql::prepare(db, path,
                            "INSERT INTO path_rules(path, match, action, label, source_file, source_line) "
                            "VALUES(?,?,?,?,?,?)");
  if (!prule) return std::unexpected(prule.error());
  for (const auto& r : content.path_rules) {
    sqlite3_stmt* s = prule->get();
    sql::bind_text(s, 1, r.path);
    sql::bind_text(s, 2, to_string(r.match));
    sql::bind_text(s, 3, to_string(r.action));
    sql::bind_text(s, 4, r.label);
    sql::bind_text(s, 5, r.source.file);
    sqlite3_bind_int64(s, 6, r.source.line);
    if (sqlite3_step(s) != SQLITE_DONE) {
      if (sqlite3_errcode(db) == SQLITE_CONSTRAINT)
        return fail(ErrorCode::kInvalidInput, path + ": path rule " + r.path + " appears twice in the policy");
      return std::unexpected(sql::error(db, path, "cannot insert path rule"));
    }
    sqlite3_reset(s);
  }
  auto signer =
      sql::prepare(db, path, "INSERT INTO signers(key_id, pem, label, source_file, source_line) VALUES(?,?,?,?,?)");
  if (!signer) return std::unexpected(signer.error());
  for (const auto& r : content.signers) {
    sqlite3_stmt* s = signer->get();
    sql::bind_blob(s, 1, r.key_id);
    sql::bind_text(s, 2, r.pem);
    sql::bind_text(s, 3, r.label);
    sql::bind_text(s, 4, r.source.file);
    sqlite3_bind_int64(s, 5, r.source.line);
    if (sqlite3_step(s) != SQLITE_DONE) {
      if (sqlite3_errcode(db) == SQLITE_CONSTRAINT)
        return fail(ErrorCode::kInvalidInput, path + ": signer " + to_hex(r.key_id) + " appears twice in the policy");
      return std::unexpected(sql::error(db, path, "cannot insert signer"));
    }
    sqlite3_reset(s);
  }
  auto cache =
      sql::prepare(db, path, "INSERT OR REPLACE INTO file_cache(path, size, mtime_ns, ino, sha256) VALUES(?,?,?,?,?)");
  if (!cache) return std::unexpected(cache.error());
  for (const auto& r : content.file_cache) {
    sqlite3_stmt* s = cache->get();
    sql::bind_text(s, 1, r.path);
    sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(r.size));
    sqlite3_bind_int64(s, 3, r.mtime_ns);
    sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(r.ino));
    sql::bind_blob(s, 5, r.sha256);
    if (sqlite3_step(s) != SQLITE_DONE) return std::unexpected(sql::error(db, path, "cannot insert file cache"));
    sqlite3_reset(s);
  }
  return {};
}

Status insert_meta(sqlite3* db, const std::string& path, const MetaMap& meta) {
  auto stmt = sql::prepare(db, path, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!stmt) return std::unexpected(stmt.error());
  for (const auto& [key, value] : meta) {
    sql::bind_text(stmt->get(), 1, key);
    sql::bind_text(stmt->get(), 2, value);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) return std::unexpected(sql::error(db, path, "cannot write meta"));
    sqlite3_reset(stmt->get());
  }
  return {};
}

}  // namespace

Result<WrittenDatabase> write_database(const std::string& path, const PolicyContent& content,
                                       const WriteOptions& options) {
  auto file = AtomicFile::create(path, 0644);
  if (!file) return std::unexpected(file.error());
  file->close_fd();
  const std::string& tmp = file->temp_path();

  WrittenDatabase out;
  {
    auto db = sql::open(tmp, SQLITE_OPEN_READWRITE);
    if (!db) return std::unexpected(db.error());
    sqlite3* h = db->get();
    // The temp file is fsynced once as a whole by AtomicFile::commit, so no
    // journal is needed: a crash leaves only an orphan temp file.
    if (auto st = sql::exec(h, tmp, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size=4096;"); !st)
      return std::unexpected(st.error());
    if (auto st = sql::exec(h, tmp, kSchemaSql); !st) return std::unexpected(st.error());
    if (auto st = sql::exec(h, tmp, "BEGIN"); !st) return std::unexpected(st.error());
    if (auto st = insert_rules(h, path, content); !st) return std::unexpected(st.error());

    auto digest = content_digest(h, tmp);
    if (!digest) return std::unexpected(digest.error());
    auto cdigest = cache_digest(h, tmp);
    if (!cdigest) return std::unexpected(cdigest.error());
    out.content_digest = *digest;

    MetaMap& meta = out.meta;
    meta.emplace(meta_key::kSchemaVersion, std::to_string(kSchemaVersion));
    meta.emplace(meta_key::kGeneration, std::to_string(options.generation));
    meta.emplace(meta_key::kCreatedAt, options.created_at.empty() ? utc_now_rfc3339() : options.created_at);
    meta.emplace(meta_key::kToolVersion, TOLLGATE_VERSION);
    meta.emplace(meta_key::kPolicyName, content.policy_name);
    meta.emplace(meta_key::kContentDigest, to_hex(*digest));
    meta.emplace(meta_key::kCacheDigest, to_hex(*cdigest));
    if (options.signing_key) {
      meta.emplace(meta_key::kSignerKeyId, to_hex(options.signing_key->public_key.key_id));
      auto sig = sign(*options.signing_key, signed_message(meta));
      if (!sig) return std::unexpected(sig.error().with_prefix(path));
      meta.emplace(meta_key::kSignature, to_hex(std::span(reinterpret_cast<const uint8_t*>(sig->data()), sig->size())));
    } else {
      meta.emplace(meta_key::kSignerKeyId, "");
      meta.emplace(meta_key::kSignature, "");
    }
    if (auto st = insert_meta(h, tmp, meta); !st) return std::unexpected(st.error());
    if (auto st = sql::exec(h, tmp, "COMMIT"); !st) return std::unexpected(st.error());
    if (sqlite3_close(db->release()) != SQLITE_OK) return fail(ErrorCode::kIo, tmp + ": cannot close database");
  }
  if (auto st = file->commit(); !st) return std::unexpected(st.error());
  return out;
}

}  // namespace tollgate::hashdb
