#include "policy/pending_trust.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <tuple>
#include <utility>

#include "common/text.h"
#include "policy/facts.h"
#include "policy/trust_sources.h"

namespace tollgate::policy {
namespace {

using nlohmann::json;

// Debian policy 5.6.1: lowercase letters, digits, '+', '-', '.'; at least
// two characters, starting alphanumeric. An architecture may follow ':'.
bool valid_package(std::string_view name) {
  auto colon = name.find(':');
  std::string_view base = name.substr(0, colon);
  if (base.size() < 2 || base.size() > 255 || !(std::isalnum(static_cast<unsigned char>(base[0])))) return false;
  for (char c : base)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '+' ||
          c == '-' || c == '.'))
      return false;
  if (colon == std::string_view::npos) return true;
  std::string_view arch = name.substr(colon + 1);
  if (arch.empty() || arch.size() > 64) return false;
  return std::all_of(arch.begin(), arch.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-';
  });
}

bool valid_version(std::string_view v) {
  if (v.empty() || v.size() > 255) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

bool valid_path(std::string_view p) {
  if (p.starts_with(kControlPrefix)) return is_maintainer_script(p.substr(kControlPrefix.size()));
  if (p.empty() || p.front() != '/' || p.size() > 4096) return false;
  if (p.find('\0') != std::string_view::npos || p.find('\n') != std::string_view::npos) return false;
  // Each component: not empty (but a trailing one), not "." or "..".
  size_t start = 1;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string_view::npos) end = p.size();
    std::string_view part = p.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// Two packages may ship the same bytes at the same place (the same
// debhelper-made postinst is "control:postinst" of many): each keeps its entry.
std::tuple<hashdb::Sha256, std::string, std::string> key(const PendingFile& f) { return {f.sha256, f.package, f.path}; }

}  // namespace

std::string pending_rule_id(const PendingFile& file) {
  return fmt::format("pending-trust:{}={}:{}", file.package, file.version, file.path);
}

Status validate_pending_file(const PendingFile& file, std::string_view where) {
  if (!valid_package(file.package))
    return fail(ErrorCode::kInvalidInput,
                fmt::format("{}: '{}' is not a Debian package name", where, printable(file.package)));
  if (!valid_version(file.version))
    return fail(ErrorCode::kInvalidInput, fmt::format("{}: package {} has an invalid version '{}'", where, file.package,
                                                      printable(file.version)));
  if (!valid_path(file.path))
    return fail(ErrorCode::kInvalidInput, fmt::format("{}: package {} lists an invalid path '{}' (absolute, no "
                                                      "empty, '.' or '..' component; or control:SCRIPT)",
                                                      where, file.package, printable(file.path)));
  return {};
}

Result<size_t> merge_pending(std::vector<PendingFile>& into, std::vector<PendingFile> add, std::string_view where) {
  for (const auto& f : add)
    if (auto st = validate_pending_file(f, where); !st) return std::unexpected(st.error());
  std::set<std::tuple<hashdb::Sha256, std::string, std::string>> have;
  for (const auto& f : into) have.insert(key(f));
  std::vector<PendingFile> fresh;
  for (auto& f : add) {
    if (have.contains(key(f))) continue;
    have.insert(key(f));
    fresh.push_back(std::move(f));
  }
  if (into.size() + fresh.size() > kMaxPendingFiles)
    return fail(ErrorCode::kInvalidInput,
                fmt::format("{}: pending trust would hold {} files, more than the limit of {}", where,
                            into.size() + fresh.size(), kMaxPendingFiles));
  into.reserve(into.size() + fresh.size());
  for (auto& f : fresh) into.push_back(std::move(f));
  return fresh.size();
}

Result<size_t> drop_covered(std::vector<PendingFile>& files, const hashdb::RuleSet& rules) {
  std::vector<PendingFile> kept;
  for (auto& f : files) {
    auto found = rules.find_hash(f.sha256);
    if (!found) return std::unexpected(found.error());
    if (!*found) kept.push_back(std::move(f));
  }
  size_t dropped = files.size() - kept.size();
  files = std::move(kept);
  return dropped;
}

LockoutKeep keep_against_lockout(const hashdb::RuleSet& rules, const std::vector<PendingFile>& files,
                                 const std::vector<std::string>& candidates) {
  LockoutKeep keep;
  if (files.empty()) return keep;
  const auto keys = signer_keys(rules);
  const RuleView alone{rules, keys, has_path_allow(rules)};
  // Borrowed, not owned: the overlay lives only for this call.
  const PendingRuleSet overlay(std::shared_ptr<const hashdb::RuleSet>(std::shared_ptr<void>(), &rules), files);
  const RuleView with{overlay, keys, has_path_allow(overlay)};
  std::set<hashdb::Sha256> needed;
  for (const auto& path : candidates) {
    auto without_set = decide_path(path, alone);
    if (!without_set || without_set->decision.verdict == Verdict::kAllow) continue;
    auto with_set = decide_path(path, with);
    if (!with_set || with_set->decision.verdict != Verdict::kAllow || !with_set->facts.sha256 ||
        !with_set->decision.rule.starts_with("pending-trust:"))
      continue;
    needed.insert(*with_set->facts.sha256);
    keep.saved.push_back({path, without_set->decision.rule});
  }
  for (const auto& f : files)
    if (needed.contains(f.sha256)) keep.files.push_back(f);
  return keep;
}

std::vector<std::string> pending_packages(const std::vector<PendingFile>& files) {
  std::set<std::string> names;
  for (const auto& f : files) names.insert(f.package + "=" + f.version);
  return {names.begin(), names.end()};
}

json pending_files_to_json(const std::vector<PendingFile>& files) {
  std::map<std::pair<std::string, std::string>, json> groups;
  for (const auto& f : files) {
    auto& g = groups[{f.package, f.version}];
    if (g.is_null()) g = json::array();
    g.push_back(json::array({f.path, hashdb::to_hex(f.sha256)}));
  }
  json out = json::array();
  for (auto& [id, list] : groups)
    out.push_back({{"package", id.first}, {"version", id.second}, {"files", std::move(list)}});
  return out;
}

Result<std::vector<PendingFile>> pending_files_from_json(const json& j, std::string_view where) {
  auto bad = [&](std::string_view why) { return fail(ErrorCode::kInvalidInput, fmt::format("{}: {}", where, why)); };
  if (!j.is_array()) return bad("the pending files are not a JSON array");
  std::vector<PendingFile> out;
  for (const auto& g : j) {
    if (!g.is_object() || !g.contains("package") || !g["package"].is_string() || !g.contains("version") ||
        !g["version"].is_string() || !g.contains("files") || !g["files"].is_array())
      return bad("each package needs \"package\", \"version\" (strings) and \"files\" (an array)");
    if (out.size() + g["files"].size() > kMaxPendingFiles)
      return bad(fmt::format("more than {} pending files", kMaxPendingFiles));
    for (const auto& pair : g["files"]) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string())
        return bad("each file is [\"PATH\", \"SHA256\"]");
      auto digest = hashdb::sha256_from_hex(pair[1].get<std::string>());
      if (!digest) return bad(fmt::format("'{}' is not 64 hex digits", printable(pair[1].get<std::string>())));
      PendingFile f{*digest, g["package"].get<std::string>(), g["version"].get<std::string>(),
                    pair[0].get<std::string>()};
      if (auto st = validate_pending_file(f, where); !st) return std::unexpected(st.error());
      out.push_back(std::move(f));
    }
  }
  return out;
}

PendingRuleSet::PendingRuleSet(std::shared_ptr<const hashdb::RuleSet> base, const std::vector<PendingFile>& files)
    : base_(std::move(base)) {
  for (const auto& f : files) {
    hashdb::HashRule r;
    r.sha256 = f.sha256;
    r.action = hashdb::Action::kAllow;
    r.label = f.package + "=" + f.version + " (pending trust)";
    r.origin_path = f.path;
    r.rule_id = pending_rule_id(f);
    pending_.emplace(f.sha256, std::move(r));  // the first file with this content names it
  }
}

Result<std::optional<hashdb::HashRule>> PendingRuleSet::find_hash(const hashdb::Sha256& digest) const {
  auto own = base_->find_hash(digest);
  if (!own || *own) return own;  // an error, or the policy's own rule (a deny wins)
  auto it = pending_.find(digest);
  if (it == pending_.end()) return std::optional<hashdb::HashRule>();
  return std::optional<hashdb::HashRule>(it->second);
}

}  // namespace tollgate::policy
