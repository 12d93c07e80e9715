// Read-only access to a policy database, for the enforcer and the CLI.
//
//   hashdb::OpenOptions opts{.public_key = &pub};
//   auto db = hashdb::PolicyStore::open("/var/lib/tollgate/policy.db", opts);
//   if (!db) { log(db.error().message()); return; }   // one line, names the file
//   if (auto rule = (*db)->find_hash(digest)) ...
//
// open() validates before it returns: the file is a SQLite database of schema
// v1, its rows match the stored content digest, and, when a public key is
// given, the meta table carries a valid signature by that key. A corrupt,
// truncated, empty, foreign or tampered file is an error naming the file.
//
// Thread-safety: a PolicyStore is immutable after open() except for its
// SQLite connection, which find_hash() guards with a mutex; every method may
// be called from any thread. Path rules and signers are held in memory (they
// are few); hash rules stay on disk and are looked up by primary key, so a
// policy with millions of hashes costs a few MiB of page cache, not RAM.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "hashdb/keys.h"
#include "hashdb/rule_set.h"
#include "hashdb/rules.h"
#include "hashdb/sqlite.h"

namespace tollgate::hashdb {

struct OpenOptions {
  // When set, the database must be signed by this key.
  const PublicKey* public_key = nullptr;
  // Verify the content digest (reads every row once). Leave on unless the
  // caller only wants meta values of an untrusted file.
  bool verify_content = true;
  // SQLite page cache for lookups, in KiB.
  int cache_kib = 4096;
};

class PolicyStore final : public RuleSet {
 public:
  static Result<std::shared_ptr<const PolicyStore>> open(const std::string& path, const OpenOptions& options = {});

  const std::string& path() const { return path_; }
  const MetaMap& meta() const { return meta_; }
  std::string meta_value(std::string_view key) const;
  uint64_t generation() const { return generation_; }
  bool is_signed() const;
  const RuleCounts& counts() const { return counts_; }

  // Hash rule for `digest`, if any. An I/O error during lookup (the file
  // vanished under a live connection) is returned as an error.
  Result<std::optional<HashRule>> find_hash(const Sha256& digest) const override;

  const std::vector<PathRule>& path_rules() const override { return path_rules_; }
  const std::vector<Signer>& signers() const override { return signers_; }
  bool may_deny_by_hash() const override { return counts_.hash_deny > 0; }

  // Every hash rule / cache entry in primary-key order, for dump and diff.
  Status for_each_hash_rule(const std::function<void(const HashRule&)>& fn) const;
  Result<std::vector<FileCacheEntry>> file_cache() const;

 private:
  PolicyStore() = default;
  // open()'s steps, in order; each error names the file.
  Status load(const OpenOptions& options);
  Status check_schema_version();
  Status load_meta();
  Status verify_digests() const;
  Status load_path_rules();
  Status load_signers();
  Status count_hash_rules();

  std::string path_;
  sql::Db db_;
  mutable std::mutex mu_;
  sql::Stmt find_stmt_;  // guarded by mu_
  MetaMap meta_;
  uint64_t generation_ = 0;
  RuleCounts counts_;
  std::vector<PathRule> path_rules_;
  std::vector<Signer> signers_;
};

// Verifies the signature over `meta` with `key` (also checks that the stored
// signer key id is the key's id). Used by open() and by `tollgate db verify`.
Status verify_signature(const MetaMap& meta, const PublicKey& key, std::string_view path);

}  // namespace tollgate::hashdb
