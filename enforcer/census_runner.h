// The daemon's census thread: every census_interval_ms a walk of /proc
// (census/census.h) against the policy in force and the filesystems
// the MountWatcher has marked; each finding is a "finding" event, and with
// `on_unwatched: kill` in enforce mode a killable finding (census::killable)
// is killed and the kill logged ("kill" event).
//
//   CensusRunner census(engine, coverage, &log, proc, {.interval_ms = 2000, .kill = false, .host = "web1"});
//   std::thread t([&] { census.run(); });
//   ...
//   census.stop(); t.join();
//
// Never killed, whatever the config: PID 1, the daemon itself, kernel
// threads (census::ProcFs::kill refuses them), an exempt executable, and
// anything while the daemon audits. The first walk starts at once.
//
// "unapproved"/"deleted" are judged by census::judge_executable (the
// policy's own policy::decide_file, in enforce mode) against the policy in
// force, on the process's /proc/PID/exe, remembered per file (device,
// inode, size, ctime) and policy epoch, so each executable is hashed once
// per policy.
// Thread-safety: run() on one thread; stop() and status() from any.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "census/census.h"
#include "census/process.h"
#include "control/protocol.h"
#include "enforcer/engine.h"
#include "enforcer/mount_watcher.h"

namespace tollgate::eventlog {
class EventLog;
}

namespace tollgate::enforcer {

using eventlog::EventLog;

struct CensusRunnerOptions {
  int interval_ms = 2000;
  bool kill = false;  // on_unwatched: kill
  std::vector<census::Exemption> exempt;
  uint64_t max_file_size = uint64_t{2} << 30;  // larger executables are judged unhashed
  std::string host;
};

class CensusRunner {
 public:
  CensusRunner(Engine& engine, const MountWatcher& coverage, EventLog* log, census::ProcSource& proc,
               CensusRunnerOptions options);
  void run();
  void stop();
  // The status reply's `census` (enabled: interval_ms > 0).
  control::StatusReply::Census status() const;
  // One walk now (run() calls it; tests too).
  void walk_once();

 private:
  // census::judge_executable, remembered per file and policy epoch.
  std::optional<census::Judgement> judge(int fd);

  Engine& engine_;
  const MountWatcher& coverage_;
  EventLog* log_;
  census::ProcSource& proc_;
  CensusRunnerOptions options_;
  census::Census census_;
  // (dev, ino, size, ctime ns, policy epoch) -> judgement; run() thread only.
  std::map<std::tuple<dev_t, ino_t, off_t, int64_t, uint64_t>, census::Judgement> judged_;
  // The mount watcher's answer to "was this file reached through one of our mounts?".
  std::function<bool(int fd)> path_means_here_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::atomic<uint64_t> walks_{0}, findings_{0}, killed_{0}, kill_failed_{0}, exempt_{0}, processes_{0};
  std::atomic<uint64_t> last_walk_us_{0};
};

}  // namespace tollgate::enforcer
