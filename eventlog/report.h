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
// "looks like a miner" assessment (assess_miner) with the reasons that fired;
// the heuristics are documented in docs/cli.md ("tollgate report").
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

namespace tollgate::eventlog {

struct MinerAssessment {
  bool suspect = false;
  std::vector<std::string> reasons;  // one short phrase per heuristic that fired
};

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
  uint64_t denied = 0;       // answered deny (enforce mode)
  uint64_t would_deny = 0;   // allowed in audit mode, enforce would deny
  std::string first_seen, last_seen;  // RFC 3339 as logged
  TimeUs first_us = 0, last_us = 0;
  std::string rule;                   // rule of the latest event
  std::vector<LauncherCount> launchers;  // most frequent first
  std::vector<UserCount> users;          // most frequent first
  MinerAssessment miner;
};

struct ReportOptions {
  std::optional<TimeUs> since_us;
  // uid -> user name; returns "" for unknown uids. Absent = no names.
  std::function<std::string(int64_t)> user_name;
};

struct Report {
  std::optional<TimeUs> since_us;
  uint64_t decisions = 0;  // denied/would-deny decision events considered
  std::vector<BinaryReport> binaries;  // count descending, then last seen descending, then path
};

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
  std::map<std::pair<std::string, std::string>, Acc> by_key_;
};

// ReportBuilder over a vector.
Report build_report(const std::vector<Event>& events, const ReportOptions& options);

// The miner heuristics, each independently: a known miner name in the file's
// base name; run from /tmp, /var/tmp or /dev/shm; a hidden path component;
// a deleted file; launched by a web-server user (www-data, nginx, apache,
// http, php-fpm) or a web-server/PHP process; launched directly by curl or
// wget. Any one reason makes it a suspect.
MinerAssessment assess_miner(const BinaryReport& binary);

}  // namespace tollgate::eventlog
