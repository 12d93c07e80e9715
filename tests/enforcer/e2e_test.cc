// End-to-end: the real tollgated, enforcing on a tmpfs mounted inside a
// private mount namespace that this test process enters first (unshare), so
// its filesystem mark can never see an exec on the host (DEVELOPERS.md).
// Needs root (ctest label "root"). Every wait is bounded; the daemon is started with
// PR_SET_PDEATHSIG so it dies with the test, releasing any pending event.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <latch>
#include <mutex>
#include <sstream>
#include <thread>

#include "control/client.h"
#include "hashdb/keys.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"
#include "tests/support/daemon_process.h"
#include "tests/support/enforcer_fixture.h"
#include "tests/support/temp_dir.h"

extern char** environ;

using namespace tollgate;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

using testing::exec_errno;  // tests/support/daemon_process.h
using testing::hash_allow;
// tests/support/enforcer_fixture.h: a tmpfs in the private namespace, a
// config pointing everything into a temp directory, and the daemon.
using Fixture = testing::EnforcerFixture;

}  // namespace

TEST_SUITE("enforcer.e2e") {
  TEST_CASE("enforce: an approved binary runs, an unapproved one fails with EPERM and is logged") {
    Fixture f;
    f.start_with_base_policy("enforce", 1, "metrics_file: " + f.dir.file("tollgate.prom") + "\n");
    CHECK(exec_errno(f.mnt + "/approved") == 0);
    CHECK(exec_errno(f.mnt + "/unapproved") == EPERM);
    CHECK(testing::read_text(f.dir.file("tollgate.prom")).find("tollgate_decisions_total{verdict=\"deny\"}") !=
          std::string::npos);
    auto denies = f.wait_events("decision", 1);
    REQUIRE(denies.size() == 1);
    CHECK(denies[0]["decision"] == "deny");
    CHECK(denies[0]["would_deny"] == false);
    CHECK(denies[0]["rule"] == "default-deny");
    CHECK(denies[0]["path"] == f.mnt + "/unapproved");
    CHECK(denies[0]["pid"] != 0);
    CHECK(denies[0]["ppid"] == ::getpid());
    CHECK(denies[0]["uid"] == 0);
    CHECK(denies[0]["sha256"] == hashdb::to_hex(*hashdb::sha256_path("/bin/false")));
    auto start = f.read_events("start");
    REQUIRE(start.size() == 1);
    CHECK(start[0]["mode"] == "enforce");
    CHECK(start[0]["generation"] == 1);
    auto status = f.request({{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["mode"] == "enforce");
    CHECK((*status)["counters"]["denied"] == 1);
    CHECK((*status)["watched"] == json::array({f.mnt}));
    CHECK(f.stop_daemon() == 0);
    // Daemon gone: nothing is enforced any more.
    CHECK(exec_errno(f.mnt + "/unapproved") == 0);
  }

  TEST_CASE("audit: an unapproved binary runs and is logged as a would-deny") {
    Fixture f;
    f.start_with_base_policy("audit", 1);
    CHECK(exec_errno(f.mnt + "/unapproved") == 0);
    CHECK(exec_errno(f.mnt + "/approved") == 0);
    auto events = f.wait_events("decision", 1);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["decision"] == "allow");
    CHECK(events[0]["would_deny"] == true);
    CHECK(events[0]["mode"] == "audit");
    CHECK(events[0]["path"] == f.mnt + "/unapproved");
  }

  TEST_CASE("no database: the daemon runs in audit mode and says so") {
    Fixture f;
    f.write_config("enforce");
    f.start_daemon();
    CHECK(exec_errno(f.mnt + "/unapproved") == 0);
    auto start = f.wait_events("start", 1);
    REQUIRE(start.size() == 1);
    CHECK(start[0]["mode"] == "audit");
    CHECK(start[0]["note"].get<std::string>().find("no policy database") != std::string::npos);
    CHECK(testing::read_text(f.stderr_path).find("AUDIT mode") != std::string::npos);
    auto refused = f.request({{"cmd", "set_mode"}, {"mode", "enforce"}, {"by", "test"}});
    REQUIRE(refused);
    CHECK((*refused)["ok"] == false);
  }

  TEST_CASE("an approved binary modified in place is denied; a copy under a new name runs") {
    Fixture f;
    f.start_with_base_policy("enforce", 1);
    CHECK(exec_errno(f.mnt + "/approved") == 0);  // now cached
    fs::copy_file(f.mnt + "/approved", f.mnt + "/renamed-copy");
    CHECK(exec_errno(f.mnt + "/renamed-copy") == 0);
    {
      std::ofstream out(f.mnt + "/approved", std::ios::app | std::ios::binary);
      out << "tampered";
    }
    CHECK(exec_errno(f.mnt + "/approved") == EPERM);
    CHECK(exec_errno(f.mnt + "/renamed-copy") == 0);
  }

  TEST_CASE("a path deny beats a hash allow") {
    Fixture f;
    auto rules = f.base_rules();
    ::mkdir((f.mnt + "/drop").c_str(), 0755);
    fs::copy_file(f.mnt + "/approved", f.mnt + "/drop/approved");
    rules.path_rules.push_back({f.mnt + "/drop/", hashdb::PathMatch::kPrefix, hashdb::Action::kDeny, "drop", {}});
    f.write_db(rules, 1);
    f.write_config("enforce");
    f.start_daemon();
    CHECK(exec_errno(f.mnt + "/approved") == 0);
    CHECK(exec_errno(f.mnt + "/drop/approved") == EPERM);
    auto events = f.wait_events("decision", 1);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["rule"] == "path-deny:" + f.mnt + "/drop/");
  }

  TEST_CASE("a newly approved hash takes effect on reload, by SIGHUP or by the socket, without restart") {
    Fixture f;
    f.start_with_base_policy("enforce", 1, "public_key: " + f.pubkey() + "\n");
    CHECK(exec_errno(f.mnt + "/unapproved") == EPERM);
    auto rules = f.base_rules();
    rules.hash_rules.push_back(hash_allow("/bin/false"));
    f.write_db(rules, 2);
    auto reply = f.request({{"cmd", "reload"}});
    REQUIRE(reply);
    CHECK((*reply)["ok"] == true);
    CHECK((*reply)["generation"] == 2);
    CHECK(exec_errno(f.mnt + "/unapproved") == 0);

    f.write_db(f.base_rules(), 3);  // revoke again, this time by SIGHUP
    ::kill(f.daemon, SIGHUP);
    auto reloads = f.wait_events("reload", 2);
    REQUIRE(reloads.size() == 2);
    CHECK(reloads[1]["ok"] == true);
    CHECK(reloads[1]["generation"] == 3);
    CHECK(exec_errno(f.mnt + "/unapproved") == EPERM);
  }

  TEST_CASE("a tampered, foreign-signed or older-generation database is refused and the old policy stays") {
    Fixture f;
    f.start_with_base_policy("enforce", 5, "public_key: " + f.pubkey() + "\n");
    CHECK(f.generation() == 5);
    auto permissive = f.base_rules();
    permissive.hash_rules.push_back(hash_allow("/bin/false"));

    SUBCASE("older generation") { f.write_db(permissive, 4); }
    SUBCASE("signed by another key") {
      auto other = hashdb::generate_keypair();
      REQUIRE(hashdb::write_database(f.db, permissive, {.generation = 6, .signing_key = other->private_key}));
    }
    SUBCASE("unsigned") { f.write_db(permissive, 6, false); }
    SUBCASE("a row added after signing") {
      f.write_db(f.base_rules(), 6);
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open(f.db.c_str(), &db) == SQLITE_OK);
      auto digest = *hashdb::sha256_path("/bin/false");
      sqlite3_stmt* stmt = nullptr;
      REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO hash_rules(sha256, action) VALUES(?, 'allow')", -1, &stmt, nullptr) ==
              SQLITE_OK);
      sqlite3_bind_blob(stmt, 1, digest.data(), static_cast<int>(digest.size()), SQLITE_TRANSIENT);
      CHECK(sqlite3_step(stmt) == SQLITE_DONE);
      sqlite3_finalize(stmt);
      sqlite3_close(db);
    }
    auto reply = f.request({{"cmd", "reload"}});
    REQUIRE(reply);
    CHECK((*reply)["ok"] == false);
    CHECK_FALSE((*reply)["error"].get<std::string>().empty());
    CHECK(f.generation() == 5);
    CHECK(exec_errno(f.mnt + "/unapproved") == EPERM);
    CHECK(exec_errno(f.mnt + "/approved") == 0);
    auto reloads = f.wait_events("reload", 1);
    REQUIRE(reloads.size() == 1);
    CHECK(reloads[0]["ok"] == false);
  }

  TEST_CASE("anti-lockout: a policy that would deny a must_allow executable is refused in enforce mode") {
    Fixture f;
    fs::copy_file("/bin/true", f.mnt + "/login-shell");  // same content as approved...
    {
      std::ofstream out(f.mnt + "/login-shell", std::ios::app | std::ios::binary);
      out << "x";  // ...but not any more
    }
    const std::string must = "must_allow: [" + f.mnt + "/login-shell]\n";
    auto rules = f.base_rules();
    f.write_db(rules, 1);

    SUBCASE("switching to enforce is refused, with the list") {
      f.write_config("audit", must);
      f.start_daemon();
      auto reply = f.request({{"cmd", "set_mode"}, {"mode", "enforce"}, {"by", "alice"}, {"forced", true}});
      REQUIRE(reply);
      CHECK((*reply)["ok"] == false);
      CHECK((*reply)["error"].get<std::string>().find(f.mnt + "/login-shell (default-deny)") != std::string::npos);
      auto status = f.request({{"cmd", "status"}});
      CHECK((*status)["mode"] == "audit");
    }
    SUBCASE("a reload in enforce mode is refused and the old policy stays") {
      auto ok_rules = rules;
      ok_rules.hash_rules.push_back(hash_allow(f.mnt + "/login-shell"));
      f.write_db(ok_rules, 1);
      f.write_config("enforce", must);
      f.start_daemon();
      CHECK(exec_errno(f.mnt + "/login-shell") == 0);
      f.write_db(rules, 2);
      auto reply = f.request({{"cmd", "reload"}});
      REQUIRE(reply);
      CHECK((*reply)["ok"] == false);
      CHECK((*reply)["error"].get<std::string>().find("login-shell (default-deny)") != std::string::npos);
      CHECK(f.generation() == 1);
      CHECK(exec_errno(f.mnt + "/login-shell") == 0);
    }
    SUBCASE("at start in enforce mode the policy is refused and the daemon audits") {
      f.write_config("enforce", must);
      f.start_daemon();
      auto status = f.request({{"cmd", "status"}});
      REQUIRE(status);
      CHECK((*status)["mode"] == "audit");
      CHECK((*status)["database"]["loaded"] == false);
      CHECK(exec_errno(f.mnt + "/unapproved") == 0);
    }
  }

  TEST_CASE("mode switches over the socket are applied and logged") {
    Fixture f;
    f.start_with_base_policy("audit", 1);
    CHECK(exec_errno(f.mnt + "/unapproved") == 0);
    auto reply = f.request({{"cmd", "set_mode"}, {"mode", "enforce"}, {"by", "alice"}});
    REQUIRE(reply);
    CHECK((*reply)["ok"] == true);
    CHECK(exec_errno(f.mnt + "/unapproved") == EPERM);
    auto modes = f.wait_events("mode", 1);
    REQUIRE(modes.size() == 1);
    CHECK(modes[0]["from"] == "audit");
    CHECK(modes[0]["to"] == "enforce");
    CHECK(modes[0]["by"] == "alice");
    CHECK(modes[0]["forced"] == false);
  }

  TEST_CASE("audit storm: 200 execs of one unapproved binary are a few lines whose counts add up; report counts all") {
    Fixture f;
    const std::string prom = f.dir.file("tollgate.prom");
    f.start_with_base_policy("audit", 1, "metrics_file: " + prom + "\n");
    constexpr uint64_t kExecs = 200;
    for (uint64_t i = 0; i < kExecs; ++i) REQUIRE(exec_errno(f.mnt + "/unapproved") == 0);
    // The last window's "repeated" line comes when the window closes, with no
    // further event to push it out: wait (bounded) until the counts add up.
    std::vector<json> lines;
    uint64_t total = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      lines = f.read_events("decision");
      total = 0;
      for (const auto& l : lines) total += l.value("repeated", uint64_t{1});
      if (total >= kExecs) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(total == kExecs);
    CHECK(lines.size() <= 40);  // two lines per 1 s window: far fewer than one per exec
    uint64_t summaries = 0;
    for (const auto& l : lines) {
      CHECK(l["path"] == f.mnt + "/unapproved");
      CHECK(l["rule"] == "default-deny");
      CHECK(l["would_deny"] == true);
      CHECK(l["ppid"] == ::getpid());
      CHECK_FALSE(l["comm"].get<std::string>().empty());  // the first exec's full /proc facts
      if (l.contains("repeated")) {
        ++summaries;
        CHECK(l["repeated"].get<uint64_t>() >= 1);
      }
    }
    CHECK(summaries >= 1);
    auto status = f.request({{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["counters"]["would_deny"] == kExecs);  // every exec answered and counted
    auto report = testing::run(
        {testing::built_binary("tollgate"), "report", "--json", "--log", f.events, "--since", "all", "--no-scan"}, 60);
    REQUIRE_MESSAGE(report.exit_code == 0, report.err);
    json r = json::parse(report.out);
    REQUIRE(r["binaries"].size() == 1);
    CHECK(r["binaries"][0]["count"] == kExecs);
    CHECK(r["binaries"][0]["would_deny"] == kExecs);
    CHECK(f.stop_daemon() == 0);
    // Written at exit: the coalesced count is every exec not written as its own line.
    const uint64_t coalesced = kExecs - (lines.size() - summaries);
    CHECK(testing::read_text(prom).find("tollgate_event_log_coalesced_total " + std::to_string(coalesced) + "\n") !=
          std::string::npos);
  }

  TEST_CASE("killing the daemon with SIGKILL leaves no exec blocked") {
    Fixture f;
    f.start_with_base_policy("enforce", 1);
    CHECK(exec_errno(f.mnt + "/unapproved") == EPERM);
    f.stop_daemon(SIGKILL);
    auto r = testing::run({f.mnt + "/unapproved"}, 10);
    CHECK(r.exit_code == 1);  // /bin/false ran
    CHECK(exec_errno(f.mnt + "/approved") == 0);
  }

  TEST_CASE("4 processes x 500 execs at once are all answered") {
    Fixture f;
    f.start_with_base_policy("enforce", 1);
    const std::string loop = "i=0; while [ $i -lt 500 ]; do \"$1\" || exit 1; i=$((i+1)); done";
    std::vector<pid_t> pids;
    for (int p = 0; p < 4; ++p) {
      pid_t pid = -1;
      std::string approved = f.mnt + "/approved";
      char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>(loop.c_str()),
                      const_cast<char*>("sh"), approved.data(),         nullptr};
      REQUIRE(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0);
      pids.push_back(pid);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    int ok = 0;
    for (pid_t pid : pids) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      int status = testing::wait_child(pid, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++ok;
    }
    CHECK(ok == 4);
    auto status = f.request({{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["counters"]["allowed"].get<uint64_t>() >= 2000);
    CHECK((*status)["counters"]["errors"] == 0);
    CHECK((*status)["counters"]["queue_depth"] == 0);
    CHECK((*status)["counters"]["cache_hits"].get<uint64_t>() >= 1990);
  }

  TEST_CASE("tollgate status answers 0 while the daemon runs and 5 once it is gone") {
    Fixture f;
    f.start_with_base_policy("enforce", 3);
    auto human = testing::run({testing::built_binary("tollgate"), "status", "--config", f.config}, 30);
    CHECK(human.exit_code == 0);
    CHECK(human.out.find("mode:      enforce") != std::string::npos);
    CHECK(human.out.find("generation 3") != std::string::npos);
    auto machine = testing::run({testing::built_binary("tollgate"), "status", "--socket", f.socket, "--json"}, 30);
    CHECK(machine.exit_code == 0);
    json s = json::parse(machine.out);
    CHECK(s["mode"] == "enforce");
    CHECK(s["coverage"] == "exec");
    CHECK(s["database"]["counts"]["hash_allow"] == 2);
    CHECK(s["database"]["content_digest"].get<std::string>().size() == 64);
    for (const char* k : {"allowed", "denied", "would_deny", "errors", "timeouts", "cache_hits", "cache_misses",
                          "hash_bytes", "overflows"})
      CHECK_MESSAGE(s["counters"].contains(k), k);
    CHECK(s["latency_us"].contains("p99"));
    CHECK(s["pid"] == f.daemon);
    CHECK(f.stop_daemon() == 0);
    auto down = testing::run({testing::built_binary("tollgate"), "status", "--socket", f.socket}, 30);
    CHECK(down.exit_code == 5);
    CHECK(down.err.find("tollgated is not running") != std::string::npos);
  }

  TEST_CASE("the control socket refuses a peer that is neither root nor in admin_group") {
    Fixture f;
    f.write_config("audit");
    f.start_daemon();
    struct stat st;
    REQUIRE(::stat(f.socket.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    // Open the path up so the kernel lets uid 65534 connect: SO_PEERCRED must still refuse it.
    ::chmod(f.dir.path().c_str(), 0755);
    ::chmod(f.socket.c_str(), 0666);
    auto r = testing::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           testing::built_binary("tollgate"), "status", "--socket", f.socket},
                          30);
    CHECK_MESSAGE(r.exit_code == 6, r.err);
    CHECK(r.err.find("permission denied: uid 65534 is not root") != std::string::npos);
  }

  TEST_CASE("SIGTERM stops the daemon cleanly and removes its socket") {
    Fixture f;
    f.write_config("audit");
    f.start_daemon();
    CHECK(f.stop_daemon() == 0);
    CHECK(::access(f.socket.c_str(), F_OK) != 0);
    auto down = f.request({{"cmd", "status"}});
    REQUIRE_FALSE(down);
    CHECK(down.error().code() == ErrorCode::kUnavailable);
  }
}

// Issue 8: fail closed under attack. Enforce mode with the DEFAULT deadline,
// on_error and max_file_size (the config sets none of them).
namespace {

// A copy of /bin/false made distinct by `tag`: a new hash, never approved.
std::string unapproved_copy(const Fixture& f, const std::string& name, const std::string& tag) {
  std::string path = f.mnt + "/" + name;
  fs::copy_file("/bin/false", path);
  std::ofstream(path, std::ios::app | std::ios::binary) << tag;
  ::chmod(path.c_str(), 0755);
  return path;
}

// A copy of /bin/false whose size is `size` bytes: sparse, costs nothing.
std::string sparse_giant(const Fixture& f, const std::string& name, off_t size) {
  std::string path = f.mnt + "/" + name;
  fs::copy_file("/bin/false", path);
  REQUIRE(::truncate(path.c_str(), size) == 0);
  ::chmod(path.c_str(), 0755);
  return path;
}

struct Launch {
  std::string path;
  int delay_ms = 0;  // after the common start
};

// Spawns every path from its own thread, all released at once, and returns
// each exec errno (0 = ran, EPERM = denied). Bounded: when not all are back
// within `limit`, the daemon is killed (which releases every pending exec)
// and the test fails with how many hung.
std::vector<int> exec_all(Fixture& f, const std::vector<Launch>& launches, std::chrono::seconds limit) {
  std::vector<int> results(launches.size(), -1);
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  std::latch go(1);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < launches.size(); ++i) {
    threads.emplace_back([&, i] {
      go.wait();
      if (launches[i].delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(launches[i].delay_ms));
      int r = exec_errno(launches[i].path);
      std::lock_guard lock(mu);
      results[i] = r;
      ++done;
      cv.notify_all();
    });
  }
  go.count_down();
  size_t finished = 0;
  {
    std::unique_lock lock(mu);
    cv.wait_for(lock, limit, [&] { return done == launches.size(); });
    finished = done;
  }
  if (finished != launches.size()) f.stop_daemon(SIGKILL);
  for (auto& t : threads) t.join();
  CHECK_MESSAGE(finished == launches.size(), (launches.size() - finished) << " execs hung past the limit");
  return results;
}

}  // namespace

TEST_SUITE("enforcer.e2e.pressure") {
  TEST_CASE("sparse giant: a 40 GiB sparse unapproved binary is denied within its deadline") {
    Fixture f;
    f.timing.clear();
    f.start_with_base_policy("enforce", 1);
    auto giant = sparse_giant(f, "giant", off_t{40} << 30);
    auto started = std::chrono::steady_clock::now();
    CHECK(exec_errno(giant) == EPERM);
    // The default deadline is 2 s; it is not even needed: the size alone decides.
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(3));
    auto denies = f.wait_events("decision", 1);
    REQUIRE(denies.size() == 1);
    CHECK(denies[0]["rule"] == "error:too-large");
    CHECK(denies[0]["decision"] == "deny");
    CHECK(denies[0]["size"] == uint64_t{40} << 30);
    CHECK(denies[0]["path"] == giant);
  }

  TEST_CASE(
      "flood: three 40 GiB sparse files and 60 small unapproved binaries at once are all denied; an "
      "approved binary started during the flood runs") {
    Fixture f;
    f.timing.clear();
    f.start_with_base_policy("enforce", 1);
    REQUIRE(exec_errno(f.mnt + "/approved") == 0);  // in the decision cache now
    std::vector<Launch> flood;
    for (int i = 0; i < 3; ++i) flood.push_back({sparse_giant(f, "giant" + std::to_string(i), off_t{40} << 30)});
    for (int i = 0; i < 60; ++i) flood.push_back({unapproved_copy(f, "small" + std::to_string(i), std::to_string(i))});
    flood.push_back({f.mnt + "/approved", 20});
    auto results = exec_all(f, flood, std::chrono::seconds(60));
    for (size_t i = 0; i + 1 < flood.size(); ++i) {
      CAPTURE(flood[i].path);
      CHECK(results[i] == EPERM);
    }
    CHECK(results.back() == 0);
    auto status = f.request({{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["counters"]["denied"] == 63);
    CHECK((*status)["counters"]["queue_depth"] == 0);
  }

  TEST_CASE(
      "fd shortage: under ulimit -n 64, 150 concurrent unapproved execs are denied, none hangs, the daemon "
      "stays up and an approved binary runs afterwards") {
    Fixture f;
    f.timing.clear();
    f.write_db(f.base_rules(), 1);
    f.write_config("enforce");
    f.process.set_fd_limit(64);
    f.start_daemon();
    std::vector<Launch> flood;
    for (int i = 0; i < 150; ++i) flood.push_back({unapproved_copy(f, "u" + std::to_string(i), std::to_string(i))});
    auto results = exec_all(f, flood, std::chrono::seconds(60));
    int denied = 0;
    for (int r : results) denied += r == EPERM;
    CHECK(denied == 150);
    REQUIRE(f.daemon > 0);
    CHECK(::kill(f.daemon, 0) == 0);  // still up
    auto status = f.request({{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["ok"] == true);
    CHECK(exec_errno(f.mnt + "/approved") == 0);
  }

  TEST_CASE("large approved file: an approved 1 GiB binary runs on its first exec") {
    Fixture f("1100m");
    f.timing.clear();
    // An ELF followed by 1 GiB of real (not sparse) data: the loader maps
    // the headers and ignores what follows, the hash covers every byte.
    const std::string large = f.mnt + "/large";
    fs::copy_file("/bin/true", large);
    {
      std::ofstream out(large, std::ios::app | std::ios::binary);
      std::string chunk(1 << 20, '\0');
      for (int i = 0; i < 1024; ++i) {
        for (size_t j = 0; j < chunk.size(); j += 64) chunk[j] = static_cast<char>(i * 131 + static_cast<int>(j) + 1);
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      }
      REQUIRE(out);
    }
    ::chmod(large.c_str(), 0755);
    auto rules = f.base_rules();
    rules.hash_rules.push_back(hash_allow(large));
    f.write_db(rules, 1);
    f.write_config("enforce");
    f.start_daemon();
    CHECK(exec_errno(large) == 0);
    auto status = f.request({{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["counters"]["errors"] == 0);
    CHECK((*status)["counters"]["hash_bytes"].get<uint64_t>() >= uint64_t{1} << 30);
  }
}

namespace {

// Full coverage (issue 11). The binaries, the loader and the interpreters
// live on the host filesystem, which no test marks: what must be seen is
// copied onto a watched tmpfs. The intruder's files sit in a mode-1777
// directory owned by nobody on the watched tmpfs (mnt/intruder); a second
// tmpfs mounted over /srv inside the private namespace gives a root-owned,
// non-writable chain (/srv, /) for the safe-path cases.
constexpr uid_t kNobody = 65534;
constexpr const char* kSafeRoot = "/srv";

std::string dynamic_loader() {
  for (const char* p :
       {"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux-armhf.so.3", "/lib/ld-linux.so.2"})
    if (::access(p, X_OK) == 0) return p;
  FAIL("no dynamic loader found in /lib64 or /lib");
  return {};
}

struct CoverageFixture : Fixture {
  std::string intruder;
  std::string safe = kSafeRoot;
  std::string python = "/usr/bin/python3";

  CoverageFixture() {
    intruder = mnt + "/intruder";
    REQUIRE(::mkdir(intruder.c_str(), 0777) == 0);
    REQUIRE(::chmod(intruder.c_str(), 01777) == 0);
    REQUIRE(::chown(intruder.c_str(), kNobody, kNobody) == 0);
    struct stat st {};
    REQUIRE_MESSAGE(::stat(kSafeRoot, &st) == 0, kSafeRoot << " must exist for the safe-path tests");
    REQUIRE(::mount(testing::kFixtureTmpfs, kSafeRoot, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") == 0);
    also_watch.push_back(kSafeRoot);  // start_daemon checks it is only our tmpfs
    REQUIRE_MESSAGE(::access(python.c_str(), X_OK) == 0,
                    "python3 is required (Makefile.dist deps installs it): " << python);
    fs::copy_file(testing::built_binary("cov_dlopener"), mnt + "/dlopener");
    ::chmod((mnt + "/dlopener").c_str(), 0755);
    fs::copy_file(testing::built_binary("libcov_good.so"), mnt + "/good.so");
    drop("evil.so", testing::read_text(testing::built_binary("libcov_evil.so")));
    drop("xmrig", testing::read_text("/bin/false"), 0755);
  }
  ~CoverageFixture() {
    stop_daemon();
    ::umount2(kSafeRoot, MNT_DETACH);
  }

  // A file the intruder dropped: in the sticky directory, owned by nobody.
  std::string drop(const std::string& name, const std::string& content, mode_t mode = 0644) {
    const std::string path = intruder + "/" + name;
    testing::write_text(path, content, mode);
    REQUIRE(::chown(path.c_str(), kNobody, kNobody) == 0);
    return path;
  }

  // The base rules plus the dlopen driver and good.so; `more` approved by hash too.
  hashdb::PolicyContent rules(const std::vector<std::string>& more = {}) {
    auto c = base_rules();
    c.hash_rules.push_back(hash_allow(mnt + "/dlopener"));
    c.hash_rules.push_back(hash_allow(mnt + "/good.so"));
    for (const auto& p : more) c.hash_rules.push_back(hash_allow(p));
    return c;
  }

  void start_full(const std::string& mode, const std::vector<std::string>& more = {}, const std::string& extra = "") {
    write_db(rules(more), 1);
    write_config(mode, "coverage: full\n" + extra);
    start_daemon();
  }

  // The decision events for `path`, waited for (bounded) until there is one.
  std::vector<json> decisions_for(const std::string& path) {
    std::vector<json> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out.empty() && std::chrono::steady_clock::now() < deadline) {
      for (auto& e : read_events("decision"))
        if (e["path"] == path) out.push_back(e);
      if (out.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return out;
  }
};

// Runs argv with a clean environment plus `env` (NAME=VALUE...), bounded.
testing::CommandResult run_env(const std::vector<std::string>& env, const std::vector<std::string>& argv) {
  std::vector<std::string> full = {"/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE=1"};
  full.insert(full.end(), env.begin(), env.end());
  full.insert(full.end(), argv.begin(), argv.end());
  return testing::run(full, 30);
}

void check_denied(CoverageFixture& f, const std::string& path, const std::string& kind, bool audit = false) {
  auto events = f.decisions_for(path);
  REQUIRE_MESSAGE(!events.empty(), "no decision logged for " << path);
  CHECK(events[0]["event"] == kind);
  CHECK(events[0]["rule"] == "default-deny");
  CHECK(events[0]["decision"] == (audit ? "allow" : "deny"));
  CHECK(events[0]["would_deny"] == audit);
  CHECK(events[0]["pid"] != 0);
}

}  // namespace

TEST_SUITE("enforcer.e2e.coverage") {
  TEST_CASE("full, enforce: the loader cannot run an unapproved binary, and runs an approved one") {
    CoverageFixture f;
    f.start_full("enforce");
    const auto xmrig = f.intruder + "/xmrig";
    auto denied = testing::run({dynamic_loader(), xmrig}, 30);
    CHECK(denied.exit_code != 0);
    check_denied(f, xmrig, "loader");
    CHECK(testing::run({dynamic_loader(), f.mnt + "/approved"}, 30).exit_code == 0);
    // Without the loader, the exec itself is denied as before.
    CHECK(exec_errno(xmrig) == EPERM);
  }

  TEST_CASE("full, enforce: LD_PRELOAD of an unapproved library is refused and the denial names it") {
    CoverageFixture f;
    f.start_full("enforce");
    const auto evil = f.intruder + "/evil.so";
    auto r = run_env({"LD_PRELOAD=" + evil}, {f.mnt + "/dlopener"});
    CHECK(r.exit_code == 0);  // the loader skips what it cannot open; the program runs without it
    CHECK(r.out.find("EVIL_LOADED") == std::string::npos);
    check_denied(f, evil, "library");
  }

  TEST_CASE(
      "full, enforce: a plain file ignore-marked after a read, then rewritten in place into an unapproved "
      "library, is denied when preloaded") {
    CoverageFixture f;
    f.start_full("enforce");
    // Root-owned, 0644, on a safe chain (/srv, /), not code: a read of it is
    // answered and the file ignore-marked for plain opens.
    const std::string data = f.safe + "/data.txt";
    testing::write_text(data, "plain text\n", 0644);
    CHECK(testing::run({"/bin/cat", data}, 30).out == "plain text\n");
    uint64_t added = 0;
    for (int i = 0; i < 250 && added == 0; ++i) {
      auto s = f.request({{"cmd", "status"}});
      REQUIRE(s);
      added = (*s)["ignore_marks"]["added"].get<uint64_t>();
      if (added == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE_MESSAGE(added >= 1, "the read placed no ignore mark: nothing to test");
    {
      // In place (O_TRUNC, same inode): the kernel clears the ignore mask on modify.
      std::ofstream out(data, std::ios::binary | std::ios::trunc);
      out << testing::read_text(testing::built_binary("libcov_evil.so"));
    }
    auto r = run_env({"LD_PRELOAD=" + data}, {f.mnt + "/dlopener"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("EVIL_LOADED") == std::string::npos);
    check_denied(f, data, "library");
  }

  TEST_CASE("full, enforce: dlopen of an unapproved library fails, an approved one loads") {
    CoverageFixture f;
    f.start_full("enforce");
    const auto evil = f.intruder + "/evil.so";
    auto bad = testing::run({f.mnt + "/dlopener", evil}, 30);
    CHECK(bad.exit_code == 1);
    CHECK(bad.out.find("failed " + evil) != std::string::npos);
    CHECK(bad.out.find("EVIL_LOADED") == std::string::npos);
    check_denied(f, evil, "library");
    auto good = testing::run({f.mnt + "/dlopener", f.mnt + "/good.so"}, 30);
    CHECK(good.exit_code == 0);
    CHECK(good.out.find("GOOD_LOADED") != std::string::npos);
    // Reading a library, or an unapproved executable, is not loading it... but a
    // library cannot be told from one being loaded: only executables stay readable.
    CHECK(testing::run({"/usr/bin/sha256sum", f.intruder + "/xmrig"}, 30).exit_code == 0);
  }

  TEST_CASE("full, enforce: python3 and sh run an intruder's script only when it is approved by hash") {
    CoverageFixture f;
    const auto py_ok = f.drop("ok.py", "print('PY_OK')\n");
    const auto py_bad = f.drop("miner.py", "print('PY_MINER')\n");
    const auto sh_ok = f.drop("ok.sh", "echo SH_OK\n");
    const auto sh_bad = f.drop("dropper.sh", "echo SH_DROPPER\n");
    f.start_full("enforce", {py_ok, sh_ok});
    auto r = run_env({}, {f.python, py_ok});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "PY_OK\n");
    r = run_env({}, {f.python, py_bad});
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("PY_MINER") == std::string::npos);
    check_denied(f, py_bad, "script");
    r = run_env({}, {"/bin/sh", sh_ok});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "SH_OK\n");
    r = run_env({}, {"/bin/sh", sh_bad});
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("SH_DROPPER") == std::string::npos);
    check_denied(f, sh_bad, "script");
    // Writing through a shell (an empty new file) and reading data with cat stay free.
    CHECK(run_env({}, {"/bin/sh", sh_ok}).exit_code == 0);
    CHECK(testing::run({"/bin/sh", "-c", "echo data > " + f.intruder + "/out.txt"}, 30).exit_code == 0);
    CHECK(testing::run({"/bin/cat", py_bad}, 30).exit_code == 0);
  }

  TEST_CASE("full: a script in a root-owned, non-writable directory runs under hash_or_safe_path, not under hash") {
    CoverageFixture f;
    REQUIRE(::mkdir((f.safe + "/app").c_str(), 0755) == 0);
    const auto script = f.safe + "/app/run.sh";
    testing::write_text(script, "echo SAFE_RAN\n", 0644);
    f.start_full("enforce");
    auto r = run_env({}, {"/bin/sh", script});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "SAFE_RAN\n");
    f.stop_daemon();
    f.write_config("enforce", "coverage: full\nscript_trust: hash\n");
    f.start_daemon();
    r = run_env({}, {"/bin/sh", script});
    CHECK(r.exit_code != 0);
    CHECK(r.out.find("SAFE_RAN") == std::string::npos);
    check_denied(f, script, "script");
  }

  TEST_CASE("full, enforce: an approved interpreter starts and reads its own library from a safe path") {
    CoverageFixture f;
    REQUIRE(::mkdir((f.safe + "/lib").c_str(), 0755) == 0);
    REQUIRE(::mkdir((f.safe + "/bin").c_str(), 0755) == 0);
    testing::write_text(f.safe + "/lib/helper.py", "def greet():\n    return 'HELPER_OK'\n", 0644);
    const auto main = f.drop("main.py", "import helper\nprint(helper.greet())\n");
    // The interpreter itself on a watched filesystem: its exec is decided too.
    fs::copy_file("/bin/dash", f.safe + "/bin/dash");
    ::chmod((f.safe + "/bin/dash").c_str(), 0755);
    f.start_full("enforce", {main, f.safe + "/bin/dash"});
    auto r = run_env({"PYTHONPATH=" + f.safe + "/lib"}, {f.python, main});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "HELPER_OK\n");
    testing::write_text(f.safe + "/lib/run.sh", "echo DASH_OK\n", 0644);
    r = run_env({}, {f.safe + "/bin/dash", f.safe + "/lib/run.sh"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "DASH_OK\n");
  }

  TEST_CASE("full, audit: every case runs and is logged as a would-deny of its kind") {
    CoverageFixture f;
    const auto py = f.drop("miner.py", "print('PY_RAN')\n");
    const auto sh = f.drop("dropper.sh", "echo SH_RAN\n");
    const auto evil = f.intruder + "/evil.so";
    const auto xmrig = f.intruder + "/xmrig";
    f.start_full("audit");
    CHECK(testing::run({dynamic_loader(), xmrig}, 30).exit_code == 1);  // /bin/false ran
    check_denied(f, xmrig, "loader", true);
    auto preload = run_env({"LD_PRELOAD=" + evil}, {f.mnt + "/dlopener"});
    CHECK(preload.out.find("EVIL_LOADED") != std::string::npos);
    check_denied(f, evil, "library", true);
    auto dl = testing::run({f.mnt + "/dlopener", evil}, 30);
    CHECK(dl.exit_code == 0);
    CHECK(run_env({}, {f.python, py}).out == "PY_RAN\n");
    check_denied(f, py, "script", true);
    CHECK(run_env({}, {"/bin/sh", sh}).out == "SH_RAN\n");
    check_denied(f, sh, "script", true);
  }
}
