// Coalescing repeated decision lines (docs/events.md, "Repeated events").
// A retry loop that execs one unapproved binary a thousand times a second
// must not write a thousand lines (nor read /proc a thousand times): the
// first event of a kind is written in full, and every identical one within
// the window after it (same answer, rule, sha256, path and parent pid) is only
// counted. When the window closes, one more line is written: the first
// line's fields with `"repeated": N` (N events stood for by that line) and
// the `ts` of the close. A repeat arriving after its window has closed
// starts a new window (and is written in full).
//
//   Coalescer c;                                    // kDefaultWindow, kDefaultMaxKeys
//   if (c.repeat(key, now)) return;                 // counted: write nothing (and read no /proc)
//   line = ...; write(line); c.first(key, line, now);
//   for (auto& line : c.take_closed(now)) write(line);  // the event loop, every pass
//
// A window opens only with the line that was written (first()), so a
// counted repeat always has a line to be summarized into; two threads that
// both miss write two full lines, never fewer.
// Only logging is coalesced: every event is still answered and counted.
// Bounded: at most max_keys windows are open; an event of a new kind when
// the table is full is written in full, so distinct events can neither grow
// memory nor be hidden.
//
// Time is passed in (a steady clock), so tests drive it. Thread-safe: an
// internal mutex (the loop thread and the workers both log decisions).
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "policy/decision.h"

namespace tollgate::eventlog {

// What makes two decision events "the same" for coalescing: the same
// answer (a mode switch never folds an allow into a deny's line), rule,
// content, path and parent.
struct RepeatKey {
  policy::Verdict verdict = policy::Verdict::kDeny;
  bool would_deny = false;
  std::string rule;
  std::string sha256;
  std::string path;
  int64_t ppid = 0;
  auto operator<=>(const RepeatKey&) const = default;
};

class Coalescer {
 public:
  using Clock = std::chrono::steady_clock;
  // How long after an event identical ones are only counted.
  static constexpr std::chrono::milliseconds kDefaultWindow{1000};
  static constexpr size_t kDefaultMaxKeys = 4096;

  explicit Coalescer(std::chrono::milliseconds window = kDefaultWindow, size_t max_keys = kDefaultMaxKeys);

  // True when a window for `key` is open at `now`: the event is counted
  // into it and must not be written.
  bool repeat(const RepeatKey& key, Clock::time_point now);
  // `line` (an event for `key` not counted by repeat()) was written: open a
  // window [now, now + window) with it as the summary's template. No-op when
  // one is open already, or when max_keys windows are open (the next such
  // event is written in full again: nothing is hidden).
  void first(const RepeatKey& key, const nlohmann::json& line, Clock::time_point now);
  // Summary lines of every window closed by `now` that counted repeats
  // (windows without repeats close silently). `ts` is set by the caller.
  std::vector<nlohmann::json> take_closed(Clock::time_point now);
  // Every window, closed or not (shutdown).
  std::vector<nlohmann::json> take_all();
  // When the earliest open window closes (nullopt: none open).
  std::optional<Clock::time_point> next_close() const;
  size_t open_windows() const;

 private:
  struct Window {
    Clock::time_point closes;
    uint64_t repeats = 0;
    nlohmann::json line;  // the first line
  };
  // Moves `w`'s summary (if it counted repeats) to `out`. Caller holds mu_.
  static void summarize(Window& w, std::vector<nlohmann::json>& out);

  const std::chrono::milliseconds window_;
  const size_t max_keys_;
  mutable std::mutex mu_;
  std::map<RepeatKey, Window> open_;           // guarded by mu_
  std::vector<nlohmann::json> closed_;         // guarded by mu_: closed early by a new window for the key
  std::optional<Clock::time_point> earliest_;  // guarded by mu_: no window closes before this
};

}  // namespace tollgate::eventlog
