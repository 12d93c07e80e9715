#include "tests/support/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/support/temp_dir.h"

extern char** environ;

namespace tollgate::testing {

int exec_errno(const std::string& path) {
  pid_t pid = -1;
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  int rc = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ);
  if (rc != 0) return rc;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return 0;
}

std::string DaemonProcess::start(const std::vector<std::string>& argv, const std::string& stderr_path,
                                 const std::function<bool()>& ready, int timeout_seconds) {
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) return "fork failed";
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(99);
    int fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) ::dup2(fd, 2);
    if (fd_limit_) {
      rlimit limit{fd_limit_, fd_limit_};
      if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(98);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return "exited at start: " + read_text(stderr_path);
    }
    if (ready()) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "did not become ready: " + read_text(stderr_path);
}

int DaemonProcess::stop(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = wait_child(pid_, 15000);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace tollgate::testing
