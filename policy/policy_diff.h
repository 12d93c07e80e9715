// Rules added and removed between two policy databases, for review before
// rollout (`tollgate diff OLD.db NEW.db`).
//
//   auto d = policy::diff_policies("old.db", "new.db");
//   if (d && !d->empty()) std::cout << d->to_text();
//
// A rule's identity is its key: (sha256, action) for hash rules, (path,
// match, action) for path rules, key id for signers. A rule whose key is in
// both databases but whose label, origin or source changed is listed as
// changed. Both databases are verified (content digest) on open; errors name
// the file. Linear in the number of rules (both sides are read in key
// order). Thread-safe (no shared state).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "hashdb/rules.h"

namespace tollgate::policy {

struct PolicyDiff {
  std::string old_path, new_path;
  uint64_t old_generation = 0, new_generation = 0;
  std::vector<hashdb::HashRule> hash_added, hash_removed, hash_changed;
  std::vector<hashdb::PathRule> path_added, path_removed, path_changed;
  std::vector<hashdb::Signer> signer_added, signer_removed, signer_changed;

  bool empty() const;
  nlohmann::json to_json() const;
  std::string to_text() const;
};

Result<PolicyDiff> diff_policies(const std::string& old_path, const std::string& new_path);

// Every rule of one database, read into memory: a snapshot that outlives the
// file, so a diff can span an install that replaces it (`tollgate refresh`
// lists what it newly trusts). Verified like diff_policies' inputs.
struct PolicyRules {
  std::string path;
  uint64_t generation = 0;
  std::vector<hashdb::HashRule> hash_rules;
  std::vector<hashdb::PathRule> path_rules;
  std::vector<hashdb::Signer> signers;
};
Result<PolicyRules> read_policy_rules(const std::string& path);
PolicyDiff diff_rules(PolicyRules old_rules, PolicyRules new_rules);

}  // namespace tollgate::policy
