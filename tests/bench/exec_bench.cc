// exec_bench: the enforcer's cost on an exec-heavy loop, side by side.
//
//   timeout 1800 ./build/tests/exec_bench [--rounds 200] [--execs 50] [--rules 1000000]
//
// Enters a private mount namespace itself (needs root), mounts four tmpfs
// there, one per setup, copies a tiny static binary onto each, starts every
// listener at once (each marks only its own tmpfs), and in each round
// measures a short block of execs (posix_spawn + waitpid, warm cache) on
// each, in rotating order, so every setup sees the same machine load:
//   none      no listener
//   trivial   an allow-all FAN_OPEN_EXEC_PERM listener (trivial_listener)
//   audit     tollgated, audit mode
//   enforce   tollgated, enforce mode (the binary approved by hash)
// It prints each setup's rate over all its blocks and the tollgated/trivial
// ratios (of total time, and the median of per-round ratios), then the
// daemon's RSS with a policy of --rules hash rules (0 skips it).
// Every mark is on the private tmpfs; every child dies with this process.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "common/io.h"
#include "control/client.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"

extern char** environ;

using namespace tollgate;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& msg) {
  fmt::print(stderr, "exec_bench: {}\n", msg);
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
  ::close(c.out);
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

// execs per second over n spawns of `path`.
double exec_rate(const std::string& path, int n) {
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    pid_t pid;
    int rc = ::posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv, environ);
    if (rc != 0) die(fmt::format("spawn {}: {}", path, std::strerror(rc)));
    int status;
    ::waitpid(pid, &status, 0);
  }
  std::chrono::duration<double> dt = Clock::now() - t0;
  return n / dt.count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"exec_bench: exec rate under no listener, a trivial listener, tollgated audit and enforce"};
  int rounds = 200, execs = 50, warmup = 200;
  long rules = 1000000;
  app.add_option("--rounds", rounds, "Interleaved rounds");
  app.add_option("--execs", execs, "Timed execs per measurement");
  app.add_option("--warmup", warmup, "Untimed execs before each measurement");
  app.add_option("--rules", rules, "Hash rules for the RSS measurement (0 = skip)");
  CLI11_PARSE(app, argc, argv);

  const fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
  const std::string tollgated = fs::canonical(self / "../enforcer/tollgated");
  const std::string listener = self / "trivial_listener";
  const std::string tiny_src = self / "bench_tiny";

  if (::unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS) needs root");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("cannot make / private");
  char tmpl[] = "/tmp/tollgate-bench.XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  const std::string dir = tmpl;
  const std::vector<std::string> names = {"none", "trivial", "audit", "enforce"};
  // One private tmpfs per setup, each holding its own copy of the binary, so
  // all four listeners run side by side and each sees only its own mount.
  std::map<std::string, std::string> binary;
  for (const auto& name : names) {
    const std::string mnt = dir + "/" + name;
    fs::create_directory(mnt);
    if (::mount("tollgate-bench", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m") != 0)
      die("cannot mount tmpfs");
    binary[name] = mnt + "/tiny";
    fs::copy_file(tiny_src, binary[name]);
    ::chmod(binary[name].c_str(), 0755);
  }

  const std::string db = dir + "/policy.db", err = dir + "/stderr.log";
  hashdb::PolicyContent content;
  content.hash_rules = {allow(tollgated), allow(binary["enforce"])};
  if (auto w = hashdb::write_database(db, content, {.generation = 1}); !w) die(w.error().message());
  auto config = [&](const std::string& name, const std::string& mode, const std::string& database,
                    const std::string& mnt) {
    std::string path = dir + "/" + name + ".yaml";
    if (auto st = write_file_atomic(path, fmt::format("mode: {}\ndatabase: {}\nevent_log: {}/{}.jsonl\n"
                                                      "socket: {}/{}.sock\nwatch: [{}]\nmust_allow: []\nstate_dir: {}/{}.state\n",
                                                      mode, database, dir, name, dir, name, mnt, dir, name));
        !st)
      die(st.error().message());
    return path;
  };

  std::map<std::string, Child> children;
  children["trivial"] = spawn({listener, dir + "/trivial"}, err);
  wait_stdout_ready(children["trivial"]);
  for (const std::string mode : {"audit", "enforce"}) {
    children[mode] = spawn({tollgated, "--config", config(mode, mode, db, dir + "/" + mode)}, err);
    wait_socket_ready(dir + "/" + mode + ".sock", children[mode]);
  }
  for (const auto& name : names) exec_rate(binary[name], warmup);

  fmt::print("exec_bench: {} rounds x {} execs per setup (after {} warm-up) of a {}-byte static binary,\n"
             "each setup on its own private tmpfs, all listeners running, order rotated every round\n",
             rounds, execs, warmup, fs::file_size(binary["none"]));
  std::map<std::string, std::vector<double>> rates;
  std::map<std::string, double> seconds;
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < names.size(); ++k) {
      const std::string& name = names[(k + static_cast<size_t>(round)) % names.size()];
      double rate = exec_rate(binary[name], execs);
      rates[name].push_back(rate);
      seconds[name] += execs / rate;
    }
  }
  auto status = control::control_request(dir + "/enforce.sock", {{"cmd", "status"}});
  for (auto& [name, child] : children) stop(child);

  fmt::print("\n| setup | execs/s (total) | median of rounds | vs trivial (total) | vs trivial (median of per-round ratios) |\n"
             "|---|---|---|---|---|\n");
  auto paired = [&](const std::string& name) {
    std::vector<double> r;
    for (size_t i = 0; i < rates[name].size(); ++i) r.push_back(rates[name][i] / rates["trivial"][i]);
    return median(r);
  };
  const double total_execs = static_cast<double>(rounds) * execs;
  for (const auto& name : names)
    fmt::print("| {} | {:.0f} | {:.0f} | {:.3f} | {:.3f} |\n", name, total_execs / seconds[name], median(rates[name]),
               seconds["trivial"] / seconds[name], paired(name));
  fmt::print("\ntollgated/trivial: audit {:.3f}, enforce {:.3f} (total time; target >= 0.95)\n",
             seconds["trivial"] / seconds["audit"], seconds["trivial"] / seconds["enforce"]);
  if (status && (*status)["ok"] == true)
    fmt::print("tollgated enforce: {} decisions, {} cache misses, {} errors; decision latency (event read to answer, "
               "histogram bucket bound) p50 <= {} us, p99 <= {} us\n",
               (*status)["counters"]["allowed"].dump(), (*status)["counters"]["cache_misses"].dump(),
               (*status)["counters"]["errors"].dump(), (*status)["latency_us"]["p50"].dump(),
               (*status)["latency_us"]["p99"].dump());
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
    Child c = spawn({tollgated, "--config", config("big", "enforce", big, dir + "/enforce")}, err);
    wait_socket_ready(dir + "/big.sock", c);
    std::chrono::duration<double> ready = Clock::now() - t0;
    double rate = exec_rate(binary["enforce"], 1000);
    long rss = status_kib(c.pid, "VmRSS:"), hwm = status_kib(c.pid, "VmHWM:");
    fmt::print("\n{} hash rules: database {:.0f} MiB written in {:.1f} s; tollgated enforce ready in {:.1f} s "
               "(opens and verifies the content digest), {:.0f} execs/s; RSS {:.1f} MiB, peak RSS {:.1f} MiB "
               "(target < 64 MiB)\n",
               rules + 2, static_cast<double>(fs::file_size(big)) / (1 << 20), wrote.count(), ready.count(), rate,
               rss / 1024.0, hwm / 1024.0);
    stop(c);
  }
  for (const auto& name : names) ::umount2((dir + "/" + name).c_str(), MNT_DETACH);
  fs::remove_all(dir);
  return 0;
}
