#include "eventlog/replay.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace tollgate::eventlog {

void ReplayHistory::add(const Event& e) {
  if (e.type != EventType::kDecision) return;
  if (options_.since_us && e.ts_us < *options_.since_us) return;
  events_ += e.count();  // a "repeated": N line stands for N events
  auto& [item, last] = by_key_[{e.path, e.sha256}];
  const bool first = item.count == 0;
  item.count += e.count();
  if (first) {
    item.path = e.path;
    item.sha256 = e.sha256;
  } else if (e.ts_us < last) {
    return;
  }
  last = e.ts_us;
  item.last_seen = e.ts;
  item.last_exe = e.exe;
}

ReplayResult ReplayHistory::decide(const hashdb::RuleSet& rules, const FactsLookup& facts) && {
  ReplayResult result;
  result.events = events_;
  for (auto& [key, entry] : by_key_) {
    auto& item = entry.first;
    std::optional<hashdb::Sha256> sha = hashdb::sha256_from_hex(item.sha256);
    item.decision = policy::decide_policy(facts(item.path, sha), rules);
    (item.decision.policy_denies() ? result.denied : result.allowed).push_back(std::move(item));
  }
  auto order = [](const ReplayItem& a, const ReplayItem& b) {
    return std::tie(b.count, a.path, a.sha256) < std::tie(a.count, b.path, b.sha256);
  };
  std::sort(result.denied.begin(), result.denied.end(), order);
  std::sort(result.allowed.begin(), result.allowed.end(), order);
  return result;
}

ReplayResult replay(const std::vector<Event>& events, const ReplayOptions& options, const hashdb::RuleSet& rules,
                    const FactsLookup& facts) {
  ReplayHistory history(options);
  for (const auto& e : events) history.add(e);
  return std::move(history).decide(rules, facts);
}

}  // namespace tollgate::eventlog
