#include "policy/lockout.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>

#include "policy/facts.h"

namespace tollgate::policy {

std::vector<std::string> lockout_candidates(const std::vector<std::string>& must_allow, bool include_self) {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    char resolved[PATH_MAX];
    if (p.empty() || !::realpath(p.c_str(), resolved)) return;
    std::string r = resolved;
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  };
  if (include_self) {
    add("/proc/self/exe");
    add("/proc/1/exe");
  }
  for (const auto& p : must_allow) add(p);
  return out;
}

std::vector<LockoutHit> find_lockouts(const hashdb::RuleSet& rules, const std::vector<hashdb::PublicKey>& trusted,
                                      const std::vector<std::string>& candidates) {
  std::vector<LockoutHit> hits;
  const RuleView view{rules, trusted, has_path_allow(rules)};
  for (const auto& path : candidates) {
    // The daemon's own routine, in enforce semantics.
    auto decided = decide_path(path, view);
    if (!decided) {
      hits.push_back({path, "error:" + decided.error().message()});
      continue;
    }
    const auto& d = decided->decision;
    if (d.verdict == Verdict::kDeny)
      hits.push_back({decided->path.display.empty() ? path : decided->path.display, d.rule});
  }
  return hits;
}

std::string describe_lockouts(const std::vector<LockoutHit>& hits) {
  std::string out;
  for (const auto& h : hits) {
    if (!out.empty()) out += ", ";
    out += h.path + " (" + h.rule + ")";
  }
  return out;
}

}  // namespace tollgate::policy
