#include "eventlog/report.h"

#include <fmt/core.h>

#include <algorithm>
#include <tuple>

namespace tollgate::eventlog {

std::string_view to_string(ScanSource source) {
  switch (source) {
    case ScanSource::kNone: return "none";
    case ScanSource::kDaemon: return "daemon";
    case ScanSource::kReport: return "report";
  }
  return "none";
}

MinerAssessment assess_miner(const BinaryReport& b) {
  std::vector<miner::Reason> evidence;
  if (b.content) evidence = miner::static_evidence(b.content->hits);
  if (b.rule.starts_with("hash-deny:"))
    evidence.push_back({miner::Signal::kKnownBad,
                        fmt::format("known bad: {}{}", b.reason.empty() ? "its SHA-256 is on the deny list" : b.reason,
                                    b.source.empty() ? "" : " (" + b.source + ")")});
  miner::Context context{.path = b.path};
  for (const auto& u : b.users)
    if (!u.name.empty()) context.user_names.push_back(u.name);
  for (const auto& l : b.launchers) context.launchers.push_back(l.exe);
  return miner::assess(std::move(evidence), context);
}

void attach_scan(BinaryReport& b, miner::ContentScan scan, ScanSource source) {
  b.content = std::move(scan);
  b.scan = source;
  b.miner = assess_miner(b);
}

void sort_report(Report& report) {
  std::sort(report.binaries.begin(), report.binaries.end(), [](const BinaryReport& a, const BinaryReport& b) {
    return std::tuple(b.miner.suspect, b.miner.score, b.count, b.last_us, a.path, a.sha256) <
           std::tuple(a.miner.suspect, a.miner.score, a.count, a.last_us, b.path, b.sha256);
  });
}

void ReportBuilder::add(const Event& e) {
  if (e.type == EventType::kScan) {
    // Scans are once per content per daemon run: older than --since is normal.
    if (e.scan) scans_[e.sha256] = *e.scan;
    return;
  }
  if (!e.denied_or_would()) return;
  if (options_.since_us && e.ts_us < *options_.since_us) return;
  const uint64_t n = e.count();  // a "repeated": N line stands for N decisions
  decisions_ += n;
  auto& acc = by_key_[{e.sha256, e.path}];
  auto& r = acc.row;
  if (r.count == 0) {
    r.path = e.path;
    r.sha256 = e.sha256;
    r.first_us = r.last_us = e.ts_us;
    r.first_seen = r.last_seen = e.ts;
  }
  r.count += n;
  if (e.decision == policy::Verdict::kDeny) r.denied += n;
  else r.would_deny += n;
  if (e.size) r.size = e.size;
  if (e.ts_us < r.first_us) {
    r.first_us = e.ts_us;
    r.first_seen = e.ts;
  }
  if (e.ts_us >= r.last_us) {
    r.last_us = e.ts_us;
    r.last_seen = e.ts;
    r.rule = e.rule;
    r.reason = e.reason;
    r.source = e.source;
  }
  if (!e.exe.empty()) acc.launchers[e.exe] += n;
  if (e.uid >= 0) acc.users[e.uid] += n;
}

Report ReportBuilder::finish() && {
  Report report;
  report.since_us = options_.since_us;
  report.decisions = decisions_;
  for (auto& [key, acc] : by_key_) {
    auto& r = acc.row;
    for (const auto& [exe, n] : acc.launchers) r.launchers.push_back({exe, n});
    std::stable_sort(r.launchers.begin(), r.launchers.end(),
                     [](const LauncherCount& a, const LauncherCount& b) { return a.count > b.count; });
    for (const auto& [uid, n] : acc.users)
      r.users.push_back({uid, options_.user_name ? options_.user_name(uid) : std::string(), n});
    std::stable_sort(r.users.begin(), r.users.end(),
                     [](const UserCount& a, const UserCount& b) { return a.count > b.count; });
    if (auto scan = scans_.find(r.sha256); scan != scans_.end()) {
      r.content = scan->second;
      r.scan = ScanSource::kDaemon;
    }
    r.miner = assess_miner(r);
    report.binaries.push_back(std::move(r));
  }
  sort_report(report);
  return report;
}

Report build_report(const std::vector<Event>& events, const ReportOptions& options) {
  ReportBuilder builder(options);
  for (const auto& e : events) builder.add(e);
  return std::move(builder).finish();
}

}  // namespace tollgate::eventlog
