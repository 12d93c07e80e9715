// The runtime signals: the pure scorer over facts, and the /proc adapter
// against a fake proc tree in a temp dir.
#include "miner/runtime.h"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "miner/proc_sample.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::miner;

namespace {

// A fake PROC/PID with the files read_snapshot reads.
struct FakeProcess {
  std::string dir;
  FakeProcess(const std::string& root, int pid) : dir(root + "/" + std::to_string(pid)) {
    std::filesystem::create_directories(dir + "/fd");
    std::filesystem::create_directories(dir + "/net");
  }
  void stat(const std::string& comm, unsigned long flags, uint64_t utime, uint64_t stime, uint64_t start = 5000) {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    // cutime cstime priority nice threads itreal starttime ...
    testing::write_text(dir + "/stat", "4242 (" + comm + ") R 1 4242 4242 0 -1 " + std::to_string(flags) +
                                           " 100 0 0 0 " + std::to_string(utime) + " " + std::to_string(stime) +
                                           " 0 0 20 0 1 0 " + std::to_string(start) + " 1000000 100 0\n");
    testing::write_text(dir + "/comm", comm + "\n");
  }
  void link(const std::string& name, const std::string& target) {
    std::filesystem::create_symlink(target, dir + "/" + name);
  }
  void write(const std::string& name, const std::string& text) { testing::write_text(dir + "/" + name, text); }
};

constexpr const char* kTcpHeader =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

}  // namespace

TEST_SUITE("miner.runtime") {
  TEST_CASE("each runtime signal fires on its own fact, and only a user process can fake a kernel thread") {
    ProcessFacts quiet{.pid = 7,
                       .comm = "worker",
                       .argv0 = "/opt/app/worker",
                       .exe = "/opt/app/worker",
                       .cpu_cores = 0.2,
                       .window_s = 2};
    CHECK(runtime_evidence(quiet).empty());
    auto a = assess_process(quiet);
    CHECK_FALSE(a.suspect);
    CHECK(a.reasons.empty());

    struct Case {
      ProcessFacts facts;
      Signal signal;
      const char* text;
    };
    const Case cases[] = {
        {{.exe = "/x", .cpu_cores = 0.97, .window_s = 2}, Signal::kBusyCpu, "held 0.97 cores busy over 2.0 s"},
        {{.exe = "/x", .cpu_cores = 3.9, .window_s = 1.5}, Signal::kBusyCpu, "held 3.90 cores busy over 1.5 s"},
        {{.exe = "/x", .msr_devices = {"/dev/cpu/0/msr"}}, Signal::kMsrDevice, "holds /dev/cpu/0/msr open"},
        {{.exe = "/x", .hugetlb_kb = 2097152}, Signal::kHugePages, "holds 2097152 KiB of huge pages (hugetlb)"},
        {{.exe = "/x", .connections = {{"203.0.113.7:3333", 3333}}},
         Signal::kStratumPort,
         "connected to 203.0.113.7:3333 (a stratum port)"},
        {{.exe = "/x", .connections = {{"[2001:db8:0:0:0:0:0:1]:14444", 14444}}},
         Signal::kStratumPort,
         "connected to [2001:db8:0:0:0:0:0:1]:14444 (a stratum port)"},
        {{.comm = "kworker/0:1", .exe = "/tmp/x"},
         Signal::kFakeKernelThread,
         "user process named 'kworker/0:1' like a kernel thread (exe /tmp/x)"},
        {{.comm = "x", .argv0 = "[kthreadd]", .exe = ""},
         Signal::kFakeKernelThread,
         "user process named '[kthreadd]' like a kernel thread (exe unknown)"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.text);
      auto reasons = runtime_evidence(c.facts);
      REQUIRE(reasons.size() == 1);
      CHECK(reasons[0].signal == c.signal);
      CHECK(reasons[0].text == c.text);
    }
    // Not busy enough, not a stratum port, a real kernel thread.
    CHECK(runtime_evidence({.cpu_cores = 0.85, .window_s = 2}).empty());
    CHECK(runtime_evidence({.connections = {{"198.51.100.1:443", 443}}}).empty());
    CHECK(runtime_evidence({.comm = "kworker/0:1", .kernel_thread = true, .cpu_cores = 1.0}).empty());
  }

  TEST_CASE("a busy core alone is not a miner; with a stratum connection it is") {
    ProcessFacts busy{.exe = "/usr/local/bin/build", .cpu_cores = 1.0, .window_s = 2};
    CHECK_FALSE(assess_process(busy).suspect);
    busy.connections.push_back({"203.0.113.7:3333", 3333});
    auto a = assess_process(busy);
    CHECK(a.suspect);
    CHECK(a.score == 40 + 20);
    CHECK(a.strongest() == "connected to 203.0.113.7:3333 (a stratum port)");
    // Context from the executable's path.
    busy.exe = "/dev/shm/.x/build";
    CHECK(assess_process(busy).score == 40 + 20 + 10 + 10);
  }

  TEST_CASE("/proc/net/tcp lines decode: IPv4, IPv6, state and inode") {
    auto v4 = parse_tcp_line(
        "   3: 0100007F:A1B2 0A00000A:0D05 01 00000000:00000000 00:00000000 00000000  1000        0 77123 1 0");
    REQUIRE(v4);
    CHECK(v4->remote == "10.0.0.10:3333");
    CHECK(v4->remote_port == 3333);
    CHECK(v4->state == 1);
    CHECK(v4->inode == 77123);
    auto v6 = parse_tcp_line(
        "   0: 00000000000000000000000000000000:1F90 B80D0120000000000000000001000000:3870 02 00000000:00000000 "
        "00:00000000 00000000     0        0 991 1 0");
    REQUIRE(v6);
    CHECK(v6->remote == "[2001:db8:0:0:0:0:0:1]:14448");
    CHECK(v6->state == 2);
    CHECK(v6->inode == 991);
    CHECK_FALSE(parse_tcp_line(kTcpHeader));
    CHECK_FALSE(parse_tcp_line("   0: zz:1 yy:2 01 0 0 0 0 0 0 1"));
    CHECK_FALSE(parse_tcp_line(""));
  }

  TEST_CASE("a fake proc tree: the adapter reads every fact, and two snapshots give the CPU share") {
    testing::TempDir dir;
    const std::string proc = dir.file("proc");
    FakeProcess p(proc, 4242);
    p.stat("kworker/1:2", 0x400100, 1000, 200);
    p.write("cmdline", std::string("/tmp/.x/kworker\0--donate\0", 25));
    p.link("exe", "/tmp/.x/kworker");
    p.write("status", "Name:\tkworker/1:2\nVmRSS:\t  1000 kB\nHugetlbPages:\t    4096 kB\nThreads:\t1\n");
    p.link("fd/0", "/dev/null");
    p.link("fd/3", "/dev/cpu/1/msr");
    p.link("fd/4", "socket:[555]");
    p.link("fd/5", "socket:[556]");
    p.link("fd/6", "pipe:[557]");
    p.write("net/tcp", std::string(kTcpHeader) +
                           "   0: 0100007F:A1B2 0A00000A:115C 01 00000000:00000000 00:00000000 00000000 0 0 555 1 0\n"
                           "   1: 0100007F:A1B3 0A00000A:01BB 01 00000000:00000000 00:00000000 00000000 0 0 556 1 0\n"
                           "   2: 0100007F:A1B4 0A00000A:0D05 01 00000000:00000000 00:00000000 00000000 0 0 999 1 0\n"
                           "   3: 0100007F:A1B5 0A00000A:0D05 06 00000000:00000000 00:00000000 00000000 0 0 556 1 0\n");
    p.write("net/tcp6", kTcpHeader);

    auto first = read_snapshot(proc, 4242);
    REQUIRE_MESSAGE(first, first.error().message());
    CHECK(first->comm == "kworker/1:2");
    CHECK(first->argv0 == "/tmp/.x/kworker");
    CHECK(first->exe == "/tmp/.x/kworker");
    CHECK_FALSE(first->kernel_thread);
    CHECK(first->cpu_ticks == 1200);
    CHECK(first->start_ticks == 5000);
    CHECK(first->hugetlb_kb == 4096);
    CHECK(first->msr_devices == std::vector<std::string>{"/dev/cpu/1/msr"});
    CHECK(first->socket_inodes.size() == 2);
    auto connections = read_connections(proc, 4242, first->socket_inodes);
    // 555 -> port 0x115C = 4444; 556 -> 443; 999 is another process's; state 06 is TIME_WAIT.
    CHECK(connections == std::vector<Connection>{{"10.0.0.10:4444", 4444}, {"10.0.0.10:443", 443}});

    // Two seconds later, 200 more ticks (at 100 ticks/s: one core).
    p.stat("kworker/1:2", 0x400100, 1150, 250);
    auto last = read_snapshot(proc, 4242);
    REQUIRE(last);
    auto facts = facts_from(*first, *last, 2.0, 100, connections);
    REQUIRE(facts.cpu_cores);
    CHECK(*facts.cpu_cores == doctest::Approx(1.0));
    auto a = assess_process(facts);
    CHECK(a.suspect);
    std::vector<Signal> signals;
    for (const auto& r : a.reasons) signals.push_back(r.signal);
    CHECK(signals == std::vector<Signal>{Signal::kMsrDevice, Signal::kFakeKernelThread, Signal::kStratumPort,
                                         Signal::kBusyCpu, Signal::kHugePages, Signal::kKernelThreadName,
                                         Signal::kTempDir, Signal::kHiddenName});
    CHECK(a.score == 50 + 40 + 40 + 20 + 20 + 15 + 10 + 10);
  }

  TEST_CASE("the adapter: a kernel thread, a vanished pid, a reused pid, a garbled stat") {
    testing::TempDir dir;
    const std::string proc = dir.file("proc");
    FakeProcess k(proc, 2);
    k.stat("kworker/0:0", 0x04208040, 0, 90);  // PF_KTHREAD
    auto kt = read_snapshot(proc, 2);
    REQUIRE(kt);
    CHECK(kt->kernel_thread);
    CHECK(runtime_evidence(facts_from(*kt, *kt, 1, 100, {})).empty());

    CHECK(read_snapshot(proc, 99).error().code() == ErrorCode::kNotFound);
    CHECK(sample_processes(proc, {99}, std::chrono::milliseconds(1)).empty());

    FakeProcess odd(proc, 5);
    odd.write("stat", "5 (a) b) c) R 1\n");
    auto garbled = read_snapshot(proc, 5);
    REQUIRE_FALSE(garbled);
    CHECK(garbled.error().message().find("/5/stat: unexpected format") != std::string::npos);

    // A comm with spaces and parentheses is parsed from the last ')'.
    FakeProcess tricky(proc, 6);
    tricky.stat("a) (b c", 0, 1, 1);
    auto parsed = read_snapshot(proc, 6);
    REQUIRE_MESSAGE(parsed, parsed.error().message());
    CHECK(parsed->cpu_ticks == 2);
  }

  TEST_CASE("sample_process measures a live busy child of this test") {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      volatile unsigned long n = 0;
      while (std::chrono::steady_clock::now() < until) n = n + 1;
      ::_exit(0);
    }
    auto facts = sample_process("/proc", child, std::chrono::milliseconds(1000));
    ::kill(child, SIGKILL);
    testing::wait_child(child, 5000);
    REQUIRE_MESSAGE(facts, facts.error().message());
    REQUIRE(facts->cpu_cores);
    // A shared machine: the spinning child gets some CPU time, one core at most.
    CHECK(*facts->cpu_cores > 0);
    CHECK(*facts->cpu_cores < 1.5);
    CHECK(facts->window_s == doctest::Approx(1.0).epsilon(0.2));
    CHECK_FALSE(facts->kernel_thread);
  }
}
