// exec_bench: the enforcer's cost on an exec-heavy loop, side by side with
// no listener, a trivial listener and (when installed) fapolicyd.
//
//   timeout 3600 ./build/tests/exec_bench [--rounds 300] [--execs 200] [--parallel 0|1|2]
//                                         [--rules 0] [--no-fapolicyd]
//
// Needs root. Enters a private mount namespace itself and mounts a tmpfs
// over /srv there (root-owned 0755, so the chain / -> /srv is safe), and one
// tmpfs per listener under it, each holding its own copy of a tiny static
// binary. Every listener runs at once and marks only its own tmpfs:
//   none         no listener                          /srv/none/tiny
//   trivial      allow-all FAN_OPEN_EXEC_PERM mount mark (trivial_listener,
//                the same mark type as tollgated)     /srv/trivial/tiny
//   safe         tollgated enforce, approved by hash, safe chain (the
//                ignore mark keeps it in the kernel)   /srv/safe/tiny
//   writable     tollgated enforce, approved by hash in a 1777 directory
//                (decided every time)                  /srv/writable/w/tiny
//   audit-allow  tollgated audit, approved binary in a 1777 directory
//   audit-deny   the same daemon, an unapproved binary (would-deny storm)
//   fapolicyd    /usr/sbin/fapolicyd --debug-deny (enforcing, shipped
//                nice_val), only when installed and not --no-fapolicyd;
//                see start_fapolicyd for its namespace.
// Each round measures, for each load (1 spawner, 2 spawners in parallel), a
// block of --execs posix_spawn + waitpid per spawner on every setup, in an
// order rotated every round, so every setup sees the same machine load. It
// reports each setup's exec rate and its listener's CPU time per exec
// (time on CPU from /proc/PID/task/*/schedstat, all threads, before/after each block),
// and per-round ratios as the median with a 95% order-statistic confidence
// interval. Every wait is bounded; every listener is killed by pid at the
// end (and dies with this process: PR_SET_PDEATHSIG).
#include <dirent.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "common/io.h"
#include "control/client.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"

extern char** environ;

using namespace tollgate;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

constexpr const char* kFapolicyd = "/usr/sbin/fapolicyd";
constexpr const char* kBase = "/srv";  // root-owned 0755 on the host; our tmpfs covers it in the namespace

std::vector<pid_t> g_children;  // every listener started, killed by pid on any exit path

void kill_children() {
  for (pid_t pid : g_children) {
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
  }
  g_children.clear();
}

[[noreturn]] void die(const std::string& msg) {
  fmt::print(stderr, "exec_bench: {}\n", msg);
  kill_children();
  std::exit(1);
}

struct Child {
  pid_t pid = -1;
  int out = -1;  // its stdout
};

Child spawn(const std::vector<std::string>& args, const std::string& err_path) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) die("pipe");
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(99);
    ::dup2(p[1], 1);
    int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(p[1]);
  g_children.push_back(pid);
  return {pid, p[0]};
}

void stop(Child& c) {
  if (c.pid <= 0) return;
  ::kill(c.pid, SIGTERM);
  int status;
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (::waitpid(c.pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::erase(g_children, c.pid);
  if (c.out >= 0) ::close(c.out);
  c = {};
}

void wait_stdout_ready(const Child& c) {
  pollfd p{c.out, POLLIN, 0};
  if (::poll(&p, 1, 10000) <= 0) die("trivial_listener did not become ready");
  char buf[16];
  if (::read(c.out, buf, sizeof buf) <= 0) die("trivial_listener failed");
}

void wait_socket_ready(const std::string& socket, const Child& c) {
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < deadline) {
    int status;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) die("tollgated exited at start");
    auto r = control::control_request(socket, {{"cmd", "status"}}, 2000);
    if (r && (*r)["ok"] == true) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  die("tollgated did not become ready");
}

// Time on CPU of every thread of `pid`, in nanoseconds: the first field of
// /proc/PID/task/TID/schedstat (the scheduler's own account, exact, where
// utime + stime in /proc/PID/stat only counts 10 ms ticks). The listeners'
// threads live as long as they do, so none is missed by exiting early.
uint64_t cpu_ns(pid_t pid) {
  uint64_t total = 0;
  std::error_code ec;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : fs::directory_iterator(tasks, ec)) {
    auto text = read_file(task.path().string() + "/schedstat");
    if (!text) continue;  // a thread that just exited
    total += std::strtoull(text->c_str(), nullptr, 10);
  }
  if (ec) die(fmt::format("cannot list {}: listener gone", tasks));
  return total;
}

bool read_byte_within(int fd, int timeout_ms, char* out) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  return ::read(fd, out, 1) == 1;
}

// Exec `path` n times in each of `parallel` spawner processes started
// together; the spawners enter mount namespace `ns_fd` first when it is >= 0.
// Returns the wall time from the start signal to the last spawner's end.
// With `expect_ok` false every spawn should be refused: -1 when all were.
double run_block(const std::string& path, int n, int parallel, int ns_fd, bool expect_ok = true) {
  int ready[2], go[2], done[2];
  if (::pipe2(ready, O_CLOEXEC) || ::pipe2(go, O_CLOEXEC) || ::pipe2(done, O_CLOEXEC)) die("pipe");
  std::vector<pid_t> workers;
  const pid_t parent = ::getpid();
  for (int w = 0; w < parallel; ++w) {
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(99);
      char verdict = 'K';
      if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNS) != 0) verdict = 'N';
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1) ::_exit(1);
      char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
      for (int i = 0; i < n && verdict == 'K'; ++i) {
        pid_t child;
        int rc = ::posix_spawn(&child, path.c_str(), nullptr, nullptr, argv, environ);
        if (rc != 0) {
          if (expect_ok) verdict = 'S';
          continue;
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (ok != expect_ok) verdict = expect_ok ? 'X' : 'A';
      }
      if (::write(done[1], &verdict, 1) != 1) ::_exit(1);
      ::_exit(0);
    }
    workers.push_back(pid);
  }
  ::close(ready[1]);
  ::close(go[0]);
  ::close(done[1]);
  auto reap = [&] {
    for (pid_t pid : workers) {
      ::kill(pid, SIGKILL);
      int status;
      ::waitpid(pid, &status, 0);
    }
    ::close(ready[0]);
    ::close(go[1]);
    ::close(done[0]);
  };
  char c;
  for (int w = 0; w < parallel; ++w)
    if (!read_byte_within(ready[0], 30000, &c)) {
      reap();
      die("a spawner did not start within 30 s");
    }
  auto t0 = Clock::now();
  std::string gos(static_cast<size_t>(parallel), 'g');
  if (::write(go[1], gos.data(), gos.size()) != static_cast<ssize_t>(gos.size())) die("write");
  std::string verdicts;
  for (int w = 0; w < parallel; ++w) {
    if (!read_byte_within(done[0], 300000, &c)) {
      reap();
      die(fmt::format("{}: a spawner did not finish {} execs within 300 s", path, n));
    }
    verdicts += c;
  }
  std::chrono::duration<double> dt = Clock::now() - t0;
  reap();
  if (!expect_ok) return verdicts == std::string(static_cast<size_t>(parallel), 'K') ? -1 : dt.count();
  for (char v : verdicts)
    if (v != 'K') {
      die(fmt::format("{}: {}", path,
                      v == 'N'   ? "setns failed"
                      : v == 'S' ? "posix_spawn refused (denied?)"
                                 : "the binary did not exit 0"));
    }
  return dt.count();
}

bool denied(const std::string& path, int ns_fd) { return run_block(path, 1, 1, ns_fd, false) < 0; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Median with its distribution-free 95% confidence interval: order
// statistics j = n/2 - 1.96 sqrt(n)/2 and k = 1 + n/2 + 1.96 sqrt(n)/2
// (1-based, rounded, clamped). Below n = 6 the interval is [min, max] and
// covers less than 95%.
std::string median_ci(std::vector<double> v) {
  if (v.empty()) return "n/a";
  std::sort(v.begin(), v.end());
  const double n = static_cast<double>(v.size());
  const double half = 1.96 * std::sqrt(n) / 2;
  long j = std::lround(n / 2 - half), k = std::lround(1 + n / 2 + half);
  j = std::clamp(j, 1L, static_cast<long>(v.size()));
  k = std::clamp(k, 1L, static_cast<long>(v.size()));
  return fmt::format("{:.3f} [{:.3f}, {:.3f}]{}", median(v), v[static_cast<size_t>(j - 1)],
                     v[static_cast<size_t>(k - 1)], v.size() < 6 ? " (n<6: min-max, not 95%)" : "");
}

long status_kib(pid_t pid, const char* field) {
  auto text = read_file("/proc/" + std::to_string(pid) + "/status");
  if (!text) return -1;
  auto pos = text->find(field);
  if (pos == std::string::npos) return -1;
  return std::stol(text->substr(pos + std::strlen(field) + 1));
}

hashdb::HashRule allow(const std::string& path) {
  auto d = hashdb::sha256_path(path);
  if (!d) die(d.error().message());
  hashdb::HashRule r;
  r.sha256 = *d;
  return r;
}

void mount_tmpfs(const std::string& where, const char* opts = "mode=0755,size=64m") {
  if (::mount("tollgate-bench", where.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
    die(fmt::format("{}: cannot mount tmpfs: {}", where, std::strerror(errno)));
}

// `src` copied to `dst`, mode 0755 (root-owned: we are root); `extra` bytes
// appended make a binary with another hash that still runs.
void install(const std::string& src, const std::string& dst, const std::string& extra = "") {
  fs::copy_file(src, dst, fs::copy_options::overwrite_existing);
  if (!extra.empty()) {
    std::ofstream out(dst, std::ios::binary | std::ios::app);
    out << extra;
    if (!out) die(dst + ": cannot append");
  }
  if (::chmod(dst.c_str(), 0755) != 0) die(dst + ": chmod");
}

void mkdir_mode(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) die(path + ": mkdir");
  if (::chmod(path.c_str(), mode) != 0) die(path + ": chmod");
}

// Mount points of type tmpfs in this process's mount namespace.
std::vector<std::string> tmpfs_mounts() {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mounts");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string dev, dir, type;
    f >> dev >> dir >> type;
    if (type == "tmpfs") out.push_back(dir);
  }
  return out;
}

bool fapolicyd_running_elsewhere() {
  for (const auto& e : fs::directory_iterator("/proc")) {
    auto comm = read_file(e.path() / "comm");
    if (comm && comm->starts_with("fapolicyd")) return true;
  }
  return false;
}

// fapolicyd in its own mount namespace B, a child of ours: every tmpfs is
// detached there (fapolicyd marks every mount of each watch_fs type it sees
// in /proc/self/mounts, and follows new mounts), then one fresh tmpfs is
// mounted over /srv holding the two binaries and fapolicyd's own state,
// bind-mounted over /etc/fapolicyd, /var/lib/fapolicyd and /run. So its only
// marks are mount marks on that tmpfs, in B, which no host process uses:
// spawners reach it with setns. It runs as root (uid = root in its config,
// the one change from the shipped file besides paths and watch_fs): a
// credential change would clear PR_SET_PDEATHSIG, and it must die with us.
Child start_fapolicyd(const std::string& tiny_src, const std::string& err, const std::string& sha) {
  int errfd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (errfd < 0) die(err + ": open");
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(99);
    ::dup2(errfd, 2);
    ::dup2(errfd, 1);
    auto fail = [](const std::string& m) {
      fmt::print(stderr, "exec_bench (fapolicyd namespace): {}\n", m);
      ::_exit(3);
    };
    if (::unshare(CLONE_NEWNS) != 0) fail("unshare");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail("cannot make / private");
    auto mounts = tmpfs_mounts();
    for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    if (::mount("tollgate-bench", kBase, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m") != 0)
      fail("cannot mount tmpfs on /srv");
    const std::string b = kBase;
    for (const char* d : {"/etc", "/etc/rules.d", "/etc/trust.d", "/lib", "/run", "/run/fapolicyd"})
      if (::mkdir((b + d).c_str(), 0755) != 0) fail(std::string("mkdir ") + d);
    try {
      fs::copy_file(tiny_src, b + "/tiny");
      fs::copy_file(tiny_src, b + "/other");
      std::ofstream(b + "/other", std::ios::binary | std::ios::app) << '\n';
    } catch (const std::exception& e) {
      fail(e.what());
    }
    ::chmod((b + "/tiny").c_str(), 0755);
    ::chmod((b + "/other").c_str(), 0755);
    // fapolicyd.conf(5): the shipped Debian file, but watch only tmpfs (ours
    // is the only one left), trust only the file backend, verify SHA-256,
    // no stat report (it would write /var/log), and uid/gid root (see above).
    const std::string conf =
        "permissive = 0\nnice_val = 14\nq_size = 640\nuid = root\ngid = root\ndo_stat_report = 0\n"
        "detailed_report = 1\ndb_max_size = 50\nsubj_cache_size = 1549\nobj_cache_size = 8191\n"
        "watch_fs = tmpfs\ntrust = file\nintegrity = sha256\n"
        "syslog_format = rule,dec,perm,auid,pid,exe,:,path,ftype,trust\nrpm_sha256_only = 0\n"
        "allow_filesystem_mark = 0\n";
    // fapolicyd.trust(5): path size sha256. fapolicyd.rules(5): execute
    // only trusted files, every open allowed (the cheapest rule set).
    const std::string trust = fmt::format("{}/tiny {} {}\n", b, fs::file_size(tiny_src), sha);
    const std::string rules =
        "allow perm=execute all : trust=1\ndeny perm=execute all : all\nallow perm=open all : all\n";
    for (auto [name, text] :
         {std::pair{"/etc/fapolicyd.conf", conf}, {"/etc/fapolicyd.trust", trust}, {"/etc/compiled.rules", rules}})
      if (!write_file_atomic(b + name, text)) fail(std::string("write ") + name);
    for (auto [from, to] : {std::pair{"/etc", "/etc/fapolicyd"}, {"/lib", "/var/lib/fapolicyd"}, {"/run", "/run"}})
      if (::mount((b + from).c_str(), to, nullptr, MS_BIND, nullptr) != 0)
        fail(fmt::format("bind {} on {}: {}", from, to, std::strerror(errno)));
    for (const auto& m : tmpfs_mounts())
      if (m != b && m != "/etc/fapolicyd" && m != "/var/lib/fapolicyd" && m != "/run")
        fail("a tmpfs it did not create is still mounted: " + m);
    const char* argv[] = {kFapolicyd, "--debug-deny", nullptr};
    ::execv(kFapolicyd, const_cast<char**>(argv));
    fail("exec fapolicyd");
  }
  ::close(errfd);
  g_children.push_back(pid);
  return {pid, -1};
}

// True once fapolicyd's fanotify group holds a mount mark (its fdinfo).
bool has_mount_mark(pid_t pid) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fdinfo", ec)) {
    auto text = read_file(e.path());
    if (text && text->find("fanotify mnt_id") != std::string::npos) return true;
  }
  return false;
}

std::string join_args(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

struct Setup {
  std::string name;
  std::string binary;
  std::string listener;  // key into the children map, "" = none
  bool fapolicyd_ns = false;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "exec_bench: exec rate and listener CPU per exec under no listener, a trivial listener, "
      "tollgated (safe path, writable path, audit storms) and fapolicyd"};
  int rounds = 300, execs = 200, warmup = 200, parallel = 0;
  long rules = 0;
  bool no_fapolicyd = false;
  app.add_option("--rounds", rounds, "Interleaved rounds")->check(CLI::PositiveNumber);
  app.add_option("--execs", execs, "Timed execs per spawner per block")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "Untimed execs per setup before the rounds")->check(CLI::NonNegativeNumber);
  app.add_option("--parallel", parallel, "Spawners in parallel: 1, 2, or 0 for both loads")->check(CLI::Range(0, 2));
  app.add_option("--rules", rules, "Hash rules for the tollgated RSS measurement (0 = skip)");
  app.add_flag("--no-fapolicyd", no_fapolicyd, "Leave fapolicyd out even when installed");
  CLI11_PARSE(app, argc, argv);
  const std::vector<int> loads = parallel == 0 ? std::vector<int>{1, 2} : std::vector<int>{parallel};

  const fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
  const std::string tollgated = fs::canonical(self / "../enforcer/tollgated");
  const std::string listener = self / "trivial_listener";
  const std::string tiny_src = self / "bench_tiny";
  const bool with_fapolicyd = !no_fapolicyd && fs::exists(kFapolicyd);
  if (with_fapolicyd && fapolicyd_running_elsewhere())
    die("a fapolicyd process is already running; stop it (the bench starts its own, in its namespace)");
  for (const char* unit : {"/etc/systemd/system/multi-user.target.wants/fapolicyd.service",
                           "/lib/systemd/system/multi-user.target.wants/fapolicyd.service"})
    if (with_fapolicyd && fs::exists(unit))
      die(fmt::format("fapolicyd.service is enabled ({}); disable it: the bench runs its own fapolicyd", unit));

  char tmpl[] = "/tmp/tollgate-bench.XXXXXX";  // state only (configs, logs, sockets); nothing marked here
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  const std::string dir = tmpl;
  const std::string err = dir + "/stderr.log";

  if (::unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS) needs root");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("cannot make / private");
  mount_tmpfs(kBase);
  const std::string base = kBase;
  for (const char* name : {"none", "trivial", "safe", "writable", "audit"}) {
    mkdir_mode(base + "/" + name, 0755);
    mount_tmpfs(base + "/" + name);
  }
  for (const char* name : {"writable", "audit"}) mkdir_mode(base + "/" + name + "/w", 01777);
  std::vector<Setup> setups = {
      {"none", base + "/none/tiny", "", false},
      {"trivial", base + "/trivial/tiny", "trivial", false},
      {"safe", base + "/safe/tiny", "safe", false},
      {"writable", base + "/writable/w/tiny", "writable", false},
      {"audit-allow", base + "/audit/w/tiny", "audit", false},
      {"audit-deny", base + "/audit/w/other", "audit", false},
  };
  for (const auto& s : setups) install(tiny_src, s.binary, s.name == "audit-deny" ? "\n" : "");

  const std::string db = dir + "/policy.db";
  hashdb::PolicyContent content;
  content.hash_rules = {allow(tollgated), allow(tiny_src)};
  // The path-deny rules of policy/examples/server.yaml, as on a real server:
  // every exec of the writable binary then reads its name and matches them.
  for (const char* p : {"/tmp/", "/var/tmp/", "/dev/shm/"})
    content.path_rules.push_back({p, hashdb::PathMatch::kPrefix, hashdb::Action::kDeny, "scratch", {}});
  if (auto w = hashdb::write_database(db, content, {.generation = 1}); !w) die(w.error().message());
  auto config = [&](const std::string& name, const std::string& mode, const std::string& database,
                    const std::string& mnt) {
    std::string path = dir + "/" + name + ".yaml";
    if (auto st = write_file_atomic(
            path, fmt::format("mode: {}\ndatabase: {}\nevent_log: {}/{}.jsonl\n"
                              "socket: {}/{}.sock\nwatch: [{}]\nmust_allow: []\nstate_dir: {}/{}.state\n"
                              // The census walks all of /proc on its own clock,
                              // whatever the exec rate: census_bench measures it.
                              "census_interval_ms: 0\n",
                              mode, database, dir, name, dir, name, mnt, dir, name));
        !st)
      die(st.error().message());
    return path;
  };

  std::map<std::string, Child> children;
  children["trivial"] = spawn({listener, base + "/trivial"}, err);
  wait_stdout_ready(children["trivial"]);
  for (auto [name, mode] : {std::pair{"safe", "enforce"}, {"writable", "enforce"}, {"audit", "audit"}}) {
    children[name] = spawn({tollgated, "--config", config(name, mode, db, base + "/" + name)}, err);
    wait_socket_ready(dir + "/" + name + ".sock", children[name]);
  }
  int fapolicyd_ns = -1;
  if (with_fapolicyd) {
    auto sha = hashdb::sha256_path(tiny_src);
    if (!sha) die(sha.error().message());
    std::string hex;
    for (auto byte : *sha) hex += fmt::format("{:02x}", static_cast<unsigned>(byte));
    children["fapolicyd"] = start_fapolicyd(tiny_src, err, hex);
    const pid_t pid = children["fapolicyd"].pid;
    auto deadline = Clock::now() + std::chrono::seconds(60);
    while (!has_mount_mark(pid)) {
      int status;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        std::erase(g_children, pid);
        die("fapolicyd exited at start; see " + err);
      }
      if (Clock::now() > deadline) die("fapolicyd placed no mount mark within 60 s; see " + err);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    fapolicyd_ns = ::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
    if (fapolicyd_ns < 0) die("cannot open fapolicyd's mount namespace");
    // It must be enforcing before anything is measured: the untrusted copy
    // refused, the trusted one allowed.
    deadline = Clock::now() + std::chrono::seconds(60);
    while (!denied(base + "/other", fapolicyd_ns))
      if (Clock::now() > deadline) die("fapolicyd does not deny an untrusted binary within 60 s; see " + err);
      else std::this_thread::sleep_for(std::chrono::milliseconds(100));
    setups.push_back({"fapolicyd", base + "/tiny", "fapolicyd", true});
  }
  // The same check for tollgated enforce: an unapproved binary is refused.
  install(tiny_src, base + "/writable/w/other", "\n");
  if (!denied(base + "/writable/w/other", -1)) die("tollgated enforce allowed an unapproved binary");

  for (const auto& s : setups) run_block(s.binary, std::max(warmup, 1), 1, s.fapolicyd_ns ? fapolicyd_ns : -1);

  struct utsname u {};
  ::uname(&u);
  auto loadavg = read_file("/proc/loadavg");
  fmt::print("# {}\n# {} {} {}, {} CPUs, loadavg {}", join_args(argc, argv), u.sysname, u.release, u.machine,
             std::thread::hardware_concurrency(), loadavg ? *loadavg : "?\n");
  fmt::print(
      "exec_bench: {} rounds x {} execs per spawner per setup (after {} warm-up), loads: {} spawner(s),\n"
      "a {}-byte static binary, each listener on its own private tmpfs, all running, order rotated every "
      "round{}\n",
      rounds, execs, warmup, fmt::format("{}", loads.size() == 2 ? "1 and 2" : std::to_string(loads[0])),
      fs::file_size(tiny_src),
      with_fapolicyd ? "\nfapolicyd: /usr/sbin/fapolicyd --debug-deny, enforcing, nice_val 14, trust file "
                       "(SHA-256), own mount namespace"
                     : "\nfapolicyd: not included (not installed or --no-fapolicyd)");

  std::map<std::pair<std::string, int>, std::vector<double>> rates;  // (setup, load) -> per round
  std::map<std::pair<std::string, int>, double> seconds, cpu_s;
  for (int round = 0; round < rounds; ++round)
    for (int load : loads)
      for (size_t k = 0; k < setups.size(); ++k) {
        const Setup& s = setups[(k + static_cast<size_t>(round)) % setups.size()];
        const pid_t lpid = s.listener.empty() ? -1 : children[s.listener].pid;
        const uint64_t before = lpid > 0 ? cpu_ns(lpid) : 0;
        const double dt = run_block(s.binary, execs, load, s.fapolicyd_ns ? fapolicyd_ns : -1);
        const uint64_t after = lpid > 0 ? cpu_ns(lpid) : 0;
        rates[{s.name, load}].push_back(execs * load / dt);
        seconds[{s.name, load}] += dt;
        cpu_s[{s.name, load}] += static_cast<double>(after - before) / 1e9;
      }
  std::map<std::string, json> status;
  for (const char* name : {"safe", "writable", "audit"})
    if (auto r = control::control_request(dir + "/" + name + ".sock", {{"cmd", "status"}}); r && (*r)["ok"] == true)
      status[name] = *r;
  for (auto& [name, child] : children) stop(child);
  if (fapolicyd_ns >= 0) ::close(fapolicyd_ns);

  for (int load : loads) {
    fmt::print(
        "\n## {} spawner{}\n\n| setup | execs/s (total) | median of rounds | listener CPU per exec | vs trivial "
        "(median of per-round ratios, 95% CI) |\n|---|---|---|---|---|\n",
        load, load > 1 ? "s in parallel" : "");
    auto ratios = [&](const std::string& a, const std::string& b) {
      std::vector<double> r;
      const auto &ra = rates[{a, load}], &rb = rates[{b, load}];
      for (size_t i = 0; i < ra.size() && i < rb.size(); ++i) r.push_back(ra[i] / rb[i]);
      return r;
    };
    const double total_execs = static_cast<double>(rounds) * execs * load;
    for (const auto& s : setups)
      fmt::print(
          "| {} | {:.0f} | {:.0f} | {} | {} |\n", s.name, total_execs / seconds[{s.name, load}],
          median(rates[{s.name, load}]),
          s.listener.empty() ? std::string("-") : fmt::format("{:.1f} us", 1e6 * cpu_s[{s.name, load}] / total_execs),
          median_ci(ratios(s.name, "trivial")));
    fmt::print("\nper-round ratios, median [95% CI]:\n");
    std::vector<std::tuple<std::string, std::string, std::string>> targets = {
        {"safe", "none", ">= 0.98"},
        {"writable", "trivial", ">= 0.97"},
        {"audit-deny", "audit-allow", ">= 0.95"},
        {"trivial", "none", "(the mechanism's own cost)"}};
    if (with_fapolicyd) {
      targets.emplace_back("safe", "fapolicyd", ">= 1.10");
      targets.emplace_back("writable", "fapolicyd", ">= 1.10");
      targets.emplace_back("fapolicyd", "trivial", "");
    }
    for (const auto& [a, b, target] : targets)
      fmt::print("  {:>11} / {:<11} {}  target {}\n", a, b, median_ci(ratios(a, b)), target);
  }
  fmt::print(
      "\nlistener CPU: time on CPU of all its threads (/proc/PID/task/*/schedstat, ns) over the blocks of that "
      "setup, divided by its execs\n");
  for (const auto& [name, s] : status)
    fmt::print("tollgated {}: counters {}; ignore marks {}; decision latency p50 <= {} us, p99 <= {} us\n", name,
               s.value("counters", json()).dump(), s.value("ignore_marks", json()).dump(),
               s["latency_us"].value("p50", json()).dump(), s["latency_us"].value("p99", json()).dump());
  std::fflush(stdout);

  if (rules > 0) {
    const std::string big = dir + "/big.db";
    hashdb::PolicyContent many = content;
    std::mt19937_64 rng(42);
    many.hash_rules.reserve(static_cast<size_t>(rules) + 2);
    for (long i = 0; i < rules; ++i) {
      hashdb::HashRule r;
      for (size_t b = 0; b < r.sha256.size(); b += 8) {
        uint64_t v = rng();
        std::memcpy(r.sha256.data() + b, &v, 8);
      }
      r.label = "bench";
      many.hash_rules.push_back(r);
    }
    auto t0 = Clock::now();
    if (auto w = hashdb::write_database(big, many, {.generation = 1}); !w) die(w.error().message());
    std::chrono::duration<double> wrote = Clock::now() - t0;
    many = {};
    t0 = Clock::now();
    Child c = spawn({tollgated, "--config", config("big", "enforce", big, base + "/writable")}, err);
    wait_socket_ready(dir + "/big.sock", c);
    std::chrono::duration<double> ready = Clock::now() - t0;
    double rate = 1000 / run_block(base + "/writable/w/tiny", 1000, 1, -1);
    long rss = status_kib(c.pid, "VmRSS:"), hwm = status_kib(c.pid, "VmHWM:");
    fmt::print(
        "\n{} hash rules: database {:.0f} MiB written in {:.1f} s; tollgated enforce ready in {:.1f} s "
        "(opens and verifies the content digest), {:.0f} execs/s; RSS {:.1f} MiB, peak RSS {:.1f} MiB "
        "(target < 64 MiB)\n",
        rules + 2, static_cast<double>(fs::file_size(big)) / (1 << 20), wrote.count(), ready.count(), rate,
        rss / 1024.0, hwm / 1024.0);
    stop(c);
  }
  kill_children();
  ::umount2(kBase, MNT_DETACH);
  fs::remove_all(dir);
  return 0;
}
