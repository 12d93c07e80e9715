// The event log's lines as the daemon writes them (docs/events.md): one
// JSON builder per event type, and the one-line syslog summary of each. The
// writer (writer.h) appends what these build; the reader (reader.h) parses
// them back into schema.h's Event.
//
//   log.submit(start_event(host, policy::Mode::kAudit, db, 7, version));
//   log.submit(decision_event(host, record));
//
// Every line has `ts` (RFC 3339 UTC with microseconds, common/time.h),
// `host` and `type`. The field names are a stable contract: the bytes these
// builders produce must not change (tests/eventlog/builders_test.cc).
// Pure functions (they read the clock), thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "census/record.h"
#include "common/error.h"
#include "eventlog/schema.h"
#include "miner/content_scan.h"
#include "miner/signals.h"
#include "policy/decision.h"

namespace tollgate::eventlog {

// The process that triggered a decision (read from /proc by the daemon:
// enforcer/process_info.h).
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  uid_t uid = 0;
  std::string exe;
  std::string comm;
};

struct DecisionRecord {
  std::chrono::system_clock::time_point ts;
  policy::Mode mode = policy::Mode::kAudit;
  policy::Decision decision;
  std::string path;
  std::string sha256;  // hex, empty when not hashed
  uint64_t size = 0;
  AccessKind event = AccessKind::kExec;
  ProcessInfo process;
  uint64_t latency_us = 0;
};

nlohmann::json decision_event(const std::string& host, const DecisionRecord& r);
// `degraded` (start, reload, install, rollback): why the policy in force is
// not simply the live database as configured (docs/events.md); the field is
// written only when non-empty.
nlohmann::json start_event(const std::string& host, policy::Mode mode, const std::string& database, uint64_t generation,
                           const std::string& version, const std::string& note = "", const std::string& degraded = "");
nlohmann::json reload_event(const std::string& host, bool ok, const std::string& database, uint64_t generation,
                            const std::string& error, const std::string& degraded = "");
// `by`: who the client says asked (a name, unverified); `by_uid`: the uid
// that actually made the change (the control socket peer's SO_PEERCRED uid,
// or the CLI's own uid when it writes the event itself).
//
// A staged install ({"cmd":"install"}) or a deliberate rollback (`tollgate db
// rollback`): who asked, the file handed in, the generation before and after.
struct PolicyChange {
  EventType type = EventType::kInstall;  // kInstall or kRollback
  bool ok = false;
  std::string database, file, by, error, degraded;
  int64_t by_uid = -1;
  uint64_t from_generation = 0, to_generation = 0;
};
nlohmann::json policy_change_event(const std::string& host, const PolicyChange& change);
// `until` (RFC 3339): a timed audit window (`tollgate mode audit --for`)
// ends then; written only when non-empty.
nlohmann::json mode_event(const std::string& host, policy::Mode from, policy::Mode to, const std::string& by,
                          bool forced, uid_t by_uid, const std::string& until = "");
// The pending-trust set (policy/pending_trust.h) grew or shrank: `action`
// "add" (reason "request", or "restart" when loaded from state_dir) or
// "end" (reason "refresh": the recompile landed; "covered": a policy that
// allows those hashes landed; "expired": pending_trust_ttl passed;
// "lockout": it passed, but the files a must_allow executable needs are
// kept one more TTL).
struct PendingTrustChange {
  std::string action, reason, by;
  int64_t by_uid = -1;
  uint64_t files = 0;                 // files added or ended
  uint64_t total = 0;                 // files in the set afterwards
  std::vector<std::string> packages;  // "PKG=VERSION" added or ended
  std::string expires;                // RFC 3339 end of the set; empty when it is empty
};
nlohmann::json pending_trust_event(const std::string& host, const PendingTrustChange& change);
nlohmann::json overflow_event(const std::string& host, uint64_t count);
// fanotify reads failed `count` times since the last such line (rate-limited);
// `error` is the last failure. The kernel denied each event it could not pass on.
nlohmann::json read_error_event(const std::string& host, const std::string& error, uint64_t count);

// The daemon's content scan of a denied or would-deny file (miner/
// content_scan.h), keyed by the sha256 the decision hashed.
struct ScanRecord {
  std::string sha256;  // 64 hex digits
  std::string path;    // as logged with the decision
  uint64_t size = 0;
  miner::ContentScan scan;
};
// sha256, path, size, scanned_bytes, end, hits[] ({signal, marker, offset}:
// a later report re-scores them with its own weights and the binary's full
// context) and miner{} scored at scan time from the content and path alone,
// for pipelines that alert on one line.
nlohmann::json scan_event(const std::string& host, const ScanRecord& record);
// {"suspect", "score", "reasons"}: the shape the scan event's `miner` and
// `tollgate report --json` share.
nlohmann::ordered_json assessment_json(const miner::Assessment& assessment);

// A filesystem the daemon marked (or failed to mark) (issue 10).
struct MarkRecord {
  std::string device;  // "major:minor", as in mountinfo
  std::string fs_type, source;
  std::vector<std::string> mount_points;  // where it is mounted in the daemon's namespace
  std::string trigger;                    // "start" (marked at start), "mount" (appeared later), "rescan" (a retry)
  bool ok = false;
  bool hidden = false;  // every mount of it hidden under another: marked from a private mount namespace
  std::string error;
};
nlohmann::json mark_event(const std::string& host, const MarkRecord& record);
// A census finding (census/record.h): finding_fields plus `action`, what
// on_unwatched does with it: "log", "kill" or "exempt".
nlohmann::json finding_event(const std::string& host, const census::ProcessRecord& record, std::string_view action);
// The fields of a finding (no ts/host/type): the finding event's and, the
// same names, one element of `tollgate sweep --json`.
nlohmann::json finding_fields(const census::ProcessRecord& record);
// The census's SIGKILL of a process with a finding, and whether it worked.
nlohmann::json kill_event(const std::string& host, const census::ProcessRecord& record, const Status& result);

// One syslog line for an event ("deny exec /tmp/x by pid 42 (bash): default-deny"),
// made printable() (common/text.h).
std::string syslog_summary(const nlohmann::json& event);
// Its syslog priority: LOG_ERR for a DEGRADED policy or a failed mark,
// LOG_WARNING for a deny, a census finding or kill, LOG_NOTICE otherwise.
int syslog_priority(const nlohmann::json& event);

}  // namespace tollgate::eventlog
