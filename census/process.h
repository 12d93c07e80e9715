// What /proc says about processes, as plain values, behind a small
// interface so the census is unit-tested with a fake (tests/census/).
//
//   ProcFs proc("/proc");                       // a proc root (tests: a pid namespace's)
//   for (pid_t pid : proc.pids())
//     if (auto id = proc.identity(pid)) ...     // cheap: once per process per walk
//   auto facts = proc.facts(pid);               // once per new process
//   auto st = proc.kill(record.id);             // only if it is still that very process
//
// Identity: a process is the same process while its pid, its start time and
// its executable (device and inode) stay the same. An exec changes the
// executable (so `fexecve` of a memfd by a process the census already knew
// is a new process to it); a reused pid changes the start time. Reading the
// start time costs a /proc/PID/stat read (~5 us, twice the statx of
// /proc/PID/exe), so identity() gives the executable only and start_ticks()
// the start time, for the few processes where it matters.
//
// Kill safety (kill()): never pid 1, never the caller itself, never a kernel
// thread; only when the proc root shows the caller's own pid namespace
// (/proc/self is the caller's pid: a proc of another namespace would name
// other processes by the same numbers); and only through a pidfd opened
// first and then checked to be the expected identity, so a pid reused in
// between is never signalled.
// Thread-safety: ProcFs is not thread-safe; use one per thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace tollgate::census {

struct ProcessId {
  pid_t pid = 0;
  uint64_t start_ticks = 0;  // /proc/PID/stat starttime: clock ticks after boot
  dev_t exe_dev = 0;         // stat of the executable; both 0 when it has none
  ino_t exe_ino = 0;
  bool operator==(const ProcessId&) const = default;
};

struct ProcessFacts {
  ProcessId id;
  bool kernel_thread = false;  // PF_KTHREAD
  bool has_exe = false;        // /proc/PID/exe resolves (not for kernel threads and zombies)
  int exe_mount_id = -1;       // the executable's mount (STATX_MNT_ID), in the process's namespace; -1 unknown
  std::string exe;             // readlink of /proc/PID/exe: "/usr/bin/x", "/x (deleted)", "/memfd:n (deleted)"
  pid_t ppid = 0;
  uid_t uid = 0;  // real uid
  std::string comm;
  std::string cmdline;     // arguments joined by spaces, at most 4 KiB
  uint64_t mnt_ns = 0;     // inode of /proc/PID/ns/mnt; 0 unknown
  uint64_t cpu_ticks = 0;  // utime + stime
  uint64_t rss_pages = 0;
};

class ProcSource {
 public:
  virtual ~ProcSource() = default;
  virtual std::vector<pid_t> pids() = 0;
  // The pid and executable (start_ticks left 0): one statx. nullopt: gone
  // or unreadable.
  virtual std::optional<ProcessId> identity(pid_t pid) = 0;
  // /proc/PID/stat's start time; nullopt: gone.
  virtual std::optional<uint64_t> start_ticks(pid_t pid) = 0;
  virtual std::optional<ProcessFacts> facts(pid_t pid) = 0;
  // The process's own /proc/PID/mountinfo (its mount namespace's view).
  virtual std::optional<std::string> mountinfo(pid_t pid) = 0;
  // The executable, opened for reading (memfds and deleted files too).
  virtual Result<UniqueFd> open_exe(pid_t pid) = 0;
  // readlink of /proc/PID/exe, "" when unreadable.
  virtual std::string exe_path(pid_t pid) = 0;
  // Unix time (µs) of a start time in ticks after boot.
  virtual int64_t start_time_us(uint64_t start_ticks) = 0;
  virtual std::string user_name(uid_t uid) = 0;
  // SIGKILL to `expected`, only if it is still that process (see above).
  virtual Status kill(const ProcessId& expected) = 0;
};

// The mount id (STATX_MNT_ID) of `path` relative to `dirfd` (follows a final
// symlink unless `nofollow`; "" with AT_EMPTY_PATH semantics means `dirfd`
// itself). Kernels before 5.8 have no mount id: kUnavailable.
Result<int> mount_id_at(int dirfd, const std::string& path, bool nofollow = false);

// The real /proc (or any proc mount: `root`).
class ProcFs final : public ProcSource {
 public:
  explicit ProcFs(std::string root = "/proc");
  std::vector<pid_t> pids() override;
  std::optional<ProcessId> identity(pid_t pid) override;
  std::optional<uint64_t> start_ticks(pid_t pid) override;
  std::optional<ProcessFacts> facts(pid_t pid) override;
  std::optional<std::string> mountinfo(pid_t pid) override;
  Result<UniqueFd> open_exe(pid_t pid) override;
  std::string exe_path(pid_t pid) override;
  int64_t start_time_us(uint64_t start_ticks) override;
  std::string user_name(uid_t uid) override;
  Status kill(const ProcessId& expected) override;

  // Whether this proc root belongs to our pid namespace (/proc/self is us).
  bool shows_own_pid_namespace() const;
  const std::string& root() const { return root_; }

 private:
  std::string path(pid_t pid, const char* leaf) const;
  std::string root_;
  int64_t boot_time_us_ = -1;  // from ROOT/stat btime, read once
};

}  // namespace tollgate::census
