// Anti-lockout: the executables a policy would deny that must never be
// denied (sshd, systemd, the login shells, the daemon itself, PID 1's
// executable). tollgated refuses to load such a policy in enforce mode, and
// refuses to switch to enforce mode under one; so does `tollgate mode`.
//
//   auto hits = find_lockouts(*store, signer_keys, lockout_candidates(config.must_allow));
//   if (!hits.empty()) refuse(describe_lockouts(hits));
//
// Thread-safe (reads files, no shared state).
#pragma once

#include <string>
#include <vector>

#include "hashdb/keys.h"
#include "hashdb/rule_set.h"

namespace tollgate::policy {

struct LockoutHit {
  std::string path;  // the executable, resolved
  std::string rule;  // the rule that denies it ("default-deny", "path-deny:/usr/", ...)
};

// `must_allow` plus this process's executable and PID 1's executable (when
// readable), resolved, without duplicates. Missing files are left out.
std::vector<std::string> lockout_candidates(const std::vector<std::string>& must_allow, bool include_self = true);

// The candidates that decide_policy() (enforce semantics) denies under
// `rules`. `trusted` are the rule set's signer keys (policy::signer_keys).
// A candidate that cannot be read is reported with rule "error:<message>".
std::vector<LockoutHit> find_lockouts(const hashdb::RuleSet& rules, const std::vector<hashdb::PublicKey>& trusted,
                                      const std::vector<std::string>& candidates);

// "/usr/sbin/sshd (default-deny), /bin/bash (path-deny:/bin/)".
std::string describe_lockouts(const std::vector<LockoutHit>& hits);

}  // namespace tollgate::policy
