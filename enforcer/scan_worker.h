// ScanWorker: the content scan of denied and would-deny files
// (miner/content_scan.h), done by tollgated after the answer, never on the
// answer path and never on the reading thread; the result is logged as a
// `scan` event keyed by sha256 (docs/events.md).
//
//   ScanWorker scans({.host = host}, &event_log, metrics);
//   scans.start();
//   engine.set_scanner(&scans);   // the engine offers each denied/would-deny file after answering it
//   ...
//   engine.stop(); scans.stop();  // the engine first: it may still offer
//
// Contract:
// - offer() never blocks and never reads the file: a lookup in the
//   per-content memory, then (first time for a sha256) dup(2) of the event's
//   fd onto a bounded queue. A sha256 already queued or scanned is skipped
//   (counted as `cached`): a retry loop is scanned once. With the queue full
//   the offer is dropped and counted (`dropped`), and the hash is not
//   remembered, so a later offer may scan it.
// - One worker thread, at SCHED_IDLE CPU priority and idle I/O priority,
//   scans one file at a time, at most max_bytes and max_time per file: the
//   decision workers (hashing) always run first, and an attacker's 40 GiB
//   file costs at most max_bytes of reading. Files over the daemon's
//   max_file_size are never hashed, so never offered.
// - The scan belongs to the content that was decided: the fd's size, ctime
//   and inode must match the stat the decision used, before and after the
//   scan; a file changed in between is not reported (counted as `skipped`).
// - Memory: at most queue_capacity queued fds and `remembered` sha256s
//   (oldest forgotten first).
//
// Thread-safety: offer() from any thread; start/stop/flush from one.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/unique_fd.h"
#include "enforcer/metrics.h"
#include "eventlog/writer.h"
#include "hashdb/sha256.h"

namespace tollgate::enforcer {

struct ScanWorkerOptions {
  std::string host;
  uint64_t max_bytes = uint64_t{64} << 20;
  std::chrono::milliseconds max_time{5000};
  size_t queue_capacity = 16;
  size_t remembered = 4096;
  bool idle_priority = true;  // tests may leave the thread's priority alone
};

// queue_capacity for a daemon whose RLIMIT_NOFILE soft limit is `nofile`:
// each queued scan holds a dup'ed fd, taken from the reserve that
// pending_bound_for_fd_limit (engine.h) leaves for the daemon's own files,
// so at most an eighth of that reserve (1 to 16): under `ulimit -n 64` an
// attacker's flood of new files cannot starve the control socket or the log.
size_t scan_queue_bound_for_fd_limit(uint64_t nofile);

class ScanWorker {
 public:
  // `log` may be null (scans are counted, not logged). log and metrics must outlive the worker.
  ScanWorker(ScanWorkerOptions options, eventlog::EventLog* log, Metrics& metrics);
  ~ScanWorker();
  ScanWorker(const ScanWorker&) = delete;
  ScanWorker& operator=(const ScanWorker&) = delete;

  void start();
  // Cancels the scan in progress (within one 1 MiB chunk), drops the queue, joins.
  void stop();
  // Never blocks; see the contract above. `st` is the stat the decision used.
  void offer(int fd, const hashdb::Sha256& sha256, const std::string& path, const struct stat& st);
  // Waits (bounded) until nothing is queued or being scanned; for tests.
  bool flush(std::chrono::milliseconds limit);

 private:
  struct Job {
    UniqueFd fd;
    hashdb::Sha256 sha256;
    std::string path;
    struct stat st;
  };
  struct HashKey {
    size_t operator()(const hashdb::Sha256& s) const;
  };
  void run();
  void scan(Job& job);
  void forget(const hashdb::Sha256& sha256);
  void remember_done(const hashdb::Sha256& sha256);  // caller holds mu_

  ScanWorkerOptions options_;
  eventlog::EventLog* log_;
  Metrics& metrics_;
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Job> queue_;  // guarded by mu_
  // sha256 -> position in done_ (scanned) or done_.end() (queued or being scanned).
  std::unordered_map<hashdb::Sha256, std::list<hashdb::Sha256>::iterator, HashKey> known_;  // guarded by mu_
  std::list<hashdb::Sha256> done_;  // scanned, oldest first; guarded by mu_
  bool busy_ = false;               // guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

}  // namespace tollgate::enforcer
