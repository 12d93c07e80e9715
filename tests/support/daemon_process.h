// Test helpers for end-to-end tests that run the real tollgated: spawn a
// binary and report its exec errno, and a daemon child that dies with the
// test (PR_SET_PDEATHSIG), is waited for until ready (bounded) and is
// stopped by pid (SIGTERM, bounded wait, then SIGKILL).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace tollgate::testing {

// posix_spawn errno of running `path` (0 = it ran; EPERM = denied). The
// child's exit status is ignored.
int exec_errno(const std::string& path);

class DaemonProcess {
 public:
  DaemonProcess() = default;
  ~DaemonProcess() { stop(); }
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Forks and execs argv (argv[0] an absolute path) with stderr appended to
  // stderr_path, then polls ready() every 50 ms for up to timeout_seconds.
  // Returns "" when ready, else why not (including the daemon's stderr).
  std::string start(const std::vector<std::string>& argv, const std::string& stderr_path,
                    const std::function<bool()>& ready, int timeout_seconds = 20);
  // SIGTERM (or `sig`), up to 15 s, then SIGKILL. Exit status, 128+signal,
  // or -1 when not running.
  int stop(int sig = 15);
  pid_t pid() const { return pid_; }
  // RLIMIT_NOFILE (soft and hard) for the next start(), like `ulimit -n N`
  // in the child before exec; 0 = inherit.
  void set_fd_limit(unsigned long limit) { fd_limit_ = limit; }

 private:
  pid_t pid_ = -1;
  unsigned long fd_limit_ = 0;
};

}  // namespace tollgate::testing
