// End-to-end census (issue 10): what fanotify cannot see is found, reported
// once per process, and with `on_unwatched: kill` stopped.
//
// SAFETY (DEVELOPERS.md): this binary runs as PID 1 of a pid namespace of
// its own (ctest starts it under `unshare -m -p --fork --mount-proc`), and
// every test checks that first, so /proc shows only the test's processes and
// a kill can hit nothing else. Marks only on the fixture's own tmpfs.
// Needs root (ctest label "root").
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "tests/support/daemon_process.h"
#include "tests/support/enforcer_fixture.h"
#include "tests/support/temp_dir.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U  // linux/memfd.h since 6.3
#endif

using namespace tollgate;
using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kUnshare = "/usr/bin/unshare";
const std::string kSetpriv = "/usr/bin/setpriv";

void require_own_pid_namespace() {
  REQUIRE_MESSAGE(::getpid() == 1,
                  "census tests must run as PID 1 of their own pid namespace "
                  "(unshare -m -p --fork --mount-proc), so a kill can only hit their own processes");
}

std::string exe_of(pid_t pid) {
  std::error_code ec;
  auto target = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return ec ? "" : target.string();
}

// A child process of this test, killed (by pid) and reaped at scope exit.
struct Child {
  pid_t pid = -1;
  Child() = default;
  explicit Child(pid_t p) : pid(p) {}
  Child(Child&& o) noexcept : pid(std::exchange(o.pid, -1)) {}
  ~Child() { reap(); }
  void reap() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    testing::wait_child(pid, 5000);
    pid = -1;
  }
  // Waits (bounded) until its executable satisfies `ok`.
  bool wait_exe(const std::function<bool(const std::string&)>& ok, int limit_ms = 10000) const {
    for (auto end = Clock::now() + std::chrono::milliseconds(limit_ms); Clock::now() < end;) {
      if (ok(exe_of(pid))) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  // How long until it died, up to `limit`; nullopt: still alive.
  std::optional<std::chrono::milliseconds> time_until_dead(std::chrono::milliseconds limit, int* status = nullptr) {
    const auto start = Clock::now();
    while (Clock::now() - start < limit) {
      int st = 0;
      if (::waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        if (status) *status = st;
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }
  bool alive() const { return pid > 0 && ::waitpid(pid, nullptr, WNOHANG) == 0; }
};

Child spawn(const std::vector<std::string>& argv) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return Child(pid);
}

// memfd_create + fexecve of a copy of `content` (fileless).
Child spawn_memfd(const std::string& content, const std::vector<std::string>& args) {
  const std::string bytes = testing::read_text(content);
  REQUIRE(!bytes.empty());
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::memfd_create("tollgate-test", MFD_CLOEXEC | MFD_EXEC);
    if (fd < 0) fd = ::memfd_create("tollgate-test", MFD_CLOEXEC);  // a kernel before 6.3
    if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) ::_exit(126);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::fexecve(fd, argv.data(), environ);
    ::_exit(127);
  }
  return Child(pid);
}

// nobody, in a user and mount namespace of its own, mounts a tmpfs on `dir`
// (which exists only in that namespace) and runs a copy of sleep from it.
Child spawn_userns_sleeper(const std::string& dir) {
  return spawn({kSetpriv, "--reuid=65534", "--regid=65534", "--clear-groups", kUnshare, "-Urm", "/bin/sh", "-c",
                "mount -t tmpfs tollgate-userns " + dir + " && cp /bin/sleep " + dir + "/sleeper && exec " + dir +
                    "/sleeper 60"});
}

// A copy of /bin/sleep with `tag` appended: other content, so another hash.
std::string sleep_copy(const std::string& path, const std::string& tag) {
  fs::copy_file("/bin/sleep", path, fs::copy_options::overwrite_existing);
  if (!tag.empty()) {
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out << "\n" << tag << "\n";
  }
  ::chmod(path.c_str(), 0755);
  return path;
}

bool is_memfd(const std::string& exe) { return exe.starts_with("/memfd:tollgate-test"); }

// `c`, once (bounded wait) its executable satisfies `ok`.
Child running(Child c, const std::function<bool(const std::string&)>& ok) {
  REQUIRE(c.wait_exe(ok));
  return c;
}

// A copy of sleep at `path`, running.
Child run_copy(const std::string& path, const std::string& arg) {
  return running(spawn({path, arg}), [&](const std::string& e) { return e == path; });
}

// A memfd copy of `content`, running (fexecve'd).
Child run_memfd(const std::string& content, const std::vector<std::string>& args) {
  return running(spawn_memfd(content, args), is_memfd);
}

// Started before the daemon: an unapproved process, and one whose file is then deleted.
struct Early {
  Child unapproved, doomed;
};

struct CensusFixture : testing::EnforcerFixture {
  std::string approved_sleep, unapproved_sleep, doomed_sleep, exempt_sleep, userns_dir;
  explicit CensusFixture(int interval_ms) {
    require_own_pid_namespace();
    census = "census_interval_ms: " + std::to_string(interval_ms) + "\n";
    approved_sleep = sleep_copy(mnt + "/approved-sleep", "");
    unapproved_sleep = sleep_copy(mnt + "/unapproved-sleep", "unapproved");
    doomed_sleep = sleep_copy(mnt + "/doomed-sleep", "doomed");
    exempt_sleep = sleep_copy(mnt + "/exempt-sleep", "exempt");
    userns_dir = dir.file("userns");
    REQUIRE(::mkdir(userns_dir.c_str(), 0755) == 0);
  }
  hashdb::PolicyContent rules() {
    auto c = base_rules();
    c.hash_rules.push_back(testing::hash_allow("/bin/sleep"));
    // PID 1 of this namespace: the anti-lockout check insists on it.
    c.hash_rules.push_back(testing::hash_allow(fs::read_symlink("/proc/self/exe")));
    return c;
  }
  // The early processes, then the daemon enforcing rules() with `extra` config.
  Early start_enforcing(const std::string& extra = "") {
    Early e{run_copy(unapproved_sleep, "60"), run_copy(doomed_sleep, "61")};
    REQUIRE(::unlink(doomed_sleep.c_str()) == 0);
    write_db(rules(), 1);
    write_config("enforce", extra);
    start_daemon();
    return e;
  }
  // nobody's sleeper on a tmpfs inside its user namespace, running.
  Child run_userns() {
    return running(spawn_userns_sleeper(userns_dir), [](const std::string& e) { return e.ends_with("/sleeper"); });
  }
  // Findings by pid, waiting (bounded) for at least `n`.
  std::map<pid_t, json> findings(size_t n) {
    std::map<pid_t, json> out;
    for (auto& e : wait_events("finding", n)) out[e["pid"].get<pid_t>()] = e;
    return out;
  }
};

}  // namespace

TEST_SUITE("enforcer.census.e2e") {
  TEST_CASE(
      "the census reports a memfd-exec'd process, one nobody runs from a tmpfs inside its user namespace, an "
      "unapproved one started before the daemon and a deleted one, each once") {
    CensusFixture f(200);
    auto [unapproved, doomed] = f.start_enforcing();
    Child approved = run_copy(f.approved_sleep, "62");
    Child memfd = run_memfd("/bin/sleep", {"sleep", "63"});
    Child userns = f.run_userns();

    auto found = f.findings(4);
    REQUIRE_MESSAGE(found.size() == 4, testing::read_text(f.events), testing::read_text(f.stderr_path));
    REQUIRE(found.contains(memfd.pid));
    REQUIRE(found.contains(userns.pid));
    REQUIRE(found.contains(unapproved.pid));
    REQUIRE(found.contains(doomed.pid));
    CHECK_FALSE(found.contains(approved.pid));

    const json& m = found[memfd.pid];
    CHECK(m["finding"] == "fileless");
    CHECK(m["exe"] == "/memfd:tollgate-test (deleted)");
    CHECK(m["cmdline"] == "sleep 63");
    CHECK(m["ppid"] == 1);
    CHECK(m["uid"] == 0);
    CHECK(m["user"] == "root");
    CHECK(m["action"] == "log");
    CHECK(m["start_time"].get<std::string>().ends_with("Z"));
    CHECK(m["parent_exe"] == fs::read_symlink("/proc/self/exe").string());

    const json& u = found[userns.pid];
    CHECK(u["finding"] == "foreign-filesystem");
    CHECK(u["uid"] == 65534);
    CHECK(u["user"] == "nobody");
    CHECK(u["exe"] == f.userns_dir + "/sleeper");
    CHECK(u["filesystem"].get<std::string>().ends_with(" tmpfs"));

    const json& a = found[unapproved.pid];
    CHECK(a["finding"] == "unapproved");
    CHECK(a["rule"] == "default-deny");
    CHECK(a["exe"] == f.unapproved_sleep);
    CHECK(a["sha256"] == hashdb::to_hex(*hashdb::sha256_path(f.unapproved_sleep)));

    const json& d = found[doomed.pid];
    CHECK(d["finding"] == "deleted");
    CHECK(d["exe"] == f.doomed_sleep + " (deleted)");

    // Once per process: more walks, no more findings; nothing killed in log mode.
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    CHECK(f.read_events("finding").size() == 4);
    CHECK(f.read_events("kill").empty());
    for (const Child* c : {&unapproved, &doomed, &approved, &memfd, &userns}) CHECK(c->alive());
    auto status = f.request({{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["census"]["findings"] == 4);
    CHECK((*status)["census"]["walks"].get<int>() >= 3);
    CHECK((*status)["census"]["on_unwatched"] == "log");
  }

  TEST_CASE(
      "on_unwatched: kill in enforce mode kills the memfd and user-namespace processes within two intervals, "
      "and the unapproved one; never a deleted, approved or exempt one, and nothing in audit mode") {
    const int interval = 1000;
    CensusFixture f(interval);
    auto [unapproved, doomed] = f.start_enforcing("on_unwatched: kill\nunwatched_exempt: [" + f.exempt_sleep + "]\n");
    Child approved = spawn({f.approved_sleep, "62"});
    Child exempt = spawn_memfd(f.exempt_sleep, {"runc", "64"});
    Child memfd = run_memfd("/bin/sleep", {"sleep", "63"});
    const pid_t memfd_pid = memfd.pid;
    auto memfd_took = memfd.time_until_dead(std::chrono::milliseconds(2 * interval));
    Child userns = f.run_userns();
    const pid_t userns_pid = userns.pid;
    int status = 0;
    auto userns_took = userns.time_until_dead(std::chrono::milliseconds(2 * interval), &status);
    REQUIRE_MESSAGE(memfd_took, "the memfd process still runs two intervals later");
    REQUIRE_MESSAGE(userns_took, "the user-namespace process still runs two intervals later");
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    MESSAGE("killed " << memfd_took->count() << " ms and " << userns_took->count() << " ms after they ran");
    const pid_t unapproved_pid = unapproved.pid;
    CHECK(unapproved.time_until_dead(std::chrono::milliseconds(2 * interval)));

    auto kills = f.wait_events("kill", 3);
    REQUIRE(kills.size() == 3);
    std::set<pid_t> killed;
    for (const auto& k : kills) {
      CHECK(k["ok"] == true);
      CHECK(k["signal"] == "SIGKILL");
      killed.insert(k["pid"].get<pid_t>());
    }
    CHECK(killed == std::set<pid_t>{memfd_pid, userns_pid, unapproved_pid});
    // Never killed: the deleted one (an upgraded service looks the same), the approved one, the exempt memfd.
    CHECK(doomed.alive());
    CHECK(approved.alive());
    CHECK(exempt.alive());
    auto found = f.findings(5);
    REQUIRE(found.contains(exempt.pid));
    CHECK(found[exempt.pid]["action"] == "exempt");
    CHECK(found[exempt.pid]["exempt"] == f.exempt_sleep);
    REQUIRE(found.contains(doomed.pid));
    CHECK(found[doomed.pid]["action"] == "log");

    // Audit mode: reported, not killed.
    auto reply = f.request({{"cmd", "set_mode"}, {"mode", "audit"}, {"by", "test"}});
    REQUIRE(reply);
    REQUIRE((*reply)["ok"] == true);
    Child audited = run_memfd("/bin/sleep", {"sleep", "65"});
    CHECK_FALSE(audited.time_until_dead(std::chrono::milliseconds(2 * interval + 500)));
    found = f.findings(6);
    REQUIRE(found.contains(audited.pid));
    CHECK(found[audited.pid]["action"] == "log");
    CHECK(f.read_events("kill").size() == 3);
  }

  TEST_CASE(
      "tollgate sweep --json lists the same findings with CPU share and RSS, exits 1, and kills only what "
      "it is told to (and has a finding)") {
    CensusFixture f(60000);  // the daemon's census stays out of the way: sweep runs its own walk
    auto [unapproved, doomed] = f.start_enforcing();
    Child approved = run_copy(f.approved_sleep, "62");
    Child memfd = run_memfd("/bin/sleep", {"sleep", "63"});
    // A fileless process that poses as a kernel thread: the miner's runtime signals.
    Child posing = run_memfd("/bin/sleep", {"[kworker/0:1-events]", "66"});
    Child userns = f.run_userns();

    const std::string tollgate = testing::built_binary("tollgate");
    auto sweep = [&](std::vector<std::string> extra) {
      std::vector<std::string> argv = {tollgate, "sweep", "--config", f.config, "--sample-ms", "200"};
      argv.insert(argv.end(), extra.begin(), extra.end());
      return testing::run(argv, 60);
    };
    auto listed = sweep({"--json"});
    CHECK(listed.exit_code == 1);
    auto out = json::parse(listed.out);
    REQUIRE(out.is_array());
    std::map<pid_t, json> by_pid;
    for (const auto& r : out) by_pid[r["pid"].get<pid_t>()] = r;
    CAPTURE(listed.out);
    REQUIRE(by_pid.contains(memfd.pid));
    REQUIRE(by_pid.contains(userns.pid));
    REQUIRE(by_pid.contains(unapproved.pid));
    REQUIRE(by_pid.contains(doomed.pid));
    CHECK_FALSE(by_pid.contains(approved.pid));
    CHECK(by_pid[memfd.pid]["finding"] == "fileless");
    CHECK(by_pid[userns.pid]["finding"] == "foreign-filesystem");
    CHECK(by_pid[unapproved.pid]["finding"] == "unapproved");
    CHECK(by_pid[doomed.pid]["finding"] == "deleted");
    CHECK(by_pid[memfd.pid]["cpu_share"].get<double>() < 0.5);  // sleep does not spin
    CHECK(by_pid[memfd.pid]["rss_bytes"].get<uint64_t>() > 0);
    CHECK(by_pid[memfd.pid]["start_time"].get<std::string>().ends_with("Z"));
    // The miner's runtime signals, over the same window: nothing for sleep; a kernel-thread name on a user
    // process is evidence, and with running from a deleted file (the memfd) enough to be a suspect.
    CHECK(by_pid[memfd.pid]["miner"]["suspect"] == false);
    CHECK(by_pid[memfd.pid]["miner"]["reasons"].empty());
    REQUIRE(by_pid.contains(posing.pid));
    const json& suspect = by_pid[posing.pid]["miner"];
    CHECK(suspect["suspect"] == true);
    CHECK(suspect["reasons"][0].get<std::string>().find("like a kernel thread") != std::string::npos);
    auto text = sweep({});
    CHECK(text.exit_code == 1);
    CHECK(text.out.find("  miner: SUSPECT, score ") != std::string::npos);

    // Refused: a pid without a finding; --kill-all without --yes.
    auto refused = sweep({"--kill", std::to_string(approved.pid)});
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("has no finding") != std::string::npos);
    CHECK(approved.alive());
    CHECK(sweep({"--kill-all"}).exit_code == 2);

    auto one = sweep({"--json", "--kill", std::to_string(memfd.pid)});
    CHECK(one.exit_code == 1);
    CHECK(memfd.time_until_dead(std::chrono::milliseconds(2000)));
    CHECK(userns.alive());

    // Without the daemon: the config's watch: list and the database judge the same way.
    f.stop_daemon();
    auto all = sweep({"--kill-all", "--yes"});
    CHECK(all.exit_code == 1);
    CHECK(all.err.find("judging by the config's watch: list") != std::string::npos);
    CHECK(all.out.find("KILLED") != std::string::npos);
    CHECK(userns.time_until_dead(std::chrono::milliseconds(2000)));
    CHECK(unapproved.time_until_dead(std::chrono::milliseconds(2000)));
    CHECK(doomed.alive());  // deleted: --kill-all leaves it (an upgraded service looks the same)
    CHECK(approved.alive());
    auto after = sweep({"--json"});
    CHECK(after.exit_code == 1);  // the deleted one is still there
    auto left = json::parse(after.out);
    REQUIRE(left.size() == 1);
    CHECK(left[0]["pid"] == doomed.pid);
    doomed.reap();
    auto clean = sweep({"--json"});
    CHECK(clean.exit_code == 0);  // nothing found
    CHECK(json::parse(clean.out) == json::array());
    CHECK(approved.alive());
  }
}
