// The census walk against a fake /proc: once per process, re-examined after
// an exec or a reused pid, one mountinfo read per namespace, the judge only
// for watched executables, exemptions by content.
#include "census/census.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <map>

#include "common/io.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::census;

namespace {

class FakeProc final : public ProcSource {
 public:
  testing::TempDir dir;
  std::map<pid_t, ProcessFacts> processes;
  std::map<pid_t, std::string> mountinfos;
  std::map<pid_t, std::string> exe_files;  // pid -> a real file standing in for /proc/PID/exe
  int mountinfo_reads = 0;
  int facts_reads = 0;
  std::vector<ProcessId> killed;

  std::vector<pid_t> pids() override {
    std::vector<pid_t> out;
    for (const auto& [pid, p] : processes) out.push_back(pid);
    return out;
  }
  int start_reads = 0;
  std::optional<ProcessId> identity(pid_t pid) override {
    auto it = processes.find(pid);
    if (it == processes.end()) return std::nullopt;
    ProcessId id = it->second.id;
    id.start_ticks = 0;  // as ProcFs: the executable only
    return id;
  }
  std::optional<uint64_t> start_ticks(pid_t pid) override {
    ++start_reads;
    auto it = processes.find(pid);
    if (it == processes.end()) return std::nullopt;
    return it->second.id.start_ticks;
  }
  std::optional<ProcessFacts> facts(pid_t pid) override {
    ++facts_reads;
    auto it = processes.find(pid);
    if (it == processes.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::string> mountinfo(pid_t pid) override {
    ++mountinfo_reads;
    auto it = mountinfos.find(pid);
    if (it == mountinfos.end()) return std::nullopt;
    return it->second;
  }
  Result<UniqueFd> open_exe(pid_t pid) override {
    auto it = exe_files.find(pid);
    if (it == exe_files.end()) return fail(ErrorCode::kNotFound, "gone");
    return open_fd(it->second, O_RDONLY);
  }
  std::string exe_path(pid_t pid) override {
    auto it = processes.find(pid);
    return it == processes.end() ? "" : it->second.exe;
  }
  int64_t start_time_us(uint64_t ticks) override { return 1'700'000'000'000'000 + static_cast<int64_t>(ticks); }
  std::string user_name(uid_t uid) override { return uid == 0 ? "root" : ""; }
  Status kill(const ProcessId& id) override {
    killed.push_back(id);
    return {};
  }

  // A real file in the fake's temp directory, standing in for an executable: its path.
  std::string binary(const std::string& name, const std::string& content) {
    testing::write_text(dir.file(name), content);
    return dir.file(name);
  }
  // A process whose executable is `file` (stat'ed for its identity) at `exe` on mount `mount_id`.
  void add(pid_t pid, const std::string& exe, int mount_id, const std::string& file, uint64_t mnt_ns = 1) {
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    ProcessFacts p;
    p.id = {.pid = pid, .start_ticks = static_cast<uint64_t>(pid) * 10, .exe_dev = st.st_dev, .exe_ino = st.st_ino};
    p.has_exe = true;
    p.exe = exe;
    p.exe_mount_id = mount_id;
    p.ppid = 1;
    p.uid = 1000;
    // Moved-in strings, not assignments from literals: g++ 12's -Wrestrict
    // false positive (GCC PR 105651) fires on those here.
    p.comm = std::string("x");
    p.cmdline = exe + std::string(" --arg");
    p.mnt_ns = mnt_ns;
    processes[pid] = p;
    exe_files[pid] = file;
  }
};

MountView view() {
  auto mounts = parse_mountinfo(
      "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "40 22 0:50 / /srv/watched rw - tmpfs w rw\n");
  return MountView::from(mounts, {::makedev(0, 50)});
}

struct Judged {
  int calls = 0;
  bool deny = true;
  Judge judge() {
    return [this](int, const ProcessFacts&) -> std::optional<Judgement> {
      ++calls;
      return Judgement{.denied = deny, .rule = deny ? "default-deny" : "hash-allow:x", .reason = "r", .sha256 = ""};
    };
  }
};

}  // namespace

TEST_SUITE("census.walk") {
  TEST_CASE("each process is reported once, not once per walk; gone processes are forgotten") {
    FakeProc proc;
    const std::string a = proc.binary("a", "binary a");
    proc.add(100, "/memfd:miner (deleted)", 13, a);
    proc.add(101, "/srv/watched/tool", 40, a);
    Census census(proc, {});
    Judged judged;
    auto first = census.walk(view(), judged.judge());
    REQUIRE(first.size() == 2);
    CHECK(first[0].finding == Finding::kFileless);
    CHECK(first[0].id.pid == 100);
    CHECK(first[0].exe == "/memfd:miner (deleted)");
    CHECK(first[0].cmdline == "/memfd:miner (deleted) --arg");
    CHECK(first[0].start_time_us == 1'700'000'000'001'000);
    CHECK_FALSE(first[0].reason.empty());
    CHECK(first[1].finding == Finding::kUnapproved);
    CHECK(first[1].rule == "default-deny");
    CHECK(judged.calls == 1);  // only the watched one is judged
    CHECK(census.last_walk().classified == 2);

    const int reads = proc.facts_reads;
    CHECK(census.walk(view(), judged.judge()).empty());
    CHECK(census.walk(view(), judged.judge()).empty());
    CHECK(proc.facts_reads == reads);  // identities only
    CHECK(proc.start_reads == 4);      // the start time only of the two with a finding
    CHECK(census.last_walk().processes == 2);
    CHECK(census.last_walk().classified == 0);

    proc.processes.erase(100);
    CHECK(census.walk(view(), judged.judge()).empty());
    CHECK(census.tracked() == 1);
  }

  TEST_CASE("an exec in a known process (fexecve of a memfd) and a reused pid are new processes") {
    FakeProc proc;
    const std::string approved = proc.binary("approved", "approved");
    const std::string memfd = proc.binary("memfd", "memfd content");
    proc.add(200, "/srv/watched/approved", 40, approved);
    Census census(proc, {});
    Judged judged{.deny = false};
    CHECK(census.walk(view(), judged.judge()).empty());
    // The same pid and start time, a new executable: it exec'd.
    proc.add(200, "/memfd:x (deleted)", 13, memfd);
    proc.processes[200].id.start_ticks = 2000;  // as before
    auto found = census.walk(view(), judged.judge());
    REQUIRE(found.size() == 1);
    CHECK(found[0].finding == Finding::kFileless);
    CHECK(census.walk(view(), judged.judge()).empty());
    // The pid reused by another process with the same executable: it had a
    // finding, so its start time is checked, and it is reported again.
    proc.processes[200].id.start_ticks = 9999;
    found = census.walk(view(), judged.judge());
    REQUIRE(found.size() == 1);
    CHECK(found[0].id.start_ticks == 9999);
  }

  TEST_CASE("a process without a finding is followed by its executable alone (no /proc/PID/stat read per walk)") {
    FakeProc proc;
    const std::string approved = proc.binary("approved", "approved");
    for (pid_t pid = 1000; pid < 1100; ++pid) proc.add(pid, "/srv/watched/approved", 40, approved);
    Census census(proc, {});
    Judged judged{.deny = false};
    CHECK(census.walk(view(), judged.judge()).empty());
    const int facts = proc.facts_reads;
    for (int i = 0; i < 5; ++i) CHECK(census.walk(view(), judged.judge()).empty());
    CHECK(proc.facts_reads == facts);
    CHECK(proc.start_reads == 0);
    CHECK(census.last_walk().processes == 100);
  }

  TEST_CASE("a process in another mount namespace: its mountinfo is read once per namespace per walk") {
    FakeProc proc;
    const std::string f = proc.binary("f", "f");
    const std::string theirs =
        "90 89 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "92 90 0:77 / /tmp/x rw - tmpfs x rw\n";
    for (pid_t pid : {300, 301, 302}) {
      proc.add(pid, "/tmp/x/miner", 92, f, /*mnt_ns=*/4026532000);
      proc.mountinfos[pid] = theirs;
    }
    Census census(proc, {});
    Judged judged;
    auto found = census.walk(view(), judged.judge());
    REQUIRE(found.size() == 3);
    for (const auto& r : found) {
      CHECK(r.finding == Finding::kForeignFilesystem);
      CHECK(r.filesystem == "0:77 tmpfs");
    }
    CHECK(proc.mountinfo_reads == 1);
    CHECK(judged.calls == 0);
  }

  TEST_CASE("a process on a filesystem that becomes watched later (marked after it started) is judged then") {
    FakeProc proc;
    const std::string tool = proc.binary("tool", "tool");
    proc.add(600, "/data/tool", 41, tool);
    auto mounts = parse_mountinfo(
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "41 22 8:2 / /data rw - xfs /dev/sda2 rw\n");
    Census census(proc, {});
    Judged judged;
    CHECK(census.walk(MountView::from(mounts, {::makedev(8, 1)}), judged.judge()).empty());
    CHECK(census.walk(MountView::from(mounts, {::makedev(8, 1)}), judged.judge()).empty());
    CHECK(judged.calls == 0);
    auto found = census.walk(MountView::from(mounts, {::makedev(8, 1), ::makedev(8, 2)}), judged.judge());
    REQUIRE(found.size() == 1);
    CHECK(found[0].finding == Finding::kUnapproved);
    CHECK(judged.calls == 1);
  }

  TEST_CASE("after a policy change, running processes on watched filesystems are judged again, once") {
    FakeProc proc;
    const std::string tool = proc.binary("tool", "tool");
    proc.add(700, "/srv/watched/tool", 40, tool);
    proc.add(701, "/memfd:x (deleted)", 13, tool);
    Census census(proc, {});
    Judged judged{.deny = false};
    CHECK(census.walk(view(), judged.judge(), 1).size() == 1);  // the memfd
    CHECK(census.walk(view(), judged.judge(), 1).empty());
    CHECK(judged.calls == 1);
    judged.deny = true;  // the new policy revokes the tool
    auto found = census.walk(view(), judged.judge(), 2);
    REQUIRE(found.size() == 1);
    CHECK(found[0].id.pid == 700);
    CHECK(found[0].finding == Finding::kUnapproved);
    CHECK(census.walk(view(), judged.judge(), 2).empty());
    CHECK(census.walk(view(), judged.judge(), 3).empty());  // reported once, not once per policy
    CHECK(judged.calls == 2);
  }

  TEST_CASE("kernel threads and processes without an executable are never findings") {
    FakeProc proc;
    ProcessFacts kthread;
    kthread.id = {.pid = 2, .start_ticks = 1};
    kthread.kernel_thread = true;
    proc.processes[2] = kthread;
    ProcessFacts zombie;
    zombie.id = {.pid = 3, .start_ticks = 1};
    proc.processes[3] = zombie;
    Census census(proc, {});
    Judged judged;
    CHECK(census.walk(view(), judged.judge()).empty());
    CHECK(census.tracked() == 2);
  }

  TEST_CASE("an executable that changed between the walk and the judge is left for the next walk") {
    FakeProc proc;
    const std::string a = proc.binary("a", "a");
    const std::string b = proc.binary("b", "b");
    proc.add(400, "/srv/watched/a", 40, a);
    proc.exe_files[400] = b;  // /proc/PID/exe now opens another file
    Census census(proc, {});
    Judged judged;
    CHECK(census.walk(view(), judged.judge()).empty());
    CHECK(judged.calls == 0);
    CHECK(census.tracked() == 0);  // not remembered: looked at again next walk
    proc.exe_files[400] = a;
    CHECK(census.walk(view(), judged.judge()).size() == 1);
  }

  TEST_CASE(
      "exemptions are by content: a memfd holding an exempt file's bytes is marked exempt, a renamed "
      "one with other bytes is not") {
    FakeProc proc;
    const std::string runc = proc.binary("runc", "the runc binary");
    const std::string miner = proc.binary("miner", "a miner");
    proc.add(500, "/memfd:runc_cloned:/proc/self/exe (deleted)", 13, runc);
    proc.add(501, "/memfd:runc_cloned:/proc/self/exe (deleted)", 13, miner);
    auto digest = hashdb::sha256_path(runc);
    REQUIRE(digest);
    Census census(proc, {.exempt = {{*digest, "/usr/sbin/runc"}}});
    Judged judged;
    auto found = census.walk(view(), judged.judge());
    REQUIRE(found.size() == 2);
    CHECK(found[0].exempt == "/usr/sbin/runc");
    CHECK(found[0].sha256 == hashdb::to_hex(*digest));
    CHECK(found[1].exempt.empty());
    CHECK(found[1].sha256 == hashdb::to_hex(hashdb::sha256_bytes(std::string_view("a miner"))));
  }
}
