#include "census/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <cstring>

#include "common/io.h"

namespace tollgate::census {
namespace {

constexpr unsigned kPfKthread = 0x00200000;  // include/linux/sched.h
constexpr size_t kCmdlineMax = 4096;

// Reads a small /proc file whole (bounded by the buffer).
std::optional<std::string> read_small(const std::string& path, size_t max = 4096) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  UniqueFd owner(fd);
  std::string out(max, '\0');
  auto n = read_full(fd, std::as_writable_bytes(std::span(out.data(), out.size())), path);
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

template <typename T>
bool to_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// The fields of /proc/PID/stat we use.
struct Stat {
  std::string comm;
  pid_t ppid = 0;
  unsigned flags = 0;
  uint64_t utime = 0, stime = 0, start = 0, rss = 0;
};

std::optional<Stat> parse_stat(std::string_view text) {
  auto open = text.find('('), close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  Stat st;
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  std::vector<std::string_view> f;  // f[0] is field 3 (state)
  std::string_view rest = text.substr(close + 1);
  size_t i = 0;
  while (i < rest.size()) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (i > start) f.push_back(rest.substr(start, i - start));
  }
  auto field = [&](size_t n) { return n - 3 < f.size() ? f[n - 3] : std::string_view(); };
  if (f.size() < 22 || !to_number(field(4), st.ppid) || !to_number(field(9), st.flags) ||
      !to_number(field(14), st.utime) || !to_number(field(15), st.stime) || !to_number(field(22), st.start))
    return std::nullopt;
  to_number(field(24), st.rss);
  return st;
}

}  // namespace

Result<int> mount_id_at(int dirfd, const std::string& path, bool nofollow) {
  struct statx sx {};
  int flags = (path.empty() ? AT_EMPTY_PATH : 0) | (nofollow ? AT_SYMLINK_NOFOLLOW : 0);
  if (::statx(dirfd, path.c_str(), flags, STATX_MNT_ID, &sx) != 0)
    return fail_errno(errno, path.empty() ? "fd" : path, "cannot statx");
  if (!(sx.stx_mask & STATX_MNT_ID)) return fail(ErrorCode::kUnavailable, "statx: this kernel gives no mount id");
  return static_cast<int>(sx.stx_mnt_id);
}

ProcFs::ProcFs(std::string root) : root_(std::move(root)) {}

std::string ProcFs::path(pid_t pid, const char* leaf) const { return fmt::format("{}/{}/{}", root_, pid, leaf); }

std::vector<pid_t> ProcFs::pids() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir(root_.c_str());
  if (!dir) return out;
  while (dirent* e = ::readdir(dir)) {
    pid_t pid = 0;
    if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && to_number(std::string_view(e->d_name), pid)) out.push_back(pid);
  }
  ::closedir(dir);
  return out;
}

std::optional<ProcessId> ProcFs::identity(pid_t pid) {
  ProcessId id{.pid = pid};
  struct statx sx {};
  if (::statx(AT_FDCWD, path(pid, "exe").c_str(), 0, STATX_INO, &sx) == 0) {
    id.exe_dev = ::makedev(sx.stx_dev_major, sx.stx_dev_minor);
    id.exe_ino = sx.stx_ino;
  } else if (errno == ESRCH || (errno == ENOENT && ::access(path(pid, "").c_str(), F_OK) != 0)) {
    return std::nullopt;  // gone (a kernel thread or zombie has no exe but is there)
  }
  return id;
}

std::optional<uint64_t> ProcFs::start_ticks(pid_t pid) {
  auto text = read_small(path(pid, "stat"), 1024);
  if (!text) return std::nullopt;
  auto st = parse_stat(*text);
  if (!st) return std::nullopt;
  return st->start;
}

std::optional<ProcessFacts> ProcFs::facts(pid_t pid) {
  auto text = read_small(path(pid, "stat"), 1024);
  if (!text) return std::nullopt;
  auto st = parse_stat(*text);
  if (!st) return std::nullopt;
  ProcessFacts f;
  f.id = {.pid = pid, .start_ticks = st->start};
  f.kernel_thread = st->flags & kPfKthread;
  f.ppid = st->ppid;
  f.comm = st->comm;
  f.cpu_ticks = st->utime + st->stime;
  f.rss_pages = st->rss;
  struct statx sx {};
  if (::statx(AT_FDCWD, path(pid, "exe").c_str(), 0, STATX_INO | STATX_MNT_ID, &sx) == 0) {
    f.id.exe_dev = ::makedev(sx.stx_dev_major, sx.stx_dev_minor);
    f.id.exe_ino = sx.stx_ino;
    if (sx.stx_mask & STATX_MNT_ID) f.exe_mount_id = static_cast<int>(sx.stx_mnt_id);
    f.exe = exe_path(pid);
    f.has_exe = !f.exe.empty();
  }
  if (auto status = read_small(path(pid, "status"), 8192)) {
    auto at = status->find("\nUid:");
    if (at != std::string::npos) {
      unsigned uid = 0;
      const char* p = status->c_str() + at + 5;
      while (*p == '\t' || *p == ' ') ++p;
      auto [end, ec] = std::from_chars(p, status->c_str() + status->size(), uid);
      if (ec == std::errc() && end != p) f.uid = uid;
    }
  }
  if (auto cmdline = read_small(path(pid, "cmdline"), kCmdlineMax)) {
    while (!cmdline->empty() && cmdline->back() == '\0') cmdline->pop_back();
    for (char& c : *cmdline)
      if (c == '\0') c = ' ';
    f.cmdline = std::move(*cmdline);
  }
  struct stat ns {};
  if (::stat(path(pid, "ns/mnt").c_str(), &ns) == 0) f.mnt_ns = ns.st_ino;
  return f;
}

std::optional<std::string> ProcFs::mountinfo(pid_t pid) {
  auto text = read_file(path(pid, "mountinfo"), 16u << 20);
  if (!text) return std::nullopt;
  return std::move(*text);
}

Result<UniqueFd> ProcFs::open_exe(pid_t pid) { return open_fd(path(pid, "exe"), O_RDONLY | O_NOCTTY); }

std::string ProcFs::exe_path(pid_t pid) {
  std::array<char, 4096> buf;
  ssize_t n = ::readlink(path(pid, "exe").c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<size_t>(n) >= buf.size()) return "";
  return std::string(buf.data(), static_cast<size_t>(n));
}

int64_t ProcFs::start_time_us(uint64_t start_ticks) {
  if (boot_time_us_ < 0) {
    boot_time_us_ = 0;
    if (auto stat = read_file(root_ + "/stat", 1u << 20)) {
      auto at = stat->find("\nbtime ");
      int64_t btime = 0;
      if (at != std::string::npos) {
        auto end = stat->find('\n', at + 7);
        if (to_number(std::string_view(*stat).substr(at + 7, end - at - 7), btime)) boot_time_us_ = btime * 1000000;
      }
    }
  }
  const auto hz = static_cast<uint64_t>(std::max(::sysconf(_SC_CLK_TCK), 1L));
  return boot_time_us_ + static_cast<int64_t>(start_ticks / hz * 1000000 + start_ticks % hz * 1000000 / hz);
}

std::string ProcFs::user_name(uid_t uid) {
  passwd pw{}, *found = nullptr;
  std::array<char, 4096> buf;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return "";
  return found->pw_name;
}

bool ProcFs::shows_own_pid_namespace() const {
  std::array<char, 64> buf;
  ssize_t n = ::readlink((root_ + "/self").c_str(), buf.data(), buf.size());
  pid_t self = 0;
  return n > 0 && to_number(std::string_view(buf.data(), static_cast<size_t>(n)), self) && self == ::getpid();
}

Status ProcFs::kill(const ProcessId& expected) {
  const pid_t pid = expected.pid;
  if (pid <= 1) return fail(ErrorCode::kPermission, fmt::format("pid {}: never killed (init)", pid));
  if (pid == ::getpid()) return fail(ErrorCode::kPermission, fmt::format("pid {}: never killed (ourselves)", pid));
  if (!shows_own_pid_namespace())
    return fail(ErrorCode::kPermission,
                fmt::format("{}: not the proc of our pid namespace; pid {} not killed", root_, pid));
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return fail_errno(errno, fmt::format("pid {}", pid), "pidfd_open failed");
  UniqueFd owner(pidfd);
  // The pidfd pins this process: from here on the pid cannot name another.
  auto now = facts(pid);
  if (!now || !(now->id == expected))
    return fail(ErrorCode::kUnavailable, fmt::format("pid {}: no longer the process that was found; not killed", pid));
  if (now->kernel_thread) return fail(ErrorCode::kPermission, fmt::format("pid {}: a kernel thread; not killed", pid));
  if (::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) != 0)
    return fail_errno(errno, fmt::format("pid {}", pid), "cannot kill");
  return {};
}

}  // namespace tollgate::census
