#include "hashdb/store.h"

#include <sys/stat.h>

#include <charconv>

#include "hashdb/schema.h"

namespace tollgate::hashdb {
namespace {

HashRule read_hash_rule(sqlite3_stmt* s) {
  HashRule r;
  auto blob = sql::column_blob(s, 0);
  if (blob.size() == r.sha256.size()) std::copy(blob.begin(), blob.end(), r.sha256.begin());
  r.action = parse_action(sql::column_text(s, 1)).value_or(Action::kDeny);
  r.label = sql::column_text(s, 2);
  r.origin_path = sql::column_text(s, 3);
  r.source.file = sql::column_text(s, 4);
  r.source.line = sqlite3_column_int(s, 5);
  r.approved_by = sql::column_text(s, 6);
  r.approved_at = sql::column_text(s, 7);
  return r;
}

constexpr const char* kHashColumns =
    "sha256, action, label, origin_path, source_file, source_line, approved_by, approved_at";

Error corrupt(std::string_view path, std::string_view what) {
  return Error(ErrorCode::kCorrupt, std::string(path) + ": " + std::string(what));
}

}  // namespace

std::string_view to_string(Action action) { return action == Action::kAllow ? "allow" : "deny"; }
std::string_view to_string(PathMatch match) { return match == PathMatch::kExact ? "exact" : "prefix"; }
std::optional<Action> parse_action(std::string_view text) {
  if (text == "allow") return Action::kAllow;
  if (text == "deny") return Action::kDeny;
  return std::nullopt;
}
std::optional<PathMatch> parse_path_match(std::string_view text) {
  if (text == "exact") return PathMatch::kExact;
  if (text == "prefix") return PathMatch::kPrefix;
  return std::nullopt;
}

Status verify_signature(const MetaMap& meta, const PublicKey& key, std::string_view path) {
  auto sig_it = meta.find(meta_key::kSignature);
  if (sig_it == meta.end() || sig_it->second.empty())
    return fail(ErrorCode::kInvalidInput, std::string(path) + ": database is not signed, but a signature is required");
  auto kid = meta.find(meta_key::kSignerKeyId);
  if (kid == meta.end() || kid->second != to_hex(key.key_id))
    return fail(ErrorCode::kInvalidInput, std::string(path) + ": signed by key " +
                                              (kid == meta.end() ? "?" : kid->second.substr(0, 16)) +
                                              ", not by the expected key " + to_hex(key.key_id).substr(0, 16));
  auto raw = bytes_from_hex(sig_it->second);
  if (!raw || raw->size() != 64) return std::unexpected(corrupt(path, "malformed signature"));
  if (auto st = verify(key, signed_message(meta), *raw); !st)
    return fail(ErrorCode::kInvalidInput,
                std::string(path) + ": signature does not verify (the database was changed or signed by another key)");
  return {};
}

Result<std::shared_ptr<const PolicyStore>> PolicyStore::open(const std::string& path, const OpenOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_errno(errno, path, "cannot open policy database");
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidInput, path + ": not a regular file");
  if (st.st_size == 0) return std::unexpected(corrupt(path, "empty file, not a policy database"));
  std::shared_ptr<PolicyStore> store(new PolicyStore());
  store->path_ = path;
  if (auto s = store->load(options); !s) return std::unexpected(s.error());
  return std::shared_ptr<const PolicyStore>(std::move(store));
}

Status PolicyStore::load(const OpenOptions& options) {
  auto db = sql::open("file:" + path_ + "?mode=ro", SQLITE_OPEN_READONLY);
  if (!db) return std::unexpected(db.error());
  db_ = std::move(*db);
  if (auto st = check_schema_version(); !st) return st;
  std::string pragma = "PRAGMA cache_size=-" + std::to_string(options.cache_kib);
  (void)sql::exec(db_.get(), path_, pragma.c_str());
  if (auto st = load_meta(); !st) return st;
  if (options.verify_content) {
    if (auto st = verify_digests(); !st) return st;
  }
  if (options.public_key) {
    if (auto st = verify_signature(meta_, *options.public_key, path_); !st) return st;
  }
  if (auto st = load_path_rules(); !st) return st;
  if (auto st = load_signers(); !st) return st;
  if (auto st = count_hash_rules(); !st) return st;
  std::string find_sql = std::string("SELECT ") + kHashColumns + " FROM hash_rules WHERE sha256 = ?";
  auto find = sql::prepare(db_.get(), path_, find_sql.c_str());
  if (!find) return std::unexpected(corrupt(path_, find.error().message()));
  find_stmt_ = std::move(*find);
  return {};
}

Status PolicyStore::check_schema_version() {
  sqlite3* h = db_.get();
  // The first read is where SQLite notices a file that is not a database.
  auto version = sql::prepare(h, path_, "PRAGMA user_version");
  if (!version)
    return std::unexpected(corrupt(path_, "not a Tollgate policy database (" + version.error().message() + ")"));
  int user_version = -1;
  if (sqlite3_step(version->get()) == SQLITE_ROW) user_version = sqlite3_column_int(version->get(), 0);
  else return std::unexpected(corrupt(path_, std::string("not a Tollgate policy database: ") + sqlite3_errmsg(h)));
  version->reset();
  if (user_version != kSchemaVersion)
    return std::unexpected(corrupt(path_, "unsupported schema version " + std::to_string(user_version) +
                                              " (this tollgate reads version " + std::to_string(kSchemaVersion) + ")"));
  return {};
}

Status PolicyStore::load_meta() {
  auto meta = read_meta(db_.get(), path_);
  if (!meta) return std::unexpected(corrupt(path_, meta.error().message()));
  meta_ = std::move(*meta);
  auto gen = meta_value(meta_key::kGeneration);
  auto [ptr, ec] = std::from_chars(gen.data(), gen.data() + gen.size(), generation_);
  if (gen.empty() || ec != std::errc() || ptr != gen.data() + gen.size())
    return std::unexpected(corrupt(path_, "meta value 'generation' is missing or malformed"));
  if (meta_value(meta_key::kSchemaVersion) != std::to_string(kSchemaVersion))
    return std::unexpected(corrupt(path_, "meta schema_version does not match the file's schema"));
  return {};
}

Status PolicyStore::verify_digests() const {
  auto digest = content_digest(db_.get(), path_);
  if (!digest) return std::unexpected(corrupt(path_, digest.error().message()));
  if (to_hex(*digest) != meta_value(meta_key::kContentDigest))
    return fail(ErrorCode::kCorrupt, path_ + ": rules do not match the content digest (the database was modified)");
  auto cdigest = cache_digest(db_.get(), path_);
  if (!cdigest) return std::unexpected(corrupt(path_, cdigest.error().message()));
  if (to_hex(*cdigest) != meta_value(meta_key::kCacheDigest))
    return fail(ErrorCode::kCorrupt, path_ + ": file cache does not match its digest (the database was modified)");
  return {};
}

Status PolicyStore::load_path_rules() {
  auto paths = sql::prepare(db_.get(), path_,
                            "SELECT path, match, action, label, source_file, source_line FROM path_rules "
                            "ORDER BY path, match, action");
  if (!paths) return std::unexpected(corrupt(path_, paths.error().message()));
  while (sqlite3_step(paths->get()) == SQLITE_ROW) {
    sqlite3_stmt* s = paths->get();
    PathRule r;
    r.path = sql::column_text(s, 0);
    auto match = parse_path_match(sql::column_text(s, 1));
    auto action = parse_action(sql::column_text(s, 2));
    if (!match || !action) return std::unexpected(corrupt(path_, "malformed path rule for " + r.path));
    r.match = *match;
    r.action = *action;
    r.label = sql::column_text(s, 3);
    r.source.file = sql::column_text(s, 4);
    r.source.line = sqlite3_column_int(s, 5);
    (r.action == Action::kAllow ? counts_.path_allow : counts_.path_deny)++;
    path_rules_.push_back(std::move(r));
  }
  return {};
}

Status PolicyStore::load_signers() {
  auto signers = sql::prepare(db_.get(), path_,
                              "SELECT key_id, pem, label, source_file, source_line FROM signers ORDER BY key_id");
  if (!signers) return std::unexpected(corrupt(path_, signers.error().message()));
  while (sqlite3_step(signers->get()) == SQLITE_ROW) {
    sqlite3_stmt* s = signers->get();
    Signer r;
    auto blob = sql::column_blob(s, 0);
    if (blob.size() != r.key_id.size()) return std::unexpected(corrupt(path_, "malformed signer key id"));
    std::copy(blob.begin(), blob.end(), r.key_id.begin());
    r.pem = sql::column_text(s, 1);
    r.label = sql::column_text(s, 2);
    r.source.file = sql::column_text(s, 3);
    r.source.line = sqlite3_column_int(s, 4);
    signers_.push_back(std::move(r));
  }
  counts_.signers = signers_.size();
  return {};
}

Status PolicyStore::count_hash_rules() {
  auto count = sql::prepare(db_.get(), path_, "SELECT action, count(*) FROM hash_rules GROUP BY action");
  if (!count) return std::unexpected(corrupt(path_, count.error().message()));
  while (sqlite3_step(count->get()) == SQLITE_ROW) {
    auto action = parse_action(sql::column_text(count->get(), 0));
    uint64_t n = static_cast<uint64_t>(sqlite3_column_int64(count->get(), 1));
    (action == Action::kAllow ? counts_.hash_allow : counts_.hash_deny) += n;
  }
  return {};
}

std::string PolicyStore::meta_value(std::string_view key) const {
  auto it = meta_.find(key);
  return it == meta_.end() ? std::string() : it->second;
}

bool PolicyStore::is_signed() const { return !meta_value(meta_key::kSignature).empty(); }

Result<std::optional<HashRule>> PolicyStore::find_hash(const Sha256& digest) const {
  std::lock_guard lock(mu_);
  sqlite3_stmt* s = find_stmt_.get();
  sqlite3_reset(s);
  sql::bind_blob(s, 1, digest);
  int rc = sqlite3_step(s);
  std::optional<HashRule> out;
  if (rc == SQLITE_ROW) out = read_hash_rule(s);
  else if (rc != SQLITE_DONE) {
    auto err = sql::error(db_.get(), path_, "hash lookup failed");
    sqlite3_reset(s);
    return std::unexpected(err);
  }
  sqlite3_reset(s);
  return out;
}

Status PolicyStore::for_each_hash_rule(const std::function<void(const HashRule&)>& fn) const {
  std::lock_guard lock(mu_);
  std::string q = std::string("SELECT ") + kHashColumns + " FROM hash_rules ORDER BY sha256";
  auto stmt = sql::prepare(db_.get(), path_, q.c_str());
  if (!stmt) return std::unexpected(stmt.error());
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) fn(read_hash_rule(stmt->get()));
  if (rc != SQLITE_DONE) return std::unexpected(sql::error(db_.get(), path_, "cannot read hash rules"));
  return {};
}

Result<std::vector<FileCacheEntry>> PolicyStore::file_cache() const {
  std::lock_guard lock(mu_);
  auto stmt = sql::prepare(db_.get(), path_, "SELECT path, size, mtime_ns, ino, sha256 FROM file_cache ORDER BY path");
  if (!stmt) return std::unexpected(stmt.error());
  std::vector<FileCacheEntry> out;
  int rc;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    sqlite3_stmt* s = stmt->get();
    FileCacheEntry e;
    e.path = sql::column_text(s, 0);
    e.size = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
    e.mtime_ns = sqlite3_column_int64(s, 2);
    e.ino = static_cast<uint64_t>(sqlite3_column_int64(s, 3));
    auto blob = sql::column_blob(s, 4);
    if (blob.size() != e.sha256.size()) continue;
    std::copy(blob.begin(), blob.end(), e.sha256.begin());
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return std::unexpected(sql::error(db_.get(), path_, "cannot read file cache"));
  return out;
}

}  // namespace tollgate::hashdb
