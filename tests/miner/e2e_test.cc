// Miner detection end to end (issue 12), as root, each part in private
// namespaces:
// - the report: tollgated in audit mode on a tmpfs it alone marks; a
//   harmless fixture carrying XMRig-style markers spins a core and is
//   flagged, through the daemon's content scan, with a reason naming the
//   marker; an ordinary binary run from a var/tmp directory and a copy of
//   Tollgate's own CLI are listed, not flagged;
// - the runtime signals: the same fixture, in a private pid and network
//   namespace with its own /proc, connected to a local stratum port and
//   named like a kernel thread, is assessed from that /proc while it runs.
// Every wait is bounded; children are killed by pid.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "miner/proc_sample.h"
#include "miner/runtime.h"
#include "tests/support/enforcer_fixture.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using nlohmann::json;

namespace {

struct Unmount {
  std::string path;
  ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
};

}  // namespace

TEST_SUITE("miner.e2e") {
  TEST_CASE(
      "audit mode: the fixture is flagged by the daemon's content scan; an ordinary binary and tollgate are not") {
    testing::EnforcerFixture f("256m");
    std::filesystem::create_directories(f.mnt + "/dl");
    std::filesystem::create_directories(f.mnt + "/var/tmp");
    const std::string miner = f.mnt + "/dl/fake-miner", id = f.mnt + "/var/tmp/id", own = f.mnt + "/dl/tollgate";
    std::filesystem::copy_file(testing::built_binary("fake_miner"), miner);
    std::filesystem::copy_file("/usr/bin/id", id);
    std::filesystem::copy_file(testing::built_binary("tollgate"), own);
    for (const auto& file : {miner, id, own}) ::chmod(file.c_str(), 0755);
    f.start_with_base_policy("audit", 1);

    // Audit: all three run. The fixture spins a core for three seconds.
    auto spun = testing::run({miner, "--seconds", "3"}, 30);
    CHECK(spun.exit_code == 0);
    CHECK(testing::run({id, "-u"}, 30).exit_code == 0);
    CHECK(testing::run({own, "--version"}, 30).exit_code == 0);
    REQUIRE(f.wait_for_paths("decision", {miner, id, own}));
    REQUIRE_MESSAGE(f.wait_for_paths("scan", {miner, id, own}), testing::read_text(f.events));

    // --no-scan: what flags is the daemon's scan, logged.
    auto out = f.cli({"report", "--since", "1h", "--json", "--no-scan"});
    REQUIRE_MESSAGE(out.exit_code == 0, out.err);
    auto j = json::parse(out.out);
    REQUIRE(j["binaries"].size() == 3);
    const auto& flagged = j["binaries"][0];
    CHECK(flagged["path"] == miner);
    CHECK(flagged["miner"]["suspect"] == true);
    CHECK(flagged["miner"]["scan"] == "daemon");
    CHECK(flagged["miner"]["reasons"][0].get<std::string>().starts_with("contains 'stratum+tcp://' at byte "));
    bool names_donate = false;
    for (const auto& r : flagged["miner"]["reasons"])
      names_donate |= r.get<std::string>().find("'donate-level'") != std::string::npos;
    CHECK(names_donate);
    for (size_t i = 1; i < 3; ++i) {
      const auto& b = j["binaries"][i];
      CAPTURE(b.dump());
      CHECK((b["path"] == id || b["path"] == own));
      CHECK(b["miner"]["suspect"] == false);
      CHECK(b["miner"]["reasons"].empty());  // /tmp and var/tmp are context: without evidence, nothing
      CHECK(b["miner"]["scan"] == "daemon");
    }
    auto text = f.cli({"report", "--since", "1h"});
    CHECK(text.out.find("\n" + miner + "   [MINER? score ") != std::string::npos);
    CHECK(text.out.find("\n" + id + "\n") != std::string::npos);
    CHECK(text.out.find("\n" + own + "\n") != std::string::npos);
    CHECK(text.out.find("LOOKS LIKE") == std::string::npos);
  }

  TEST_CASE("runtime signals of the live fixture, read from its own pid namespace's /proc") {
    testing::enter_private_namespace();
    REQUIRE(::unshare(CLONE_NEWNET) == 0);
    {
      // Loopback up in the new network namespace.
      int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      REQUIRE(s >= 0);
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
      REQUIRE(::ioctl(s, SIOCGIFFLAGS, &ifr) == 0);
      ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
      REQUIRE(::ioctl(s, SIOCSIFFLAGS, &ifr) == 0);
      ::close(s);
    }
    // A "pool" on the stratum port 3333, in this namespace only.
    int pool = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(pool >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(3333);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(pool, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(pool, 4) == 0);

    testing::TempDir dir;
    const std::string proc = dir.file("proc"), ready = dir.file("ready");
    REQUIRE(::mkdir(proc.c_str(), 0755) == 0);
    const std::string fixture = testing::built_binary("fake_miner");
    // The outer child unshares the pid namespace; its child is pid 1 there,
    // mounts that namespace's /proc and becomes the fixture.
    pid_t outer = ::fork();
    REQUIRE(outer >= 0);
    if (outer == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::unshare(CLONE_NEWPID) != 0) ::_exit(90);
      pid_t init = ::fork();
      if (init < 0) ::_exit(91);
      if (init == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) ::_exit(92);
        ::execl(fixture.c_str(), fixture.c_str(), "--seconds", "8", "--connect", "3333", "--comm", "kworker/0:7",
                "--ready", ready.c_str(), static_cast<char*>(nullptr));
        ::_exit(93);
      }
      int status = testing::wait_child(init, 30000);
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 94);
    }
    Unmount unmount_proc{proc};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!std::filesystem::exists(ready) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE_MESSAGE(std::filesystem::exists(ready), "the fixture did not start");
    int accepted = ::accept4(pool, nullptr, nullptr, SOCK_CLOEXEC);
    CHECK(accepted >= 0);

    // That /proc shows only the namespace: the fixture is pid 1 there.
    std::vector<std::string> pids;
    for (const auto& e : std::filesystem::directory_iterator(proc)) {
      auto name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") == std::string::npos) pids.push_back(name);
    }
    CHECK(pids == std::vector<std::string>{"1"});

    auto facts = miner::sample_process(proc, 1, std::chrono::milliseconds(1500));
    REQUIRE_MESSAGE(facts, facts.error().message());
    CHECK(facts->comm == "kworker/0:7");
    CHECK(facts->exe == fixture);
    CHECK_FALSE(facts->kernel_thread);
    REQUIRE(facts->cpu_cores);
    // It spins, but the machine is shared: any CPU time at all, not a share (that is
    // the busy-cpu threshold the unit tests pin down with fixed numbers).
    CHECK(*facts->cpu_cores > 0);
    CHECK(*facts->cpu_cores < 1.5);  // one thread
    CHECK(facts->connections == std::vector<miner::Connection>{{"127.0.0.1:3333", 3333}});
    auto a = miner::assess_process(*facts);
    CAPTURE(a.reason_lines());
    CHECK(a.suspect);
    CHECK(a.score >= 40 + 40);
    std::vector<miner::Signal> signals;
    for (const auto& r : a.reasons) signals.push_back(r.signal);
    CHECK(std::ranges::count(signals, miner::Signal::kFakeKernelThread) == 1);
    CHECK(std::ranges::count(signals, miner::Signal::kStratumPort) == 1);

    ::kill(outer, SIGKILL);
    testing::wait_child(outer, 10000);
    if (accepted >= 0) ::close(accepted);
    ::close(pool);
  }
}
