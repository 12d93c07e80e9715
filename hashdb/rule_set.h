// RuleSet: the read interface the decision function needs. PolicyStore (on
// disk) and MemoryRuleSet (tests, dry runs) implement it.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "common/error.h"
#include "hashdb/rules.h"

namespace tollgate::hashdb {

class RuleSet {
 public:
  virtual ~RuleSet() = default;
  // Thread-safe in every implementation.
  virtual Result<std::optional<HashRule>> find_hash(const Sha256& digest) const = 0;
  virtual const std::vector<PathRule>& path_rules() const = 0;
  virtual const std::vector<Signer>& signers() const = 0;
  // Whether any hash rule denies. True when not known: callers use it only
  // to skip work that a hash-deny would make unsafe.
  virtual bool may_deny_by_hash() const { return true; }
};

// Rules held in memory. Immutable after construction, so thread-safe.
class MemoryRuleSet final : public RuleSet {
 public:
  explicit MemoryRuleSet(const PolicyContent& content) : paths_(content.path_rules), signers_(content.signers) {
    for (const auto& r : content.hash_rules) {
      hashes_.emplace(r.sha256, r);
      if (r.action == Action::kDeny) hash_deny_ = true;
    }
  }
  Result<std::optional<HashRule>> find_hash(const Sha256& digest) const override {
    auto it = hashes_.find(digest);
    if (it == hashes_.end()) return std::optional<HashRule>();
    return std::optional<HashRule>(it->second);
  }
  const std::vector<PathRule>& path_rules() const override { return paths_; }
  const std::vector<Signer>& signers() const override { return signers_; }
  bool may_deny_by_hash() const override { return hash_deny_; }

 private:
  std::map<Sha256, HashRule> hashes_;
  bool hash_deny_ = false;
  std::vector<PathRule> paths_;
  std::vector<Signer> signers_;
};

}  // namespace tollgate::hashdb
