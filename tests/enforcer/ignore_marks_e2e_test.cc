// Ignore marks against the real kernel (root): tollgated enforcing on a
// tmpfs mounted over /srv inside a private mount namespace (the host's /srv
// is untouched), so the file and every parent (/srv, /) are root-owned 0755
// and an approved binary there is on a safe chain. Every wait is bounded.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/io.h"
#include "control/client.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"
#include "tests/support/daemon_process.h"
#include "tests/support/enforcer_fixture.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSafeRoot = "/srv";

hashdb::HashRule allow_file(const std::string& path) {
  auto digest = hashdb::sha256_path(path);
  REQUIRE(digest);
  hashdb::HashRule r;
  r.sha256 = *digest;
  return r;
}

struct SafeFixture {
  testing::TempDir dir;  // config, database, log, socket: off the marked mount
  testing::DaemonProcess process;
  std::string db = dir.file("policy.db"), config = dir.file("tollgate.yaml"), socket = dir.file("tollgate.sock");
  std::string approved = std::string(kSafeRoot) + "/bin/approved";
  std::string unapproved = std::string(kSafeRoot) + "/bin/unapproved";
  std::string scratch_copy = std::string(kSafeRoot) + "/scratch/approved";

  SafeFixture() {
    REQUIRE_MESSAGE(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS) needs root: ", std::strerror(errno));
    REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
    struct stat st {};
    REQUIRE(::stat(kSafeRoot, &st) == 0);
    REQUIRE(::mount(testing::kFixtureTmpfs, kSafeRoot, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=32m") == 0);
    // A filesystem mark reaches every filesystem mounted at or below /srv
    // (DEVELOPERS.md): only this tmpfs may be.
    testing::require_own_tmpfs(kSafeRoot);
    REQUIRE(::mkdir((std::string(kSafeRoot) + "/bin").c_str(), 0755) == 0);
    REQUIRE(::mkdir((std::string(kSafeRoot) + "/scratch").c_str(), 0755) == 0);
    REQUIRE(::chmod((std::string(kSafeRoot) + "/scratch").c_str(), 01777) == 0);  // like /tmp
    for (const auto& [from, to] :
         {std::pair{"/bin/true", approved}, {"/bin/false", unapproved}, {"/bin/true", scratch_copy}}) {
      fs::copy_file(from, to);
      REQUIRE(::chmod(to.c_str(), 0755) == 0);
    }
  }
  ~SafeFixture() {
    process.stop();
    ::umount2(kSafeRoot, MNT_DETACH);
  }

  // The usual start: `approved_file` approved by hash, enforcing.
  void start_approving(const std::string& approved_file, const std::string& extra = "") {
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_file(approved_file));
    write_db(c, 1);
    start(extra);
  }
  void write_db(hashdb::PolicyContent content, uint64_t generation) {
    content.policy_name = "ignore-e2e";
    content.hash_rules.push_back(allow_file(testing::built_binary("tollgated")));
    REQUIRE(hashdb::write_database(db, content, {.generation = generation}));
  }
  void start(const std::string& extra = "") {
    testing::write_text(config, "mode: enforce\ndatabase: " + db + "\nevent_log: " + dir.file("events.jsonl") +
                                    "\nsocket: " + socket + "\nwatch: [" + kSafeRoot +
                                    "]\nmust_allow: []\ndecision_timeout_ms: 5000\nstate_dir: " + dir.file("state") +
                                    "\n" + extra);
    auto why = process.start({testing::built_binary("tollgated"), "--config", config}, dir.file("tollgated.err"), [&] {
      auto r = control::control_request(socket, {{"cmd", "status"}}, 2000);
      return r && (*r)["ok"] == true;
    });
    if (!why.empty()) FAIL("tollgated " << why);
  }
  json status() {
    auto r = control::control_request(socket, {{"cmd", "status"}}, 10000);
    REQUIRE(r);
    return *r;
  }
  uint64_t decided() {
    auto s = status();
    return s["counters"]["allowed"].get<uint64_t>() + s["counters"]["denied"].get<uint64_t>();
  }
  // Counters follow the answer: wait (bounded) until `n` decisions are counted.
  uint64_t wait_decided(uint64_t n) {
    uint64_t got = decided();
    for (int i = 0; i < 200 && got < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      got = decided();
    }
    return got;
  }
  // The mark follows the answer: wait (bounded) until `n` are in place.
  bool wait_marks(uint64_t n) {
    for (int i = 0; i < 500; ++i) {
      if (status()["ignore_marks"]["count"].get<uint64_t>() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

}  // namespace

TEST_SUITE("enforcer.ignore_marks.e2e") {
  TEST_CASE("an approved binary on a safe chain is decided once; revoked and reloaded, it is denied") {
    SafeFixture f;
    f.start_approving(f.approved);
    auto s = f.status();
    REQUIRE_MESSAGE(s["ignore_marks"]["enabled"] == true, s["ignore_marks"].dump());
    REQUIRE(testing::exec_errno(f.approved) == 0);
    REQUIRE(f.wait_marks(1));
    // The first exec is counted after its mark is placed: wait for it too.
    const uint64_t before = f.wait_decided(1);
    REQUIRE(before == 1);
    for (int i = 0; i < 5; ++i) CHECK(testing::exec_errno(f.approved) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // room for a late count
    CHECK(f.decided() == before);                                 // the kernel never asked again
    CHECK(testing::exec_errno(f.unapproved) == EPERM);

    f.write_db(hashdb::PolicyContent{}, 2);  // revoked
    auto reply = control::control_request(f.socket, {{"cmd", "reload"}}, 10000);
    REQUIRE(reply);
    REQUIRE((*reply)["ok"] == true);
    CHECK(f.status()["ignore_marks"]["count"] == 0);
    CHECK(testing::exec_errno(f.approved) == EPERM);
    // The flush removed inode marks only: the mount mark still sees every exec.
    CHECK(testing::exec_errno(f.unapproved) == EPERM);
    CHECK(testing::exec_errno(f.scratch_copy) == EPERM);
  }

  TEST_CASE("an ignore-marked binary modified by a write is decided again, and denied with unapproved content") {
    SafeFixture f;
    f.start_approving(f.approved);
    REQUIRE(testing::exec_errno(f.approved) == 0);
    REQUIRE(f.wait_marks(1));
    // The first exec is counted after its mark is placed: wait for it too.
    const uint64_t before = f.wait_decided(1);
    REQUIRE(before == 1);
    // Same inode, new content: the write clears the ignore mask.
    auto other = read_file("/bin/false");
    REQUIRE(other);
    {
      UniqueFd fd(::open(f.approved.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
      REQUIRE(fd);
      REQUIRE(::write(fd.get(), other->data(), other->size()) == static_cast<ssize_t>(other->size()));
    }
    CHECK(testing::exec_errno(f.approved) == EPERM);
    CHECK(f.wait_decided(before + 1) == before + 1);
  }

  TEST_CASE("a copy in a world-writable directory is decided at every exec, never marked") {
    SafeFixture f;
    f.start_approving(f.scratch_copy);
    const uint64_t before = f.decided();
    for (int i = 0; i < 5; ++i) CHECK(testing::exec_errno(f.scratch_copy) == 0);
    CHECK(f.wait_decided(before + 5) == before + 5);
    auto s = f.status();
    CHECK(s["ignore_marks"]["count"] == 0);
    CHECK(s["ignore_marks"]["added"] == 0);
  }

  TEST_CASE("with log_allows every allowed exec is decided and logged: no ignore marks") {
    SafeFixture f;
    f.start_approving(f.approved, "log_allows: true\n");
    auto s = f.status();
    CHECK(s["ignore_marks"]["enabled"] == false);
    CHECK(s["ignore_marks"]["reason"].get<std::string>().starts_with("log_allows is on"));
    const uint64_t before = f.decided();
    for (int i = 0; i < 3; ++i) CHECK(testing::exec_errno(f.approved) == 0);
    CHECK(f.wait_decided(before + 3) == before + 3);
  }
}
