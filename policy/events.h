// The event log (docs/events.md) as plain values: parse JSON Lines written by
// tollgated, filter by time and type. Pure except read_event_log(), which only
// reads the file. Used by `tollgate report`, `log`, `replay`, `approve
// --from-report` and `mode`.
//
//   auto log = policy::read_event_log("/var/log/tollgate/events.jsonl");
//   if (!log) return report(log.error());
//   for (const auto& p : log->problems) warn(p.where(), p.message);   // skipped lines
//   EventFilter filter{.since_us = now_us() - 24h, .types = {"decision"}};
//   for (const auto& e : log->events) if (filter.matches(e)) ...
//
// Robustness: a malformed line (not JSON, not an object, missing `ts`/`type`,
// a field of the wrong type) never aborts reading; it is recorded as a
// ParseProblem naming FILE:LINE and skipped. Unknown fields are ignored and
// unknown types are kept (the contract allows new ones). A partial last line
// (the daemon is mid-write) is reported like any other malformed line.
//
// Thread-safety: plain values and pure functions; no shared state.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/time.h"

namespace tollgate::policy {

// One line of the event log. Fields absent from the line keep their defaults.
struct Event {
  size_t line = 0;       // 1-based line number in its file
  std::string ts;        // as written, RFC 3339
  TimeUs ts_us = 0;
  std::string host;
  std::string type;      // decision, start, reload, mode, overflow, ...
  // decision
  std::string mode;      // audit | enforce
  std::string decision;  // allow | deny
  bool would_deny = false;
  std::string rule, reason, source, path, sha256, event, exe, comm;
  uint64_t size = 0;
  int64_t pid = -1, ppid = -1, uid = -1;
  // mode
  std::string from, to, by;  // `by` as the client claimed it
  int64_t by_uid = -1;       // the uid that made the change (-1: not logged)
  bool forced = false;
  // the line itself, for `tollgate log --json`
  std::string raw;

  // A deny, or a would-deny in audit mode.
  bool denied_or_would() const { return type == "decision" && (decision == "deny" || would_deny); }
};

struct ParseProblem {
  std::string file;
  size_t line = 0;
  std::string message;
  std::string where() const;  // "FILE:LINE"
};

struct EventLog {
  std::vector<Event> events;
  std::vector<ParseProblem> problems;  // malformed lines, skipped
  size_t lines = 0;                    // non-empty lines seen
};

// Parses one line. Errors (InvalidInput) carry a message without the file
// name; parse_event_lines adds FILE:LINE.
Result<Event> parse_event(std::string_view line);

// Parses every line of `text` (numbered from first_line) into `out`.
void parse_event_lines(std::string_view text, std::string_view file_name, EventLog& out, size_t first_line = 1);

// Streams a log file: on_event for each valid event and on_problem for each
// malformed line, in file order. Memory is one read buffer plus one line,
// whatever the file's size. Only an unreadable file is an error.
Status scan_event_log(const std::string& path, const std::function<void(Event&&)>& on_event,
                      const std::function<void(ParseProblem&&)>& on_problem);

// Reads and parses a whole log file into memory (tests, small logs). Only an
// unreadable file is an error.
Result<EventLog> read_event_log(const std::string& path);

struct EventFilter {
  std::optional<TimeUs> since_us;  // keep events at or after this time
  std::set<std::string> types;     // empty = every type
  bool denied_only = false;        // decisions that denied or would have
  bool matches(const Event& event) const;
};

}  // namespace tollgate::policy
