#include "policy/decision.h"

#include <sys/stat.h>

namespace tollgate::policy {
namespace {

using hashdb::Action;

std::string short_hex(const hashdb::Sha256& digest) { return hashdb::to_hex(digest).substr(0, 16); }

std::string describe_source(const hashdb::Source& source) {
  if (source.file.empty()) return {};
  return " (" + source.file + (source.line > 0 ? ":" + std::to_string(source.line) : "") + ")";
}

Decision make(Verdict verdict, std::string rule, std::string reason, const hashdb::Source& source, std::string label) {
  Decision d;
  d.verdict = verdict;
  d.rule = std::move(rule);
  d.reason = std::move(reason) + describe_source(source);
  d.source = source;
  d.label = std::move(label);
  return d;
}

std::string_view verb(AccessKind access) {
  switch (access) {
    case AccessKind::kLibrary: return "loading a library";
    case AccessKind::kScript: return "running a script";
    case AccessKind::kLoader: return "loading a program with the dynamic loader";
    default: return "execution";
  }
}

const hashdb::PathRule* find_path_rule(const hashdb::RuleSet& rules, std::string_view path, Action action) {
  const hashdb::PathRule* best = nullptr;
  for (const auto& rule : rules.path_rules()) {
    if (rule.action != action || !path_matches(rule, path)) continue;
    // The most specific rule names the decision best.
    if (!best || rule.path.size() > best->path.size()) best = &rule;
  }
  return best;
}

}  // namespace

std::string_view rule_id(Failure failure) {
  switch (failure) {
    case Failure::kTimeout: return "error:timeout";
    case Failure::kTooLarge: return "error:too-large";
    case Failure::kOverload: return "error:overload";
    case Failure::kStat: return "error:stat";
    case Failure::kLookup: return "error:lookup";
    case Failure::kInternal: return "error:internal";
  }
  return "error:internal";
}

Decision failed(Failure failure, std::string reason) {
  Decision d;
  d.rule = std::string(rule_id(failure));
  d.reason = std::move(reason);
  d.failure = failure;
  return d;
}

Decision library_reader_allowed(const std::string& pattern) {
  Decision d = make(Verdict::kAllow, "library-reader:" + pattern,
                    "its opener matches library_readers " + pattern + " (read, not approved)", {}, {});
  d.access = AccessKind::kLibrary;
  return d;
}

bool allows_every_access(const Decision& d) {
  if (d.verdict != Verdict::kAllow || d.would_deny || d.failure) return false;
  return d.rule != "safe-path" && !d.rule.starts_with("library-reader:");
}

std::string_view to_string(Mode mode) { return mode == Mode::kAudit ? "audit" : "enforce"; }
std::string_view to_string(Verdict verdict) { return verdict == Verdict::kAllow ? "allow" : "deny"; }
std::optional<Mode> parse_mode(std::string_view text) {
  if (text == "audit") return Mode::kAudit;
  if (text == "enforce") return Mode::kEnforce;
  return std::nullopt;
}

bool path_matches(const hashdb::PathRule& rule, std::string_view path) {
  if (path.empty()) return false;  // unknown path (policy/fd_path.h)
  if (rule.match == hashdb::PathMatch::kExact) return path == rule.path;
  if (rule.path.empty() || rule.path.back() != '/') return path == rule.path;
  return path.starts_with(rule.path);
}

bool chain_is_safe(const std::vector<PathElement>& chain, std::string* why_not) {
  if (chain.empty()) {
    if (why_not) *why_not = "ownership of the path is unknown";
    return false;
  }
  for (const auto& element : chain) {
    if (element.uid != 0) {
      if (why_not) *why_not = element.path + " is owned by uid " + std::to_string(element.uid) + ", not root";
      return false;
    }
    if (element.mode & (S_IWGRP | S_IWOTH)) {
      if (why_not) *why_not = element.path + " is group- or world-writable";
      return false;
    }
  }
  return true;
}

namespace {

// The policy's verdict, before the mode is applied.
Decision decide_rules(const FileFacts& facts, const hashdb::RuleSet& rules, ScriptTrust script_trust) {
  std::optional<hashdb::HashRule> hash_rule;
  if (facts.sha256) {
    auto found = rules.find_hash(*facts.sha256);
    if (!found) return failed(Failure::kLookup, found.error().message());
    hash_rule = std::move(*found);
  }

  // 1. hash deny
  if (hash_rule && hash_rule->action == Action::kDeny)
    return make(Verdict::kDeny, "hash-deny:" + short_hex(hash_rule->sha256),
                "its SHA-256 is on the deny list" + (hash_rule->label.empty() ? "" : " as " + hash_rule->label),
                hash_rule->source, hash_rule->label);
  // 2. path deny
  if (const auto* rule = find_path_rule(rules, facts.path, Action::kDeny))
    return make(Verdict::kDeny, "path-deny:" + rule->path,
                std::string(verb(facts.access)) + " from " + rule->path + " is denied", rule->source, rule->label);
  // 3. hash allow
  if (hash_rule && hash_rule->action == Action::kAllow)
    return make(Verdict::kAllow,
                hash_rule->rule_id.empty() ? "hash-allow:" + short_hex(hash_rule->sha256) : hash_rule->rule_id,
                "its SHA-256 is approved" + (hash_rule->label.empty() ? "" : " as " + hash_rule->label),
                hash_rule->source, hash_rule->label);
  // 4. trusted signer
  if (facts.signed_by) {
    for (const auto& signer : rules.signers()) {
      if (signer.key_id != *facts.signed_by) continue;
      return make(Verdict::kAllow, "signer:" + short_hex(signer.key_id),
                  "it carries a valid signature by trusted signer" +
                      (signer.label.empty() ? " " + short_hex(signer.key_id) : " " + signer.label),
                  signer.source, signer.label);
    }
  }
  // 5. path allow, only on a root-owned, non-writable chain
  std::string unsafe_note;
  if (const auto* rule = find_path_rule(rules, facts.path, Action::kAllow)) {
    std::string why_not;
    if (chain_is_safe(facts.chain, &why_not))
      return make(Verdict::kAllow, "path-allow:" + rule->path,
                  "it lies under the trusted path " + rule->path + " and only root can change it", rule->source,
                  rule->label);
    unsafe_note = "; path rule " + rule->path + " does not apply because " + why_not;
  }
  // 5b. a script on a root-owned, non-writable chain (script_trust: hash_or_safe_path)
  if (facts.access == AccessKind::kScript && script_trust == ScriptTrust::kHashOrSafePath) {
    std::string why_not;
    if (chain_is_safe(facts.chain, &why_not))
      return make(Verdict::kAllow, "safe-path", "a script that only root can change (script_trust: hash_or_safe_path)",
                  {}, {});
    unsafe_note += "; not a safe path for a script because " + why_not;
  }
  // 6. default
  std::string why =
      (facts.sha256 ? "no rule approves it" : "it could not be hashed and no path rule approves it") + unsafe_note;
  return make(Verdict::kDeny, "default-deny", why, {}, {});
}

}  // namespace

Decision decide_policy(const FileFacts& facts, const hashdb::RuleSet& rules, ScriptTrust script_trust) {
  Decision d = decide_rules(facts, rules, script_trust);
  d.access = facts.access;
  return d;
}

Decision decide(const FileFacts& facts, const hashdb::RuleSet& rules, Mode mode, ScriptTrust script_trust) {
  Decision d = decide_policy(facts, rules, script_trust);
  if (mode == Mode::kAudit && d.verdict == Verdict::kDeny && !d.failure) {
    d.verdict = Verdict::kAllow;
    d.would_deny = true;
    d.reason += " (audit mode: allowed and logged)";
  }
  return d;
}

}  // namespace tollgate::policy
