#include "policy/facts.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <limits.h>
#include <stdlib.h>

#include "common/io.h"
#include "hashdb/sha256.h"
#include "policy/file_signature.h"

namespace tollgate::policy {
namespace {

uint64_t size_of(const struct stat& st) { return st.st_size < 0 ? 0 : static_cast<uint64_t>(st.st_size); }

// The RuleSet in force, with the hash lookup for one digest already
// answered (from the cache, or by the lookup just made).
class PrefetchedRules final : public hashdb::RuleSet {
 public:
  PrefetchedRules(const hashdb::RuleSet& base, const hashdb::Sha256& digest, std::optional<hashdb::HashRule> rule)
      : base_(base), digest_(digest), rule_(std::move(rule)) {}
  Result<std::optional<hashdb::HashRule>> find_hash(const hashdb::Sha256& digest) const override {
    if (digest == digest_) return rule_;
    return base_.find_hash(digest);
  }
  const std::vector<hashdb::PathRule>& path_rules() const override { return base_.path_rules(); }
  const std::vector<hashdb::Signer>& signers() const override { return base_.signers(); }
  bool may_deny_by_hash() const override { return base_.may_deny_by_hash(); }

 private:
  const hashdb::RuleSet& base_;
  hashdb::Sha256 digest_;
  std::optional<hashdb::HashRule> rule_;
};

// One file, step by step (facts.h). Holds references only; lives for one call.
class FileDecider {
 public:
  FileDecider(int fd, const struct stat& st, const RuleView& rules, const DecideOptions& options, ContentCache* cache)
      : fd_(fd), rules_(rules), options_(options), cache_(cache) {
    out_.st = st;
    out_.facts.access = options.access;
  }

  FileDecision run() && {
    if (size_of(out_.st) > options_.max_file_size) return std::move(*this).too_large();
    std::optional<KnownContent> known;
    if (cache_) {
      known = cache_->lookup(out_.st);
      out_.cache = known ? FileDecision::CacheUse::kHit : FileDecision::CacheUse::kMiss;
    }
    if (!options_.may_block && !(known && known->rules_current)) return defer(!known);
    if (!(options_.path_on_demand && known && known->rules_current) || path_can_decide(*known)) resolve_path();
    const bool chain_may_decide = path_allow_matches() || safe_script_trust();
    if (chain_may_decide && !options_.may_block && !decided_by_content(known)) return defer(false);
    if (!known && !hash(known)) return std::move(out_);  // cancelled
    if (known) {
      out_.facts.sha256 = known->sha256;
      if (!known->rules_current && !find_rule(*known)) return std::move(out_);  // lookup failed
      out_.facts.signed_by = known->signed_by;
    }
    if ((chain_may_decide && !decided_by_content(known)) || options_.always_chain) gather_chain();
    const bool content_allows =
        known && known->rules_current &&
        (known->hash_rule ? known->hash_rule->action == hashdb::Action::kAllow : known->signed_by.has_value());
    out_.decision = known
                        ? decide(out_.facts, PrefetchedRules(rules_.rules, known->sha256, std::move(known->hash_rule)),
                                 options_.mode, options_.script_trust)
                        : decide(out_.facts, rules_.rules, options_.mode,
                                 options_.script_trust);  // no sha256: no database lookup
    const auto& d = out_.decision;
    out_.content_allow = content_allows && d.verdict == Verdict::kAllow && !d.would_deny && !d.failure;
    return std::move(out_);
  }

 private:
  // Never hashed, so hash-deny, hash-allow and signers cannot apply. A
  // path-deny still denies it; a path-allow on a root-owned chain still
  // admits it (only root could have put it there, as for any file we cannot
  // hash). Anything else is error:too-large.
  FileDecision too_large() && {
    resolve_path();
    const bool allow_rule = path_allow_matches() || safe_script_trust();
    if (allow_rule && !options_.may_block) return defer(false);
    if (allow_rule || options_.always_chain) gather_chain();
    const uint64_t size = size_of(out_.st);
    Decision d = decide(out_.facts, rules_.rules, options_.mode, options_.script_trust);  // no sha256: no lookup
    if (path_rule_matches(rules_.rules, out_.path, hashdb::Action::kDeny) || !d.policy_denies()) {
      d.reason += fmt::format("; not hashed: {} bytes is over max_file_size", size);
      out_.decision = std::move(d);
    } else {
      out_.decision = failed(Failure::kTooLarge,
                             fmt::format("{} bytes is over max_file_size ({} bytes): not hashed, and no path rule "
                                         "decides it",
                                         size, options_.max_file_size));
    }
    return std::move(out_);
  }

  FileDecision defer(bool needs_hash) {
    out_.outcome = FileDecision::Outcome::kDeferred;
    out_.needs_hash = needs_hash;
    return std::move(out_);
  }

  void resolve_path() {
    out_.path = fd_path(fd_, out_.st);
    out_.facts.path = out_.path.path;
  }

  // A script that a root-owned, non-writable chain admits (script_trust).
  bool safe_script_trust() const { return script_may_use_chain() && !out_.path.path.empty() && !out_.path.nameless; }

  // Whether the access is one the safe-path script rule (decision.h, 5b) can admit.
  bool script_may_use_chain() const {
    return options_.access == AccessKind::kScript && options_.script_trust == ScriptTrust::kHashOrSafePath;
  }

  // Whether a hash rule or a trusted signer, known for the rules in force,
  // decides before any chain could (precedence 1-4).
  static bool decided_by_content(const std::optional<KnownContent>& known) {
    return known && known->rules_current && (known->hash_rule || known->signed_by);
  }

  // Whether a path rule, or the safe-path script rule, could change the
  // decision for content whose rule is known (DecideOptions::path_on_demand).
  bool path_can_decide(const KnownContent& known) const {
    const auto& rule = known.hash_rule;
    if (rule && rule->action == hashdb::Action::kDeny) return false;  // hash deny outranks every path rule
    if (rules_.has_path_deny) return true;
    if (rule && rule->action == hashdb::Action::kAllow) return false;  // outranks path allow and safe-path
    return rules_.has_path_allow || script_may_use_chain();
  }

  bool path_allow_matches() const {
    return rules_.has_path_allow && path_rule_matches(rules_.rules, out_.path, hashdb::Action::kAllow);
  }

  // Hashes the content; false when cancelled. A failed hash leaves `known`
  // empty (decided as "could not be hashed") with hash_error set.
  bool hash(std::optional<KnownContent>& known) {
    const int64_t hashed_at = cache_ ? cache_->now_ns() : 0;  // racy clean: before the first byte
    auto hashed = hashdb::digest_fd_stable(fd_, out_.path.display, {.cancel = options_.cancel});
    if (hashed) {
      known = KnownContent{.sha256 = hashed->digests.sha256, .hashed_at_ns = hashed_at};
      out_.st = hashed->st;  // the validators of the content that was hashed
      out_.hashed_bytes = size_of(hashed->st);
      return true;
    }
    if (options_.cancel && options_.cancel->load()) {
      out_.outcome = FileDecision::Outcome::kCancelled;
      return false;
    }
    out_.hash_error = hashed.error().message();
    return true;
  }

  // The hash rule and trusted signer for the rules in force, remembered in
  // the cache; false (decided: error:lookup) when the lookup failed.
  bool find_rule(KnownContent& known) {
    auto found = rules_.rules.find_hash(known.sha256);
    if (!found) {
      out_.decision = failed(Failure::kLookup, found.error().message());
      return false;
    }
    known.hash_rule = std::move(*found);
    known.signed_by.reset();
    if (!rules_.signer_keys.empty())
      known.signed_by = trusted_signer(fd_, out_.path.path, known.sha256, rules_.signer_keys);
    known.rules_current = true;
    if (cache_) cache_->store(out_.st, known);
    return true;
  }

  void gather_chain() {
    if (out_.path.path.empty() || out_.path.nameless) return;                   // unknown: never safe
    if (options_.path_means_here && !(*options_.path_means_here)(fd_)) return;  // another namespace's path
    if (auto chain = ownership_chain(out_.path.path, out_.st)) out_.facts.chain = std::move(*chain);
  }

  int fd_;
  const RuleView& rules_;
  const DecideOptions& options_;
  ContentCache* cache_;
  FileDecision out_;
};

}  // namespace

bool path_rule_matches(const hashdb::RuleSet& rules, const FdPath& path, hashdb::Action action) {
  if (path.path.empty() || (action == hashdb::Action::kAllow && path.nameless)) return false;
  for (const auto& rule : rules.path_rules())
    if (rule.action == action && path_matches(rule, path.path)) return true;
  return false;
}

Result<std::vector<PathElement>> ownership_chain(const std::string& path, const struct stat& st) {
  std::vector<PathElement> chain;
  chain.push_back({path, st.st_uid, st.st_mode});
  std::string dir = path;
  while (dir != "/") {
    auto slash = dir.find_last_of('/');
    if (slash == std::string::npos) return fail(ErrorCode::kInvalidInput, path + ": not an absolute path");
    dir = slash == 0 ? "/" : dir.substr(0, slash);
    struct stat dst;
    if (::lstat(dir.c_str(), &dst) != 0) return fail_errno(errno, dir, "cannot stat parent directory");
    chain.push_back({dir, dst.st_uid, dst.st_mode});
  }
  return chain;
}

std::vector<hashdb::PublicKey> signer_keys(const hashdb::RuleSet& rules, std::vector<std::string>* errors) {
  std::vector<hashdb::PublicKey> keys;
  for (const auto& signer : rules.signers()) {
    auto key = hashdb::parse_public_key(signer.pem, "signer " + hashdb::to_hex(signer.key_id).substr(0, 16));
    if (key) keys.push_back(std::move(*key));
    else if (errors) errors->push_back(key.error().message());
  }
  return keys;
}

bool has_path_allow(const hashdb::RuleSet& rules) {
  for (const auto& r : rules.path_rules())
    if (r.action == hashdb::Action::kAllow) return true;
  return false;
}

bool has_path_deny(const hashdb::RuleSet& rules) {
  for (const auto& r : rules.path_rules())
    if (r.action == hashdb::Action::kDeny) return true;
  return false;
}

FileDecision decide_file(int fd, const struct stat& st, const RuleView& rules, const DecideOptions& options,
                         ContentCache* cache) {
  FileDecision r = FileDecider(fd, st, rules, options, cache).run();
  r.decision.access = options.access;  // failures too
  return r;
}

Result<FileDecision> decide_path(const std::string& path, const RuleView& rules, const DecideOptions& options) {
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved)) return fail_errno(errno, path, "cannot resolve");
  auto fd = open_regular(resolved, O_RDONLY);
  if (!fd) return std::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return fail_errno(errno, resolved, "cannot stat");
  return decide_file(fd->get(), st, rules, options);
}

Result<FileDecision> collect_path_facts(const std::string& path, const std::vector<hashdb::PublicKey>& trusted) {
  static const hashdb::MemoryRuleSet kNoRules{hashdb::PolicyContent{}};
  return decide_path(path, {kNoRules, trusted, false}, {.always_chain = true});
}

}  // namespace tollgate::policy
