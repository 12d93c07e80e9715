// The decision: plain facts about a file in, a verdict and the rule that
// made it out. Pure: no I/O besides the RuleSet lookups, no fanotify, no
// globals; unit-tested without root.
//
//   FileFacts facts{.path = "/usr/bin/ls", .sha256 = digest, .chain = chain};
//   Decision d = decide(facts, rules, Mode::kEnforce);
//   // d.verdict == Verdict::kAllow, d.rule == "hash-allow:1e39...", d.source = {"base.yaml", 12}
//
// Precedence, first match wins (docs/architecture.md, DESIGN.md):
//   1. hash deny   2. path deny   3. hash allow   4. trusted signer
//   5. path allow, only when the file and every parent directory are
//      root-owned and not group/world-writable
//   6. default: deny in enforce mode; allow with would_deny in audit mode
// A script (facts.access == AccessKind::kScript, `coverage: full`) under
// ScriptTrust::kHashOrSafePath is also allowed, after 5, when the file and
// every parent directory are root-owned and not group/world-writable (rule
// "safe-path"): an interpreter's own library needs no list. Every Decision
// carries the access kind it was reached for (policy/access.h).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hashdb/rule_set.h"
#include "policy/access.h"

namespace tollgate::policy {

enum class Mode { kAudit, kEnforce };
enum class Verdict { kAllow, kDeny };

std::string_view to_string(Mode mode);
std::string_view to_string(Verdict verdict);
std::optional<Mode> parse_mode(std::string_view text);

// Owner and mode of one element of the path: the file itself, then each
// parent directory up to and including "/".
struct PathElement {
  std::string path;
  uid_t uid = 0;
  mode_t mode = 0;
};

struct FileFacts {
  std::string path;                      // resolved, absolute; empty = unknown (no path rule matches)
  std::optional<hashdb::Sha256> sha256;  // absent when the file could not be hashed
  std::vector<PathElement> chain;        // file first, then parents; empty = unknown
  // Key id of a trusted signer whose valid signature over sha256 the file
  // carries (the caller verified it against RuleSet::signers()).
  std::optional<hashdb::Sha256> signed_by;
  AccessKind access = AccessKind::kExec;  // what the open was (policy/access.h)
};

// Why a file was answered without a policy decision. Each has a stable rule
// id in the event log (docs/events.md); the enforcer answers these with
// `on_error`, never with the audit-mode conversion.
enum class Failure {
  kTimeout,   // "error:timeout": its deadline passed
  kTooLarge,  // "error:too-large": over max_file_size, not hashed, no path rule decided it
  kOverload,  // "error:overload": too many events waiting; not examined
  kStat,      // "error:stat": fstat of the event fd failed
  kLookup,    // "error:lookup": the database lookup failed
  kInternal,  // "error:internal": an exception in the decision
};
std::string_view rule_id(Failure failure);

struct Decision {
  Verdict verdict = Verdict::kDeny;  // the answer for the kernel
  bool would_deny = false;           // policy says deny; audit mode allowed it
  std::string rule;                  // stable rule id, e.g. "hash-deny:0123abcd4567"
  std::string reason;                // one human sentence
  hashdb::Source source;             // manifest file and line of the rule, if any
  std::string label;
  AccessKind access = AccessKind::kExec;  // the kind of access decided
  // Set when no policy decision was reached (verdict deny, rule = rule_id(*failure)).
  std::optional<Failure> failure;
  // Policy verdict ignoring the mode (deny even when audit answered allow).
  bool policy_denies() const { return verdict == Verdict::kDeny || would_deny; }
};

// The allow for a library opened by an exempt reader (`library_readers`):
// rule "library-reader:PATTERN", access kLibrary; no file facts needed.
Decision library_reader_allowed(const std::string& pattern);

// Whether `d` allows the file for every access kind (exec, loader, library,
// script), not only the one it was reached for: a policy allow by rules 1-5
// (they never look at the kind). False for a deny, a would-deny, a failure,
// the script-only safe-path rule and a library-reader allow. An inode
// ignore mark stops exec and plain-open events alike, so only such a
// verdict may place one (enforcer/ignore_marks.h).
bool allows_every_access(const Decision& d);

// The Decision for a failure: deny, rule rule_id(failure), `reason`.
Decision failed(Failure failure, std::string reason);

// Whether `path` matches a rule (exact equality, or a prefix that ends in
// "/" and covers the path). An empty path is unknown and matches nothing.
bool path_matches(const hashdb::PathRule& rule, std::string_view path);

// True when every element of the chain is root-owned and neither group- nor
// world-writable: no unprivileged user could have placed or changed the file.
// An empty chain is not safe.
bool chain_is_safe(const std::vector<PathElement>& chain, std::string* why_not = nullptr);

// The policy's own verdict, as in enforce mode (used by `tollgate check`).
// `script_trust` applies to facts.access == kScript only.
Decision decide_policy(const FileFacts& facts, const hashdb::RuleSet& rules,
                       ScriptTrust script_trust = ScriptTrust::kHashOrSafePath);

// The decision. In audit mode every policy deny becomes allow with
// would_deny set. A lookup error in the RuleSet is a Decision with failure
// kLookup (rule "error:lookup", verdict deny, in either mode); the caller
// applies its on_error.
Decision decide(const FileFacts& facts, const hashdb::RuleSet& rules, Mode mode,
                ScriptTrust script_trust = ScriptTrust::kHashOrSafePath);

}  // namespace tollgate::policy
