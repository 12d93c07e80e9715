// Appending to the event log (docs/events.md). The daemon is the log's only
// writer while it runs: EventLog is its writer thread. The CLI writes a line
// itself (append_event) only for a change it made while the daemon was not
// running to record it (`tollgate mode`, `tollgate db rollback`). Both write
// the same bytes: encode_line.
//
//   std::atomic<uint64_t> dropped{0};
//   EventLog log({.path = "/var/log/tollgate/events.jsonl", .syslog = true}, dropped);
//   log.start();
//   log.submit(start_event(host, policy::Mode::kAudit, db, 7, version));   // never blocks
//   log.reopen();                                                         // after SIGHUP (logrotate)
//
// submit() only pushes onto a bounded queue and returns at once: a stalled
// sink (full disk, blocked syslog) can never delay a verdict. When the queue
// is full the line is dropped and counted (`dropped`, the daemon's
// Metrics::log_dropped). The writer thread appends whole lines with O_APPEND
// and one write(2) each, as ASCII-only JSON (non-ASCII as \u escapes). The
// file is opened with open_regular (common/io.h): a symlink or FIFO at the
// path is refused with a clear error on stderr, and retried on the next
// event and on reopen().
// Thread-safety: submit/reopen/flush from any thread; append_event and
// encode_line are plain functions.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"

namespace tollgate::eventlog {

// One line of the log: ASCII-only JSON (a path's controls, C1 or bidi
// characters become \u escapes, invalid UTF-8 U+FFFD) and "\n".
std::string encode_line(const nlohmann::json& event);

// Appends one event (built by builders.h) to the log at `path`, opened with
// open_regular (no symlink, no FIFO), created 0640 when missing, in one
// write(2). For the CLI when the daemon is not running; errors name the file.
Status append_event(const std::string& path, const nlohmann::json& event);

struct EventLogOptions {
  std::string path;     // empty = no file
  bool syslog = false;  // LOG_AUTHPRIV summaries (builders.h, syslog_summary)
  size_t queue_capacity = 8192;
};

class EventLog {
 public:
  // `dropped` counts the lines dropped because the queue was full; it must
  // outlive the EventLog.
  EventLog(EventLogOptions options, std::atomic<uint64_t>& dropped);
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
  std::atomic<uint64_t>& dropped_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<nlohmann::json> queue_;   // guarded by mu_
  bool stopping_ = false;              // guarded by mu_
  bool reopen_ = false;                // guarded by mu_
  bool busy_ = false;                  // guarded by mu_
  UniqueFd fd_;                        // writer thread only
  bool open_failed_reported_ = false;  // writer thread only
  std::thread thread_;
};

}  // namespace tollgate::eventlog
