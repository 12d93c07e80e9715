// census_bench: what the census costs, as CPU time per walk and as a share
// of one core at an interval, with N processes to walk.
//
//   timeout 600 unshare -m -p --fork --mount-proc ./build/tests/census_bench --processes 1000
//
// Runs as PID 1 of a pid namespace of its own (it refuses otherwise), so
// /proc lists exactly its N children (copies of `sleep`) and itself. It
// drives the daemon's own code (census::Census over census::ProcFs, the
// judge remembered per file as CensusRunner does) against this namespace's
// mount table with every filesystem counted as watched, so each process is
// classified, and its executable judged, on the first walk. It marks
// nothing and kills nothing. Prints the first walk (everything new) and the
// steady state (identities only), CPU time from CLOCK_PROCESS_CPUTIME_ID.
#include <fmt/core.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "census/census.h"
#include "census/mounts.h"
#include "common/io.h"
#include "hashdb/sha256.h"

using namespace tollgate;

namespace {

double cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"census_bench: the census's CPU cost per walk with N processes"};
  int processes = 1000, interval_ms = 2000, walks = 30;
  app.add_option("--processes", processes, "Processes to walk (children running sleep)")->capture_default_str();
  app.add_option("--interval-ms", interval_ms, "census_interval_ms to express the cost at")->capture_default_str();
  app.add_option("--walks", walks, "Steady-state walks to time")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (::getpid() != 1) {
    fmt::print(stderr,
               "census_bench: run it as PID 1 of its own pid namespace: "
               "unshare -m -p --fork --mount-proc {} ...\n",
               argv[0]);
    return 2;
  }

  std::vector<pid_t> children;
  for (int i = 0; i < processes; ++i) {
    pid_t pid = ::fork();
    if (pid < 0) {
      fmt::print(stderr, "census_bench: fork failed after {} children\n", i);
      return 1;
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::execl("/bin/sleep", "sleep", "3600", nullptr);
      ::_exit(127);
    }
    children.push_back(pid);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500 + processes));  // let them all exec

  auto table = read_file("/proc/self/mountinfo", 16u << 20);
  if (!table) {
    fmt::print(stderr, "census_bench: {}\n", table.error().message());
    return 1;
  }
  const auto mounts = census::parse_mountinfo(*table);
  std::vector<dev_t> all;
  for (const auto& m : mounts) all.push_back(m.dev);
  const auto view = census::MountView::from(mounts, all);

  census::ProcFs proc("/proc");
  census::Census census(proc, {});
  // As CensusRunner::judge: one hash per file, remembered.
  std::map<std::tuple<dev_t, ino_t>, census::Judgement> judged;
  auto judge = [&](int fd, const census::ProcessFacts&) -> std::optional<census::Judgement> {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return std::nullopt;
    auto key = std::make_tuple(st.st_dev, st.st_ino);
    if (auto it = judged.find(key); it != judged.end()) return it->second;
    auto digest = hashdb::sha256_fd(fd, "exe");
    census::Judgement j{.denied = false, .rule = "bench", .sha256 = digest ? hashdb::to_hex(*digest) : ""};
    judged.emplace(key, j);
    return j;
  };

  double c0 = cpu_seconds();
  auto w0 = std::chrono::steady_clock::now();
  census.walk(view, judge);
  const double first_cpu = cpu_seconds() - c0;
  const double first_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  const auto first = census.last_walk();

  std::vector<double> cpu, wall;
  for (int i = 0; i < walks; ++i) {
    c0 = cpu_seconds();
    w0 = std::chrono::steady_clock::now();
    census.walk(view, judge);
    cpu.push_back(cpu_seconds() - c0);
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
  }
  double total = 0;
  for (double c : cpu) total += c;
  const double mean = walks > 0 ? total / walks : 0;

  fmt::print("census_bench: {} processes walked ({} classified on the first walk), {} steady-state walks\n",
             first.processes, first.classified, walks);
  fmt::print("first walk:   {:.2f} ms CPU, {:.2f} ms wall (every process new: facts, mount table, judge)\n",
             first_cpu * 1e3, first_wall * 1e3);
  fmt::print("steady state: {:.2f} ms CPU per walk (median {:.2f} ms, wall median {:.2f} ms), {:.1f} us per process\n",
             mean * 1e3, median(cpu) * 1e3, median(wall) * 1e3, mean * 1e6 / std::max<uint64_t>(first.processes, 1));
  fmt::print("share of one core at census_interval_ms {}: {:.3f}% (target < 1%)\n", interval_ms,
             mean / (interval_ms / 1000.0) * 100);

  for (pid_t pid : children) ::kill(pid, SIGKILL);
  for (pid_t pid : children) ::waitpid(pid, nullptr, 0);
  return 0;
}
