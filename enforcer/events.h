// The event log (docs/events.md): JSON object builders for every event type,
// and EventLog, the writer thread that appends them as JSON Lines.
//
//   EventLog log({.path = "/var/log/tollgate/events.jsonl", .syslog = true}, metrics);
//   log.start();
//   log.submit(start_event(host, "audit", db, 7, version));   // never blocks
//   log.reopen();                                             // after SIGHUP (logrotate)
//
// submit() only pushes onto a bounded queue and returns at once: a stalled
// sink (full disk, blocked syslog) can never delay a verdict. When the queue
// is full the line is dropped and counted (Metrics::log_dropped). The writer
// thread appends whole lines with O_APPEND and one write(2) each, as
// ASCII-only JSON (non-ASCII as \u escapes). The file is opened with
// open_regular (common/io.h): a symlink or FIFO at the path is refused with a
// clear error on stderr, and retried on the next event and on reopen().
// Thread-safety: submit/reopen/dropped from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "enforcer/metrics.h"
#include "policy/decision.h"

namespace tollgate::enforcer {

// What /proc says about the process that triggered an event.
struct ProcessInfo {
  pid_t pid = 0;
  pid_t ppid = 0;
  uid_t uid = 0;
  std::string exe;
  std::string comm;
};
// Reads /proc/PID/{exe,comm,status}; fields it cannot read stay empty/0.
ProcessInfo read_process_info(pid_t pid);

struct DecisionRecord {
  std::chrono::system_clock::time_point ts;
  policy::Mode mode = policy::Mode::kAudit;
  policy::Decision decision;
  std::string path;
  std::string sha256;  // hex, empty when not hashed
  uint64_t size = 0;
  std::string event = "exec";
  ProcessInfo process;
  uint64_t latency_us = 0;
};

nlohmann::json decision_event(const std::string& host, const DecisionRecord& r);
// `degraded` (start, reload, install, rollback): why the policy in force is
// not simply the live database as configured (docs/events.md); the field is
// written only when non-empty.
nlohmann::json start_event(const std::string& host, policy::Mode mode, const std::string& database,
                           uint64_t generation, const std::string& version, const std::string& note = "",
                           const std::string& degraded = "");
nlohmann::json reload_event(const std::string& host, bool ok, const std::string& database, uint64_t generation,
                            const std::string& error, const std::string& degraded = "");
// `by`: who the client says asked (a name, unverified); `by_uid`: the uid
// that actually made the change (the control socket peer's SO_PEERCRED uid,
// or the CLI's own uid when it writes the event itself).
//
// A staged install ({"cmd":"install"}) or a deliberate rollback (`tollgate db
// rollback`): who asked, the file handed in, the generation before and after.
struct PolicyChange {
  std::string type;  // "install" or "rollback"
  bool ok = false;
  std::string database, file, by, error, degraded;
  int64_t by_uid = -1;
  uint64_t from_generation = 0, to_generation = 0;
};
nlohmann::json policy_change_event(const std::string& host, const PolicyChange& change);
nlohmann::json mode_event(const std::string& host, policy::Mode from, policy::Mode to, const std::string& by,
                          bool forced, uid_t by_uid);
nlohmann::json overflow_event(const std::string& host, uint64_t count);
// fanotify reads failed `count` times since the last such line (rate-limited);
// `error` is the last failure. The kernel denied each event it could not pass on.
nlohmann::json read_error_event(const std::string& host, const std::string& error, uint64_t count);

// One syslog line for an event ("deny exec /tmp/x by pid 42 (bash): default-deny"),
// made printable() (common/text.h).
std::string syslog_summary(const nlohmann::json& event);

struct EventLogOptions {
  std::string path;      // empty = no file
  bool syslog = false;   // LOG_AUTHPRIV summaries
  size_t queue_capacity = 8192;
};

class EventLog {
 public:
  EventLog(EventLogOptions options, Metrics& metrics);
  ~EventLog();  // stops and flushes what is queued
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Opens the file (creating its directory is the admin's job) and starts
  // the writer thread. An unopenable file is reported and retried on reopen().
  void start();
  // Queues one event; false when dropped (queue full or stopped).
  bool submit(nlohmann::json event);
  // Reopen the file at the next opportunity (logrotate moved it).
  void reopen();
  // Waits (bounded) until the queue is written; for tests and shutdown.
  void flush(std::chrono::milliseconds limit = std::chrono::milliseconds(2000));
  void stop();

 private:
  void run();
  void open_file();

  EventLogOptions options_;
  Metrics& metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<nlohmann::json> queue_;  // guarded by mu_
  bool stopping_ = false;             // guarded by mu_
  bool reopen_ = false;               // guarded by mu_
  bool busy_ = false;                 // guarded by mu_
  UniqueFd fd_;                       // writer thread only
  bool open_failed_reported_ = false; // writer thread only
  std::thread thread_;
};

}  // namespace tollgate::enforcer
