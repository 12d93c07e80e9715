#include "policy/replay.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace tollgate::policy {

ReplayResult replay(const std::vector<Event>& events, const ReplayOptions& options, const hashdb::RuleSet& rules,
                    const FactsLookup& facts) {
  ReplayResult result;
  std::map<std::pair<std::string, std::string>, ReplayItem> by_key;
  std::map<std::pair<std::string, std::string>, TimeUs> last_us;
  for (const auto& e : events) {
    if (e.type != "decision") continue;
    if (options.since_us && e.ts_us < *options.since_us) continue;
    ++result.events;
    std::pair key{e.path, e.sha256};
    auto& item = by_key[key];
    auto& last = last_us[key];
    if (item.count++ == 0) {
      item.path = e.path;
      item.sha256 = e.sha256;
      last = e.ts_us;
      item.last_seen = e.ts;
      item.last_exe = e.exe;
    } else if (e.ts_us >= last) {
      last = e.ts_us;
      item.last_seen = e.ts;
      item.last_exe = e.exe;
    }
  }
  for (auto& [key, item] : by_key) {
    std::optional<hashdb::Sha256> sha = hashdb::sha256_from_hex(item.sha256);
    item.decision = decide_policy(facts(item.path, sha), rules);
    (item.decision.policy_denies() ? result.denied : result.allowed).push_back(std::move(item));
  }
  auto order = [](const ReplayItem& a, const ReplayItem& b) {
    return std::tie(b.count, a.path, a.sha256) < std::tie(a.count, b.path, b.sha256);
  };
  std::sort(result.denied.begin(), result.denied.end(), order);
  std::sort(result.allowed.begin(), result.allowed.end(), order);
  return result;
}

}  // namespace tollgate::policy
