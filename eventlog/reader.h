// Reading the event log (docs/events.md) back as typed values (schema.h's
// Event): parse JSON Lines written by tollgated (or by the CLI through
// writer.h), filter by time and type. Pure except scan_event_log() and
// read_event_log(), which only read the file. Used by `tollgate report`,
// `log`, `replay`, `approve --from-report` and `mode`.
//
//   auto log = eventlog::read_event_log("/var/log/tollgate/events.jsonl");
//   if (!log) return report(log.error());
//   for (const auto& p : log->problems) warn(p.where(), p.message);   // skipped lines
//   EventFilter filter{.since_us = now_us() - 24h, .types = {"decision"}};
//   for (const auto& e : log->events) if (filter.matches(e)) ...
//
// Robustness: a malformed line (not JSON, not an object, missing `ts`/`type`,
// a field of the wrong type, a `mode`, `decision`, `event`, `from` or `to`
// value outside the schema on a type that carries it) never aborts reading;
// it is recorded as a ParseProblem naming FILE:LINE and skipped. Unknown fields are ignored and
// unknown types are kept (the contract allows new ones). A partial last line
// (the daemon is mid-write) is reported like any other malformed line.
//
// Thread-safety: plain values and pure functions; no shared state.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "eventlog/schema.h"

namespace tollgate::eventlog {

struct ParseProblem {
  std::string file;
  size_t line = 0;
  std::string message;
  std::string where() const;  // "FILE:LINE"
};

// A whole log read into memory.
struct ParsedLog {
  std::vector<Event> events;
  std::vector<ParseProblem> problems;  // malformed lines, skipped
  size_t lines = 0;                    // non-empty lines seen
};

// Parses one line. Errors (InvalidInput) carry a message without the file
// name; scan_event_log adds FILE:LINE.
Result<Event> parse_event(std::string_view line);

// Streams a log file: on_event for each valid event and on_problem for each
// malformed line, in file order. Memory is one read buffer plus one line,
// whatever the file's size. Only an unreadable file is an error.
Status scan_event_log(const std::string& path, const std::function<void(Event&&)>& on_event,
                      const std::function<void(ParseProblem&&)>& on_problem);

// Reads and parses a whole log file into memory (tests, small logs). Only an
// unreadable file is an error.
Result<ParsedLog> read_event_log(const std::string& path);

struct EventFilter {
  std::optional<TimeUs> since_us;  // keep events at or after this time
  std::set<std::string> types;     // type names (unknown ones too); empty = every type
  bool denied_only = false;        // decisions that denied or would have
  bool matches(const Event& event) const;
};

}  // namespace tollgate::eventlog
