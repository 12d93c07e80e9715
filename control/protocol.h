// The control protocol between tollgated and its clients (the tollgate CLI,
// tests): typed requests and replies, and their JSON. The wire format is a
// unix stream socket speaking JSON Lines, one request object per line, one
// reply object per line:
//
//   {"cmd":"status"}
//   {"cmd":"reload"}
//   {"cmd":"set_mode","mode":"enforce","by":"alice","forced":false}
//   {"cmd":"install","candidate":"/var/lib/tollgate/policy.db.candidate","by":"alice"}
//   {"cmd":"rollback","file":"/var/backups/tollgate/policy-gen6.db","by":"alice"}     (root only)
//   {"cmd":"set_mode","mode":"audit","by":"alice","for_s":600}            (time-boxed audit)
//   {"cmd":"trust_pending","by":"apt-hook","packages":[{"package":"bash","version":"5.2-1",
//                                                       "files":[["/usr/bin/bash","<64 hex>"]]}]}
//   {"cmd":"end_pending","by":"apt-hook"}
//   -> {"ok":true, ...}  or  {"ok":false,"error":"one line"}
//
// The server (server.h) parses requests with parse_control_request and
// answers with to_json(reply) or control_error; the client (client.h) sends
// to_json(request) and reads the reply back with the *_from_json functions.
// Field names are what docs/cli.md (`tollgate status --json`) documents.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "policy/decision.h"
#include "policy/pending_trust.h"

namespace tollgate::control {

struct ControlRequest {
  enum class Cmd { kStatus, kReload, kSetMode, kInstall, kRollback, kTrustPending, kEndPending };
  Cmd cmd = Cmd::kStatus;
  policy::Mode mode = policy::Mode::kAudit;  // set_mode only
  std::string by;                            // set_mode, install, rollback, *_pending: who asked
  bool forced = false;                       // set_mode: recorded in the mode event
  std::string path;                          // install: "candidate" (optional); rollback: "file"
  int64_t for_s = 0;                         // set_mode audit: back to enforce after this many seconds (0 = not timed)
  std::vector<policy::PendingFile> pending;  // trust_pending: "packages" (policy/pending_trust.h)

  static ControlRequest status() { return {}; }
  static ControlRequest reload() { return {.cmd = Cmd::kReload}; }
  static ControlRequest set_mode(policy::Mode mode, std::string by, bool forced) {
    return {.cmd = Cmd::kSetMode, .mode = mode, .by = std::move(by), .forced = forced};
  }
  static ControlRequest install(std::string candidate, std::string by) {
    return {.cmd = Cmd::kInstall, .by = std::move(by), .path = std::move(candidate)};
  }
  static ControlRequest rollback(std::string file, std::string by) {
    return {.cmd = Cmd::kRollback, .by = std::move(by), .path = std::move(file)};
  }
  static ControlRequest timed_audit(std::chrono::seconds duration, std::string by) {
    return {.cmd = Cmd::kSetMode, .mode = policy::Mode::kAudit, .by = std::move(by), .for_s = duration.count()};
  }
  static ControlRequest trust_pending(std::vector<policy::PendingFile> files, std::string by) {
    return {.cmd = Cmd::kTrustPending, .by = std::move(by), .pending = std::move(files)};
  }
  static ControlRequest end_pending(std::string by) { return {.cmd = Cmd::kEndPending, .by = std::move(by)}; }
};

// The longest timed audit window a request may open.
inline constexpr int64_t kMaxTimedAuditSeconds = 24 * 3600;

// Parses one request line; errors are one line for the {"ok":false} reply.
Result<ControlRequest> parse_control_request(std::string_view line);
// The request line a client sends.
nlohmann::json to_json(const ControlRequest& request);

// {"ok":false,"error":MESSAGE}.
nlohmann::json control_error(const std::string& message);

// reload, install and rollback: the database now in force.
struct GenerationReply {
  std::string database;
  uint64_t generation = 0;
};
// set_mode: the mode now in force.
struct ModeReply {
  policy::Mode mode = policy::Mode::kAudit;
};

// trust_pending and end_pending: the pending-trust set now in force.
struct PendingReply {
  uint64_t added = 0;                 // trust_pending: files new to the set
  uint64_t ended = 0;                 // end_pending: files removed
  uint64_t files = 0;                 // in the set now
  std::vector<std::string> packages;  // "PKG=VERSION", sorted
  std::string expires;                // RFC 3339; empty when the set is empty
};

// status: what the daemon is doing (`tollgate status`, docs/cli.md).
struct StatusReply {
  struct Health {
    std::string status = "OK";  // OK or DEGRADED
    std::string reason;         // why DEGRADED; empty when OK
  };
  struct Counts {
    uint64_t hash_allow = 0, hash_deny = 0, path_allow = 0, path_deny = 0, signers = 0;
  };
  struct Database {
    std::string path;  // the file the policy in force came from (or the live path when none is)
    bool loaded = false;
    uint64_t generation = 0;
    // Only when loaded:
    std::string content_digest;
    bool is_signed = false;  // "signed"
    Counts counts;
  };
  struct Integrity {
    std::string live_database, state_dir, last_known_good;
    bool state_usable = false;
    uint64_t floor_generation = 0;
    std::string floor_content_digest;
    bool public_key_pinned = false;
  };
  // Inode ignore marks (enforcer/ignore_marks.h).
  struct IgnoreMarks {
    bool enabled = false;
    std::string reason;   // why not, when off
    std::string flavour;  // the kernel flags in use; empty before the first mark
    uint64_t count = 0, max = 0, added = 0, flushes = 0, failures = 0;
  };
  // The daemon's counters (enforcer/metrics.h says what each counts). On
  // the wire: "counters": {name: value}, the names of kCounterFields.
  struct Counters {
    uint64_t allowed = 0, denied = 0, would_deny = 0, errors = 0;
    uint64_t timeouts = 0, too_large = 0, overloads = 0;  // of errors: why on_error answered
    uint64_t read_errors = 0;                             // fanotify reads that failed: the kernel denied that event
    uint64_t cache_hits = 0, cache_misses = 0, hash_bytes = 0, overflows = 0;
    uint64_t log_dropped = 0, log_coalesced = 0;
    uint64_t plain_opens = 0;  // coverage: full, allowed without a decision (not code)
    int64_t queue_depth = 0;
  };

  // A filesystem the daemon watches (issue 10): one FAN_MARK_FILESYSTEM mark.
  struct Filesystem {
    std::string device;  // "major:minor", as in mountinfo
    std::string fs_type, source;
    std::vector<std::string> mount_points;  // where it is mounted in the daemon's namespace
    bool network = false;
    bool marked = false;
    std::string error;  // why it is not marked ("pending" for a network filesystem before its first pass)
  };
  // The census (issue 10): what fanotify cannot see.
  struct Census {
    bool enabled = false;
    int64_t interval_ms = 0;
    std::string on_unwatched;  // log or kill
    uint64_t walks = 0, last_walk_us = 0, processes = 0, findings = 0, exempt = 0, killed = 0, kill_failed = 0;
  };

  std::string version;
  int64_t pid = 0;
  std::optional<policy::Mode> mode;  // unset only in a reply without a valid "mode"
  std::string coverage;              // exec or full
  int64_t uptime_s = 0;
  Health health;
  Database database;
  Integrity integrity;
  std::vector<std::string> watched;     // the watch: prefixes as configured
  std::vector<Filesystem> filesystems;  // what they cover now
  std::optional<Census> census;         // unset from a daemon before issue 10
  PendingReply pending_trust;           // "pending_trust": {"files", "packages", "expires"}
  std::string audit_until;              // RFC 3339 end of a timed audit window; empty = none
  IgnoreMarks ignore_marks;
  Counters counters;
  uint64_t latency_p50_us = 0, latency_p99_us = 0;  // "latency_us": {"p50", "p99"}

  // The object as received (status_from_json), for `tollgate status --json`.
  nlohmann::json raw;
};

// Each uint64 counter with its wire name, in wire order (queue_depth, a
// gauge, is written after them): to_json and status_from_json both walk it.
inline constexpr std::pair<const char*, uint64_t StatusReply::Counters::*> kCounterFields[] = {
    {"allowed", &StatusReply::Counters::allowed},         {"denied", &StatusReply::Counters::denied},
    {"would_deny", &StatusReply::Counters::would_deny},   {"errors", &StatusReply::Counters::errors},
    {"timeouts", &StatusReply::Counters::timeouts},       {"too_large", &StatusReply::Counters::too_large},
    {"overloads", &StatusReply::Counters::overloads},     {"read_errors", &StatusReply::Counters::read_errors},
    {"cache_hits", &StatusReply::Counters::cache_hits},   {"cache_misses", &StatusReply::Counters::cache_misses},
    {"hash_bytes", &StatusReply::Counters::hash_bytes},   {"overflows", &StatusReply::Counters::overflows},
    {"log_dropped", &StatusReply::Counters::log_dropped}, {"log_coalesced", &StatusReply::Counters::log_coalesced},
    {"plain_opens", &StatusReply::Counters::plain_opens},
};

// {"ok":true, ...fields}.
nlohmann::json to_json(const GenerationReply& reply);
nlohmann::json to_json(const ModeReply& reply);
nlohmann::json to_json(const StatusReply& reply);
nlohmann::json to_json(const PendingReply& reply);

// Replies read back by the client: missing or mistyped fields keep their
// defaults (a newer or older daemon may differ); only a reply that is not
// an object is an error.
Result<GenerationReply> generation_from_json(const nlohmann::json& reply);
Result<ModeReply> mode_from_json(const nlohmann::json& reply);
Result<StatusReply> status_from_json(const nlohmann::json& reply);
Result<PendingReply> pending_from_json(const nlohmann::json& reply);

}  // namespace tollgate::control
