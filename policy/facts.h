// Facts about an open file and the decision reached from them: the one
// routine that both the enforcer and `tollgate check` decide through, so
// what `check` says is what the daemon does.
//
//   RuleView view{rules, keys, has_path_allow(rules)};       // keys = signer_keys(rules)
//   FileDecision r = decide_file(fd, st, view, {.mode = Mode::kEnforce, .max_file_size = cap}, cache);
//   if (r.outcome == FileDecision::Outcome::kDecided) ... r.decision (r.decision.failure: not a policy decision)
//
//   auto checked = decide_path("/usr/bin/curl", view, {.max_file_size = cap});   // the CLI, no cache
//
// The steps, in this order (docs/architecture.md, "File facts"):
// 1. Size: a file over max_file_size is never hashed. Only path rules can
//    decide it: a path-deny denies it, a path-allow on a safe ownership
//    chain admits it; anything else is Failure::kTooLarge.
// 2. Content: the SHA-256 and the rule found for it come from the cache
//    hook when it knows the file (and, for the rule, the rules in force),
//    else the file is hashed through the fd (checked stable, cancellable),
//    its hash rule looked up (a lookup error is Failure::kLookup) and its
//    trusted signer checked; the hook is then told what was learnt.
// 3. Path: the name the kernel gives the fd (policy/fd_path.h): a path that
//    is unknown matches no path rule; a deleted file's last name is seen by
//    path-deny rules only.
// 4. Ownership chain (an lstat per parent directory): gathered only when a
//    path-allow rule matches, or for a script under script_trust
//    hash_or_safe_path, and only when no hash rule or signer decides first.
// 5. policy::decide with these facts, for the access kind in the options
//    (`coverage: full` decides libraries, scripts and loader opens too).
//
// With may_block false (the enforcer's reading thread) nothing that can
// take long is done: no hashing, no database lookup, no ownership chain.
// A file that would need one comes back kDeferred, to be decided again with
// may_block true on a worker.
//
// Thread-safety: decide_file is reentrant; the cache hook is called from
// the calling thread only.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "hashdb/keys.h"
#include "policy/decision.h"
#include "policy/fd_path.h"

namespace tollgate::policy {

// Owner/mode of `path` (as given by `st`, the file itself) and of each parent
// directory up to "/". Parents are lstat'ed by name. Errors name the element.
Result<std::vector<PathElement>> ownership_chain(const std::string& path, const struct stat& st);

// The public keys of a rule set's signers; a signer whose PEM does not parse
// is skipped and reported in `errors` (when given).
std::vector<hashdb::PublicKey> signer_keys(const hashdb::RuleSet& rules, std::vector<std::string>* errors = nullptr);

// Whether a path rule with `action` matches the file's path; never for an
// unknown path, and no path-allow for a file without a name (fd_path.h).
bool path_rule_matches(const hashdb::RuleSet& rules, const FdPath& path, hashdb::Action action);

// Whether any path rule allows (without one, path-allow is never looked for).
bool has_path_allow(const hashdb::RuleSet& rules);
// Whether any path rule denies.
bool has_path_deny(const hashdb::RuleSet& rules);

// The rules a file is decided against, with what is derived from them once
// per load. The referenced objects must outlive the call.
struct RuleView {
  const hashdb::RuleSet& rules;
  const std::vector<hashdb::PublicKey>& signer_keys;  // signer_keys(rules)
  bool has_path_allow = true;                         // has_path_allow(rules)
  bool has_path_deny = true;                          // has_path_deny(rules)
};

// What hashing a file established, as a cache remembers it. The rule part
// (hash_rule, signed_by) is valid only for the rules it was found under.
struct KnownContent {
  hashdb::Sha256 sha256{};
  int64_t hashed_at_ns = 0;    // the cache's clock when hashing began (racy clean)
  bool rules_current = false;  // hash_rule and signed_by belong to the rules in force
  std::optional<hashdb::HashRule> hash_rule;
  std::optional<hashdb::Sha256> signed_by;
};

// The cache hook: the enforcer implements it with its DecisionCache (keyed
// by inode, validated by size and ctime, epochs for the rules); `tollgate
// check` passes none.
class ContentCache {
 public:
  virtual ~ContentCache() = default;
  // What is known about the content of the file whose fstat is `st`.
  virtual std::optional<KnownContent> lookup(const struct stat& st) = 0;
  // The clock hashed_at_ns is read from, just before hashing begins.
  virtual int64_t now_ns() = 0;
  // `st`: the fstat taken before the content was read (its validators).
  virtual void store(const struct stat& st, const KnownContent& known) = 0;
};

struct DecideOptions {
  Mode mode = Mode::kEnforce;
  uint64_t max_file_size = std::numeric_limits<uint64_t>::max();  // larger: not hashed (step 1)
  bool may_block = true;                                          // false: hash, lookup and chain are deferred
  // Gather the ownership chain whatever the rules (offline callers that
  // show the facts); the decision is the same either way.
  bool always_chain = false;
  const std::atomic<bool>* cancel = nullptr;                // stops hashing (hashdb::digest_fd)
  AccessKind access = AccessKind::kExec;                    // the access being decided (policy/access.h)
  ScriptTrust script_trust = ScriptTrust::kHashOrSafePath;  // for access kScript
  // Whether the file open on the fd was reached through a mount of the
  // caller's mount namespace, so its path names it there. A filesystem mark
  // also sees files reached through another namespace's mounts, whose path
  // names something else (or nothing) here: when this says no, no ownership
  // chain is gathered, so no path-allow vouches for the file. Null: yes.
  const std::function<bool(int fd)>* path_means_here = nullptr;
  // The enforcer's hot path: when the content and its rule are known, read
  // the path (readlink) only if a path rule could change the decision:
  // never after a hash-deny; always while any path-deny rule exists (it
  // outranks hash-allow); for path-allow, and for a script under
  // kHashOrSafePath (its safe-path rule needs the chain), only when no hash
  // rule approves. FileDecision::path is then left empty and the caller reads it when it
  // logs. The decision is the same either way.
  bool path_on_demand = false;
};

struct FileDecision {
  enum class Outcome {
    kDecided,    // `decision` holds the verdict
    kDeferred,   // may_block was false and the file needs hashing, a lookup or its chain
    kCancelled,  // `cancel` was set while hashing
  };
  enum class CacheUse { kNone, kHit, kMiss };

  Outcome outcome = Outcome::kDecided;
  Decision decision;  // decision.failure: kTooLarge or kLookup, answered by on_error
  FileFacts facts;
  FdPath path;        // path.display names the file in logs
  struct stat st {};  // the validators the decision belongs to
  CacheUse cache = CacheUse::kNone;
  bool needs_hash = false;  // kDeferred: nothing is known of the content yet
  // An allow by the content's own rule, known for the rules in force: a
  // hash-allow or a trusted signer (precedence 3-4). Only a path-deny rule
  // matching the name it was opened by could have changed it (none did:
  // path-allow and safe-path rank below). The same content under the same
  // rules, mode and access kind, opened by a name no path-deny rule
  // matches, gets the same decision.
  bool content_allow = false;
  uint64_t hashed_bytes = 0;  // read by this call
  std::string hash_error;     // why facts.sha256 is absent when hashing failed
};

// Decides the file open on `fd` whose fstat is `st`. `cache` may be null.
FileDecision decide_file(int fd, const struct stat& st, const RuleView& rules, const DecideOptions& options,
                         ContentCache* cache = nullptr);

// decide_file for the file at `path`, resolved through realpath and opened
// with open_regular (common/io.h: a FIFO, device or socket is refused, never
// opened or waited on). Errors: the file cannot be resolved, opened or
// examined (they name it).
Result<FileDecision> decide_path(const std::string& path, const RuleView& rules, const DecideOptions& options = {});

// Every fact of the file at `path` (the chain whatever the rules), its
// signer among `trusted`: decide_path against an empty rule set.
Result<FileDecision> collect_path_facts(const std::string& path, const std::vector<hashdb::PublicKey>& trusted);

}  // namespace tollgate::policy
