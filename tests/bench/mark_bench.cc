// mark_bench: how long after a filesystem is mounted below a watched prefix
// tollgated has marked it (the bound the docs state for new mounts).
//
//   timeout 600 ./build/tests/mark_bench --mounts 200 [--slave]
//
// Enters a private mount namespace itself (needs root), mounts a tmpfs there
// and starts tollgated (audit mode, census off) watching only that tmpfs;
// then, --mounts times: mounts another tmpfs below it and polls the daemon's
// status until that filesystem is listed as marked (each poll is one control
// request, ~0.1-0.3 ms: the figure is an upper bound), and unmounts it.
// --slave runs the daemon in a mount namespace of its own with slave
// propagation, as a hardened unit would, so each mount reaches it by
// propagation. Every mark is on a tmpfs this process mounted; the daemon
// dies with it.
#include <fcntl.h>
#include <fmt/core.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "common/io.h"
#include "control/client.h"

using namespace tollgate;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& msg) {
  fmt::print(stderr, "mark_bench: {}\n", msg);
  std::exit(1);
}

bool marked(const std::string& socket, const std::string& mount_point) {
  auto status = control::accepted(control::Client(socket, 2000).status());
  if (!status) return false;
  for (const auto& f : status->filesystems)
    if (f.marked && std::find(f.mount_points.begin(), f.mount_points.end(), mount_point) != f.mount_points.end())
      return true;
  return false;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mark_bench: time from a mount below a watched prefix to its filesystem mark"};
  int mounts = 200;
  bool slave = false;
  app.add_option("--mounts", mounts, "Mounts to time")->capture_default_str();
  app.add_flag("--slave", slave, "Run tollgated in a mount namespace of its own with slave propagation");
  CLI11_PARSE(app, argc, argv);

  const fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
  const std::string tollgated = fs::canonical(self / "../enforcer/tollgated");
  if (::unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS) needs root");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("cannot make / private");
  char tmpl[] = "/tmp/tollgate-bench.XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  const std::string dir = tmpl, mnt = dir + "/mnt", socket = dir + "/s.sock";
  fs::create_directory(mnt);
  if (::mount("tollgate-bench", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") != 0)
    die("cannot mount tmpfs");
  if (slave && ::mount(nullptr, mnt.c_str(), nullptr, MS_SHARED, nullptr) != 0) die("cannot make the tmpfs shared");
  const std::string config = dir + "/c.yaml";
  if (auto st = write_file_atomic(config, fmt::format("mode: audit\ndatabase: {0}/none.db\nevent_log: {0}/e.jsonl\n"
                                                      "socket: {1}\nwatch: [{2}]\ncensus_interval_ms: 0\n"
                                                      "must_allow: []\nstate_dir: {0}/state\n",
                                                      dir, socket, mnt));
      !st)
    die(st.error().message());

  pid_t parent = ::getpid();
  pid_t daemon = ::fork();
  if (daemon == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(99);
    int err = ::open((dir + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (err >= 0) ::dup2(err, 2);
    if (slave)
      ::execl("/usr/bin/unshare", "unshare", "-m", "--propagation", "slave", tollgated.c_str(), "--config",
              config.c_str(), nullptr);
    else ::execl(tollgated.c_str(), tollgated.c_str(), "--config", config.c_str(), nullptr);
    ::_exit(127);
  }
  auto ready_by = Clock::now() + std::chrono::seconds(30);
  while (!marked(socket, mnt)) {
    if (Clock::now() > ready_by) die("tollgated did not become ready: " + read_file(dir + "/stderr.log").value_or(""));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  std::vector<double> ms;
  for (int i = 0; i < mounts; ++i) {
    const std::string late = mnt + "/m" + std::to_string(i);
    fs::create_directory(late);
    const auto t0 = Clock::now();
    if (::mount("tollgate-bench", late.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) die("mount failed");
    while (!marked(socket, late)) {
      if (Clock::now() - t0 > std::chrono::seconds(10)) die("not marked within 10 s: " + late);
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    ::umount2(late.c_str(), MNT_DETACH);
  }
  fmt::print(
      "mark_bench: {} mounts below a watched prefix{}; mount to mark (status polled): median {:.2f} ms, "
      "p90 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms\n",
      mounts, slave ? ", daemon in a slave mount namespace" : "", percentile(ms, 0.5), percentile(ms, 0.9),
      percentile(ms, 0.99), percentile(ms, 1.0));
  ::kill(daemon, SIGTERM);
  ::waitpid(daemon, nullptr, 0);
  ::umount2(mnt.c_str(), MNT_DETACH);
  fs::remove_all(dir);
  return 0;
}
