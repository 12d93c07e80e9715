// The audit report: which distinct binaries were denied, or would have been
// in enforce mode, aggregated from event-log decisions. Pure: events in,
// report out; the caller supplies the uid -> name lookup.
//
//   auto log = eventlog::read_event_log(path);
//   eventlog::ReportOptions opts{.since_us = now_us() - 24h_in_us, .user_name = passwd_lookup};
//   eventlog::Report r = eventlog::build_report(log->events, opts);
//   for (const auto& b : r.binaries) ...   // most frequent first
//
// A binary is identified by sha256 + path: the same file content at two
// paths, or two versions at one path, are separate rows. Each row carries a
// miner assessment (assess_miner, docs/miner-detection.md): `suspect` only
// on evidence (the daemon's content scan, logged as a `scan` event keyed by
// sha256, or a scan attach_scan() adds later; a hash-deny rule, i.e. a
// blocklisted hash); location, name, user and launcher only raise the score
// of a binary that has evidence. Suspects sort first.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eventlog/reader.h"
#include "miner/content_scan.h"
#include "miner/signals.h"

namespace tollgate::eventlog {

using MinerAssessment = miner::Assessment;

// Where a binary's content scan came from.
enum class ScanSource {
  kNone,    // not scanned (no scan event; the report did not or could not scan it)
  kDaemon,  // a `scan` event in the log (tollgated, after the decision)
  kReport,  // scanned by the report itself (attach_scan)
};
std::string_view to_string(ScanSource source);  // "none", "daemon", "report"

struct UserCount {
  int64_t uid = -1;
  std::string name;  // empty when the uid has no passwd entry
  uint64_t count = 0;
};

struct LauncherCount {
  std::string exe;
  uint64_t count = 0;
};

struct BinaryReport {
  std::string path;
  std::string sha256;  // may be empty when the daemon could not hash the file
  uint64_t size = 0;
  uint64_t count = 0;
  uint64_t denied = 0;                // answered deny (enforce mode)
  uint64_t would_deny = 0;            // allowed in audit mode, enforce would deny
  std::string first_seen, last_seen;  // RFC 3339 as logged
  TimeUs first_us = 0, last_us = 0;
  std::string rule;                      // rule of the latest event
  std::string reason, source;            // its reason and manifest FILE:LINE
  std::vector<LauncherCount> launchers;  // most frequent first
  std::vector<UserCount> users;          // most frequent first
  MinerAssessment miner;
  ScanSource scan = ScanSource::kNone;
  std::optional<miner::ContentScan> content;  // the scan behind `miner`, when there is one
};

struct ReportOptions {
  std::optional<TimeUs> since_us;
  // uid -> user name; returns "" for unknown uids. Absent = no names.
  std::function<std::string(int64_t)> user_name;
};

struct Report {
  std::optional<TimeUs> since_us;
  uint64_t decisions = 0;              // denied/would-deny decision events considered
  std::vector<BinaryReport> binaries;  // sort_report order
};

// Suspects first (score descending), then count descending, last seen
// descending, path, sha256.
void sort_report(Report& report);

// Aggregates events one at a time (so a log of any size is streamed through
// scan_event_log), then sorts. Memory is per distinct binary, not per event.
class ReportBuilder {
 public:
  explicit ReportBuilder(ReportOptions options) : options_(std::move(options)) {}
  void add(const Event& event);
  Report finish() &&;

 private:
  struct Acc {
    BinaryReport row;
    std::map<std::string, uint64_t> launchers;
    std::map<int64_t, uint64_t> users;
  };
  ReportOptions options_;
  uint64_t decisions_ = 0;
  std::map<std::string, miner::ContentScan> scans_;  // sha256 -> latest `scan` event (any time: not cut by since)
  std::map<std::pair<std::string, std::string>, Acc> by_key_;
};

// ReportBuilder over a vector.
Report build_report(const std::vector<Event>& events, const ReportOptions& options);

// The miner assessment of a row (miner::assess): evidence from its content
// scan and from a hash-deny rule (a known-bad hash); context from its path,
// users and launchers (miner::context_reasons).
MinerAssessment assess_miner(const BinaryReport& binary);

// Records a content scan for `binary` and assesses it again; call
// sort_report afterwards.
void attach_scan(BinaryReport& binary, miner::ContentScan scan, ScanSource source);

}  // namespace tollgate::eventlog
