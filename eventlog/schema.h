// The event log's schema (docs/events.md) as typed values: which event
// types there are, which access kinds a decision can be about, and one line
// of the log as read back (Event). The writers (builders.h) and the reader
// (reader.h) both use these names, so the bytes written and the values read
// cannot drift apart.
//
//   Event e = *parse_event(line);                        // reader.h
//   if (e.type == EventType::kDecision && e.decision == policy::Verdict::kDeny) ...
//   fmt::print("{}\n", e.type.name());                   // "decision", or a newer type's own name
//
// The field names are a stable contract: pipelines parse them. Types this
// version does not know are kept (by name), never rejected: the contract
// allows new ones.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/time.h"
#include "miner/content_scan.h"
#include "policy/decision.h"

namespace tollgate::eventlog {

enum class EventType {
  kDecision,      // an exec was decided (every deny and would-deny; allows with log_allows)
  kStart,         // the daemon started
  kReload,        // a reload was attempted
  kMode,          // the mode changed
  kInstall,       // a staged install was handed to the daemon
  kRollback,      // a deliberate rollback (`tollgate db rollback`)
  kOverflow,      // the kernel queue overflowed
  kReadError,     // reading the fanotify group failed (rate-limited)
  kScan,          // tollgated's content scan of a denied or would-deny file, keyed by sha256
  kPendingTrust,  // the pending-trust set of packages apt is about to unpack grew or ended
  kMark,          // a filesystem marked (FAN_MARK_FILESYSTEM), or a mark that failed
  kFinding,       // the census found a process fanotify could not decide
  kKill,          // the census killed (or could not kill) such a process
};
std::string_view to_string(EventType type);
std::optional<EventType> parse_event_type(std::string_view name);

// What the process did to the file (the `event` field of a decision): exec,
// loader, library, script or open. One definition, the policy's
// (policy/access.h), so the kind decided and the kind logged are the same
// value and the same name.
using AccessKind = policy::AccessKind;
using policy::parse_access_kind;
using policy::to_string;

// A line's `type`: one this version knows, or the name a newer version
// wrote, kept as it is.
class TypeField {
 public:
  TypeField() = default;
  // Implicit, so a line can be written as {.type = EventType::kMode} or {.type = "mode"}.
  TypeField(EventType type) : known_(type), name_(to_string(type)) {}
  TypeField(std::string_view name) : known_(parse_event_type(name)), name_(name) {}
  TypeField(const char* name) : TypeField(std::string_view(name)) {}

  std::optional<EventType> known() const { return known_; }
  const std::string& name() const { return name_; }
  bool empty() const { return name_.empty(); }
  bool operator==(EventType type) const { return known_ == type; }
  bool operator==(std::string_view name) const { return name_ == name; }

 private:
  std::optional<EventType> known_;
  std::string name_;
};

// One line of the event log, as read back. Fields absent from the line keep
// their defaults; the typed fields are set only on the types that carry
// them (docs/events.md): `mode` on decision and start, `decision` and
// `event` on decision, `from`/`to` on mode, `scan` on scan.
struct Event {
  size_t line = 0;  // 1-based line number in its file
  std::string ts;   // as written, RFC 3339
  TimeUs ts_us = 0;
  std::string host;
  TypeField type;
  // decision (mode also on start)
  std::optional<policy::Mode> mode;
  std::optional<policy::Verdict> decision;
  bool would_deny = false;
  std::string rule, reason, source, path, sha256;
  AccessKind event = AccessKind::kExec;
  std::string exe, comm;
  uint64_t size = 0;
  int64_t pid = -1, ppid = -1, uid = -1;
  // "repeated": N (eventlog/coalescer.h): the line stands for N identical
  // decisions counted after the one written before it; 0 = absent.
  uint64_t repeated = 0;
  // How many decisions the line stands for: `repeated`, else 1.
  uint64_t count() const { return repeated ? repeated : 1; }
  // mode
  std::optional<policy::Mode> from, to;
  std::string by;       // as the client claimed it (mode, install, rollback)
  int64_t by_uid = -1;  // the uid that made the change (-1: not logged)
  bool forced = false;
  // scan (with path, sha256 and size above): the hits, bytes read and why the
  // scan ended. Unset when the line's sha256 is not 64 hex digits (nothing to
  // key it by); hits with a signal id this version does not know are skipped.
  std::optional<miner::ContentScan> scan;
  // the line itself, for `tollgate log --json` and fields of other types
  std::string raw;

  // A deny, or a would-deny in audit mode.
  bool denied_or_would() const {
    return type == EventType::kDecision && (decision == policy::Verdict::kDeny || would_deny);
  }
};

}  // namespace tollgate::eventlog
