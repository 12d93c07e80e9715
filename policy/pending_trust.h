// Pending trust (docs/upgrades.md): the SHA-256 of every file in the .deb
// packages apt is about to hand to dpkg, and of their maintainer scripts,
// trusted as hash-allow rules before dpkg unpacks them, until the recompile
// that brings the same hashes in through the dpkg trust source lands (or
// `pending_trust_ttl` passes). The daemon holds the set in memory and in
// state_dir (state_store.h, pending-trust.json); `tollgate trust-debs`
// builds it.
//
//   PendingTrust set;
//   if (auto added = merge_pending(set.files, std::move(files), "request"); !added) ... refused, set unchanged
//   auto rules = std::make_shared<PendingRuleSet>(store, set.files);
//   // rules->find_hash(d): the policy's own hash rule when it has one (a hash
//   // deny wins), else the pending file's allow rule, named
//   // "pending-trust:PKG=VERSION:PATH".
//
// Never weaker than the policy: pending trust only adds hash-allow rules,
// which the decision ranks after hash deny and path deny (decision.h).
//
// Thread-safety: plain values and pure functions; PendingRuleSet is
// immutable after construction.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "hashdb/rule_set.h"
#include "policy/lockout.h"

namespace tollgate::policy {

// One file of a package, as it will be installed.
struct PendingFile {
  hashdb::Sha256 sha256{};
  std::string package;  // "bash", or "libc6:amd64"
  std::string version;  // "5.2.15-2+b2"
  // Absolute, as installed: "/usr/bin/bash"; or kControlPrefix and a
  // maintainer script's name ("control:postinst"), which dpkg runs from
  // its admin directory (tmp.ci/, info/) wherever that is.
  std::string path;
  bool operator==(const PendingFile&) const = default;
};
inline constexpr std::string_view kControlPrefix = "control:";

// The most files one set may hold (a whole dist-upgrade fits; a request
// cannot grow the daemon without bound).
inline constexpr size_t kMaxPendingFiles = 1u << 19;

struct PendingTrust {
  std::vector<PendingFile> files;
  int64_t expires_at = 0;  // seconds since the epoch; the set ends then
  bool empty() const { return files.empty(); }
};

// "pending-trust:PKG=VERSION:PATH": the rule id of its decisions.
std::string pending_rule_id(const PendingFile& file);

// Checks one file: 64-hex digest aside, a Debian package name (with an
// optional ":ARCH"), a version without blanks or controls, an absolute path
// without NUL, newline or "..", or "control:" and one of
// kMaintainerScripts. Errors are one line naming `where`.
Status validate_pending_file(const PendingFile& file, std::string_view where);

// Adds `add` to `into` (a file with the same digest, package and path is
// kept once),
// after validating every file: all or nothing. Refused when the total would
// pass kMaxPendingFiles. Returns how many were new.
Result<size_t> merge_pending(std::vector<PendingFile>& into, std::vector<PendingFile> add, std::string_view where);

// Removes the files whose digest `rules` already decides (a policy that
// covers them landed). Returns how many were removed.
Result<size_t> drop_covered(std::vector<PendingFile>& files, const hashdb::RuleSet& rules);

// What an expiring set must keep so that its end never locks the admin out
// (lockout.h): the pending files without which `rules` would deny one of
// `candidates` that `rules` plus `files` allow by a pending rule. Only
// those: a candidate that `rules` denies anyway, or that the set does not
// save, keeps nothing. `saved`: those candidates, with the rule that would
// deny each without the set.
struct LockoutKeep {
  std::vector<PendingFile> files;
  std::vector<LockoutHit> saved;
};
LockoutKeep keep_against_lockout(const hashdb::RuleSet& rules, const std::vector<PendingFile>& files,
                                 const std::vector<std::string>& candidates);

// "PKG=VERSION" of each package in the set, sorted, once each.
std::vector<std::string> pending_packages(const std::vector<PendingFile>& files);

// JSON: grouped by package and version to keep the wire and the file small:
//   [{"package":"bash","version":"5.2-1","files":[["/usr/bin/bash","<64 hex>"], ...]}, ...]
nlohmann::json pending_files_to_json(const std::vector<PendingFile>& files);
// The inverse, validated (validate_pending_file); errors name `where`.
Result<std::vector<PendingFile>> pending_files_from_json(const nlohmann::json& j, std::string_view where);

// The policy in force plus the pending set.
class PendingRuleSet final : public hashdb::RuleSet {
 public:
  PendingRuleSet(std::shared_ptr<const hashdb::RuleSet> base, const std::vector<PendingFile>& files);
  Result<std::optional<hashdb::HashRule>> find_hash(const hashdb::Sha256& digest) const override;
  const std::vector<hashdb::PathRule>& path_rules() const override { return base_->path_rules(); }
  const std::vector<hashdb::Signer>& signers() const override { return base_->signers(); }
  // The pending set only allows: it denies by hash exactly when the base does.
  bool may_deny_by_hash() const override { return base_->may_deny_by_hash(); }

 private:
  std::shared_ptr<const hashdb::RuleSet> base_;
  std::map<hashdb::Sha256, hashdb::HashRule> pending_;
};

}  // namespace tollgate::policy
