#include "miner/proc_sample.h"

#include <dirent.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <thread>

#include "common/io.h"

namespace tollgate::miner {
namespace {

constexpr unsigned long kPfKthread = 0x00200000;  // include/linux/sched.h
constexpr size_t kMaxProcFile = 1 << 20;          // stat, status, cmdline, comm
constexpr size_t kMaxNetTable = 32u << 20;        // net/tcp of a busy host

std::string read_link(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string read_small(const std::string& path) {
  auto text = read_file(path, kMaxProcFile);
  return text ? *text : std::string();
}

template <typename T>
bool parse_number(std::string_view text, T& out, int base = 10) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// "0100007F" (IPv4, little-endian word) or 32 hex digits (IPv6, four
// little-endian words) -> text.
std::optional<std::string> decode_address(std::string_view hex) {
  auto byte_at = [&](size_t i) -> std::optional<unsigned> {
    unsigned v = 0;
    if (!parse_number(hex.substr(i, 2), v, 16)) return std::nullopt;
    return v;
  };
  if (hex.size() == 8) {
    std::string out;
    for (int i = 3; i >= 0; --i) {
      auto b = byte_at(static_cast<size_t>(i) * 2);
      if (!b) return std::nullopt;
      out += (out.empty() ? "" : ".") + std::to_string(*b);
    }
    return out;
  }
  if (hex.size() == 32) {
    std::string out;
    for (size_t word = 0; word < 4; ++word) {
      for (int i = 3; i >= 0; i -= 2) {  // two 16-bit groups per word, bytes reversed
        auto hi = byte_at(word * 8 + static_cast<size_t>(i) * 2),
             lo = byte_at(word * 8 + static_cast<size_t>(i - 1) * 2);
        if (!hi || !lo) return std::nullopt;
        out += fmt::format("{}{:x}", out.empty() ? "" : ":", (*hi << 8) | *lo);
      }
    }
    return "[" + out + "]";
  }
  return std::nullopt;
}

}  // namespace

std::optional<TcpLine> parse_tcp_line(std::string_view line) {
  auto f = split_spaces(line);
  if (f.size() < 10 || f[0].empty() || f[0].back() != ':') return std::nullopt;
  auto colon = f[2].find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  TcpLine t;
  auto addr = decode_address(f[2].substr(0, colon));
  if (!addr || !parse_number(f[2].substr(colon + 1), t.remote_port, 16) || !parse_number(f[3], t.state, 16) ||
      !parse_number(f[9], t.inode))
    return std::nullopt;
  t.remote = fmt::format("{}:{}", *addr, t.remote_port);
  return t;
}

Result<ProcSnapshot> read_snapshot(const std::string& proc_root, pid_t pid) {
  const std::string dir = fmt::format("{}/{}", proc_root, pid);
  auto stat = read_file(dir + "/stat", kMaxProcFile);
  if (!stat) return std::unexpected(stat.error());
  ProcSnapshot s;
  s.pid = pid;
  // "PID (COMM) STATE PPID ...": comm may hold spaces and parentheses; the
  // fields after the last ')' are fixed.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return fail(ErrorCode::kInvalidInput, dir + "/stat: no ')' after the command name");
  auto fields = split_spaces(std::string_view(*stat).substr(close + 1));
  unsigned long flags = 0;
  uint64_t utime = 0, stime = 0;
  // fields[0] is field 3 (state): flags 9, utime 14, stime 15, starttime 22.
  if (fields.size() < 20 || !parse_number(fields[6], flags) || !parse_number(fields[11], utime) ||
      !parse_number(fields[12], stime) || !parse_number(fields[19], s.start_ticks))
    return fail(ErrorCode::kInvalidInput, dir + "/stat: unexpected format");
  s.kernel_thread = (flags & kPfKthread) != 0;
  s.cpu_ticks = utime + stime;
  s.comm = read_small(dir + "/comm");
  while (!s.comm.empty() && s.comm.back() == '\n') s.comm.pop_back();
  std::string cmdline = read_small(dir + "/cmdline");
  s.argv0 = cmdline.substr(0, cmdline.find('\0'));
  s.exe = read_link(dir + "/exe");
  std::string status = read_small(dir + "/status");
  if (auto at = status.find("\nHugetlbPages:"); at != std::string::npos) {
    auto words = split_spaces(std::string_view(status).substr(at + 14, status.find('\n', at + 1) - at - 14));
    if (!words.empty()) parse_number(words[0], s.hugetlb_kb);
  }
  if (DIR* fds = ::opendir((dir + "/fd").c_str())) {
    size_t seen = 0;
    while (dirent* e = ::readdir(fds)) {
      if (e->d_name[0] == '.') continue;
      if (++seen > kMaxFds) break;
      std::string target = read_link(dir + "/fd/" + e->d_name);
      uint64_t inode = 0;
      if (target.starts_with("socket:[") && target.ends_with("]") &&
          parse_number(std::string_view(target).substr(8, target.size() - 9), inode))
        s.socket_inodes.push_back(inode);
      else if (target.starts_with("/dev/cpu/") && target.ends_with("/msr")) s.msr_devices.push_back(target);
    }
    ::closedir(fds);
  }
  std::ranges::sort(s.msr_devices);
  return s;
}

std::vector<Connection> read_connections(const std::string& proc_root, pid_t pid, const std::vector<uint64_t>& inodes) {
  std::vector<Connection> out;
  if (inodes.empty()) return out;
  for (const char* table : {"tcp", "tcp6"}) {
    auto text = read_file(fmt::format("{}/{}/net/{}", proc_root, pid, table), kMaxNetTable);
    if (!text) continue;
    std::string_view rest(*text);
    while (!rest.empty()) {
      auto nl = rest.find('\n');
      auto line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      auto t = parse_tcp_line(line);
      if (!t || (t->state != 1 && t->state != 2)) continue;  // ESTABLISHED, SYN_SENT
      if (std::ranges::find(inodes, t->inode) != inodes.end()) out.push_back({t->remote, t->remote_port});
    }
  }
  return out;
}

ProcessFacts facts_from(const ProcSnapshot& first, const ProcSnapshot& last, double window_s, long ticks_per_second,
                        std::vector<Connection> connections) {
  ProcessFacts f;
  f.pid = last.pid;
  f.comm = last.comm;
  f.argv0 = last.argv0;
  f.exe = last.exe;
  f.kernel_thread = last.kernel_thread;
  f.window_s = window_s;
  if (window_s > 0 && ticks_per_second > 0 && last.cpu_ticks >= first.cpu_ticks)
    f.cpu_cores =
        static_cast<double>(last.cpu_ticks - first.cpu_ticks) / static_cast<double>(ticks_per_second) / window_s;
  f.hugetlb_kb = last.hugetlb_kb;
  f.msr_devices = last.msr_devices;
  f.connections = std::move(connections);
  return f;
}

std::vector<ProcessFacts> sample_processes(const std::string& proc_root, const std::vector<pid_t>& pids,
                                           std::chrono::milliseconds window) {
  const long ticks = ::sysconf(_SC_CLK_TCK);
  std::map<pid_t, ProcSnapshot> first;
  for (pid_t pid : pids)
    if (auto s = read_snapshot(proc_root, pid)) first.emplace(pid, std::move(*s));
  const auto started = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);
  const double window_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::vector<ProcessFacts> out;
  for (const auto& [pid, before] : first) {
    auto after = read_snapshot(proc_root, pid);
    if (!after || after->start_ticks != before.start_ticks) continue;  // gone, or another process now
    auto connections = read_connections(proc_root, pid, after->socket_inodes);
    out.push_back(facts_from(before, *after, window_s, ticks, std::move(connections)));
  }
  return out;
}

Result<ProcessFacts> sample_process(const std::string& proc_root, pid_t pid, std::chrono::milliseconds window) {
  auto all = sample_processes(proc_root, {pid}, window);
  if (all.empty())
    return fail(ErrorCode::kNotFound, fmt::format("{}/{}: no such process (or it exited)", proc_root, pid));
  return std::move(all.front());
}

}  // namespace tollgate::miner
