// ProcFs on a made-up proc root (parsing) and on our own /proc entry. No
// process is ever signalled here: the refusals of kill() are checked, and
// real kills are tested only inside a pid namespace (census_e2e_test).
#include "census/process.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::census;
namespace fs = std::filesystem;

namespace {

// ROOT/PID/{stat,status,cmdline,exe}.
void fake_process(const std::string& root, pid_t pid, const std::string& comm, const std::string& exe_target) {
  const std::string dir = root + "/" + std::to_string(pid);
  fs::create_directories(dir);
  // Fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
  // cstime priority nice threads itrealvalue starttime vsize rss.
  testing::write_text(dir + "/stat", std::to_string(pid) + " (" + comm +
                                         ") S 77 1 1 0 -1 4194560 0 0 0 0 120 30 0 0 20 0 1 0 123456 1000 250\n");
  testing::write_text(dir + "/status", "Name:\tx\nPPid:\t77\nUid:\t1000\t1000\t1000\t1000\nGid:\t0\t0\t0\t0\n");
  testing::write_text(dir + "/cmdline", std::string("miner\0-o\0pool:3333\0", 20));
  if (!exe_target.empty()) fs::create_symlink(exe_target, dir + "/exe");
}

}  // namespace

TEST_SUITE("census.process") {
  TEST_CASE("stat, status and cmdline of a made-up proc root, a command name with ') (' in it") {
    testing::TempDir dir;
    testing::write_text(dir.file("binary"), "x");
    fake_process(dir.path(), 4242, "evil) (name", dir.file("binary"));
    fake_process(dir.path(), 2, "kthreadd", "");
    testing::write_text(dir.file("stat"), "cpu 1 2 3\nbtime 1700000000\nprocesses 5\n");
    ProcFs proc(dir.path());
    auto pids = proc.pids();
    std::sort(pids.begin(), pids.end());
    CHECK(pids == std::vector<pid_t>{2, 4242});
    auto f = proc.facts(4242);
    REQUIRE(f);
    CHECK(f->comm == "evil) (name");
    CHECK(f->ppid == 77);
    CHECK(f->uid == 1000);
    CHECK(f->id.start_ticks == 123456);
    CHECK(f->cpu_ticks == 150);
    CHECK(f->rss_pages == 250);
    CHECK(f->cmdline == "miner -o pool:3333");
    CHECK(f->has_exe);
    CHECK(f->exe == dir.file("binary"));
    struct stat st {};
    REQUIRE(::stat(dir.file("binary").c_str(), &st) == 0);
    CHECK(f->id.exe_ino == st.st_ino);
    CHECK(f->exe_mount_id > 0);
    CHECK_FALSE(f->kernel_thread);
    auto id = proc.identity(4242);
    REQUIRE(id);
    CHECK(id->exe_ino == f->id.exe_ino);
    CHECK(id->exe_dev == f->id.exe_dev);
    CHECK(proc.start_ticks(4242) == 123456);
    auto kthread = proc.identity(2);  // no exe, but there
    REQUIRE(kthread);
    CHECK(kthread->exe_ino == 0);
    CHECK(proc.start_time_us(100 * static_cast<uint64_t>(::sysconf(_SC_CLK_TCK))) == 1'700'000'100'000'000);
    auto k = proc.facts(2);
    REQUIRE(k);
    CHECK_FALSE(k->has_exe);
    CHECK(k->id.exe_ino == 0);
    CHECK_FALSE(proc.identity(99999));
  }

  TEST_CASE("our own process through the real /proc") {
    ProcFs proc("/proc");
    CHECK(proc.shows_own_pid_namespace());
    auto f = proc.facts(::getpid());
    REQUIRE(f);
    CHECK(f->has_exe);
    struct stat st {};
    REQUIRE(::stat("/proc/self/exe", &st) == 0);
    CHECK(f->id.exe_ino == st.st_ino);
    CHECK(f->id.exe_dev == st.st_dev);
    CHECK(f->mnt_ns != 0);
    CHECK(f->uid == ::getuid());
    auto exe = proc.open_exe(::getpid());
    CHECK(exe);
    auto mounts = proc.mountinfo(::getpid());
    REQUIRE(mounts);
    CHECK(mounts->find(" / ") != std::string::npos);
    auto id = mount_id_at(AT_FDCWD, "/proc/self/exe");
    REQUIRE(id);
    CHECK(*id == f->exe_mount_id);
  }

  TEST_CASE("kill refuses pid 1, itself, and any proc root that is not our pid namespace's") {
    ProcFs real("/proc");
    CHECK_FALSE(real.kill({.pid = 1}));
    CHECK_FALSE(real.kill({.pid = 0}));
    CHECK_FALSE(real.kill({.pid = ::getpid()}));
    testing::TempDir dir;
    fake_process(dir.path(), 4242, "x", "/bin/true");
    ProcFs fake(dir.path());
    CHECK_FALSE(fake.shows_own_pid_namespace());
    auto st = fake.kill({.pid = 4242});
    REQUIRE_FALSE(st);
    CHECK(st.error().message().find("not the proc of our pid namespace") != std::string::npos);
  }
}
