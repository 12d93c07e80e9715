// Test helpers: a temporary directory removed at scope exit, small file
// writers, and running a command with its output captured.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tollgate::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_text(const std::string& path, const std::string& text, mode_t mode = 0644);
std::string read_text(const std::string& path);

struct CommandResult {
  int exit_code = -1;  // 128+signal when killed
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up in PATH) with a time limit; kills it (by pid)
// when the limit passes and reports exit code 124.
CommandResult run(const std::vector<std::string>& argv, int timeout_seconds = 60, const std::string& stdin_text = "");

// Waits for the child `pid` for up to `limit_ms`; past that it is killed
// (SIGKILL, by pid) and reaped. Returns waitpid's status.
int wait_child(pid_t pid, int limit_ms);

// Path of a built binary ("tollgate", "tollgated") from TOLLGATE_BUILD_DIR.
std::string built_binary(const std::string& name);
// Path under the source tree (fixtures) from TOLLGATE_SOURCE_DIR.
std::string source_path(const std::string& relative);

}  // namespace tollgate::testing
