#include "enforcer/process_info.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <string>
#include <string_view>

#include "common/io.h"
#include "common/unique_fd.h"

namespace tollgate::enforcer {
namespace {

std::string read_small(const std::string& path) {
  auto text = read_file(path, 64 * 1024);
  return text ? *text : std::string();
}

}  // namespace

ProcessInfo read_process_info(pid_t pid) {
  ProcessInfo info;
  info.pid = pid;
  const std::string dir = "/proc/" + std::to_string(pid);
  char buf[4096];
  ssize_t n = ::readlink((dir + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) info.exe.assign(buf, static_cast<size_t>(n));
  info.comm = read_small(dir + "/comm");
  while (!info.comm.empty() && info.comm.back() == '\n') info.comm.pop_back();
  std::string status = read_small(dir + "/status");
  auto field = [&](std::string_view name) -> std::string {
    auto pos = status.find(name);
    if (pos == std::string::npos) return {};
    pos += name.size();
    auto end = status.find_first_of("\t\n", status.find_first_not_of(" \t", pos));
    return status.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  };
  try {
    if (auto p = field("\nPPid:\t"); !p.empty()) info.ppid = static_cast<pid_t>(std::stol(p));
    if (auto u = field("\nUid:\t"); !u.empty()) info.uid = static_cast<uid_t>(std::stoul(u));
  } catch (const std::exception&) {
  }
  return info;
}

pid_t parse_stat_ppid(std::string_view stat) {
  auto close = stat.rfind(')');
  if (close == std::string_view::npos) return 0;
  stat.remove_prefix(close + 1);
  // " S PPID ...": the state, then the parent pid.
  auto state = stat.find_first_not_of(' ');
  if (state == std::string_view::npos) return 0;
  auto start = stat.find_first_not_of(' ', stat.find(' ', state));
  if (start == std::string_view::npos) return 0;
  pid_t ppid = 0;
  auto [ptr, ec] = std::from_chars(stat.data() + start, stat.data() + stat.size(), ppid);
  (void)ptr;
  return ec == std::errc() && ppid > 0 ? ppid : 0;
}

pid_t read_ppid(pid_t pid) {
  const std::string name = "/proc/" + std::to_string(pid) + "/stat";
  UniqueFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return 0;
  char buf[512];  // pid, (comm: at most 16 bytes), state, ppid come first
  ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return 0;
  return parse_stat_ppid(std::string_view(buf, static_cast<size_t>(n)));
}

}  // namespace tollgate::enforcer
