// Policy integrity across restarts (issue 8), end to end: the real tollgated
// in enforce mode, state_dir in the test's temp dir, marking only a tmpfs
// mounted inside a private mount namespace this process enters first.
// Needs root (ctest label "root"). Every wait is bounded; the daemon dies
// with the test (PR_SET_PDEATHSIG) and is stopped by pid.
#include <doctest/doctest.h>
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "control/client.h"
#include "hashdb/keys.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"
#include "tests/support/daemon_process.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using nlohmann::json;
using testing::exec_errno;
namespace fs = std::filesystem;

namespace {

// Everything under one temp dir; `tool` is approved by every policy here,
// `revoked` only by generation 1.
struct Site {
  testing::TempDir dir;
  std::string mnt = dir.file("mnt");
  std::string config = dir.file("tollgate.yaml");
  std::string db = dir.file("policy.db");
  std::string socket = dir.file("tollgate.sock");
  std::string events = dir.file("events.jsonl");
  std::string state = dir.file("state");
  std::string tool = mnt + "/tool", revoked = mnt + "/revoked", fresh = mnt + "/fresh";
  hashdb::KeyPair key = *hashdb::generate_keypair();
  testing::DaemonProcess daemon;

  Site() {
    REQUIRE_MESSAGE(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS) needs root: " << std::strerror(errno));
    REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
    REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
    REQUIRE(::mount("tollgate-integrity", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=32m") == 0);
    fs::copy_file("/bin/true", tool);
    fs::copy_file("/bin/false", revoked);
    fs::copy_file("/bin/echo", fresh);
    for (const auto& f : {tool, revoked, fresh}) ::chmod(f.c_str(), 0755);
    testing::write_text(dir.file("signing.pub"), key.public_key.pem);
    testing::write_text(dir.file("signing.key"), key.private_pem, 0600);
  }
  ~Site() {
    daemon.stop();
    ::umount2(mnt.c_str(), MNT_DETACH);
  }

  void write_config(const std::string& extra = "") {
    testing::write_text(config, "mode: enforce\ndatabase: " + db + "\npublic_key: " + dir.file("signing.pub") +
                                    "\nevent_log: " + events + "\nsocket: " + socket + "\nwatch: [" + mnt +
                                    "]\ndecision_timeout_ms: 5000\nmust_allow: []\ncensus_interval_ms: 0\nstate_dir: " +
                                    state + "\n" + extra);
  }

  hashdb::HashRule allow(const std::string& path) {
    hashdb::HashRule r;
    r.sha256 = *hashdb::sha256_path(path);
    r.origin_path = path;
    return r;
  }
  // The daemon's own binary (anti-lockout) and `tool`; `revoked` too when asked.
  void write_db(const std::string& path, uint64_t generation, bool with_revoked) {
    hashdb::PolicyContent c;
    c.policy_name = "integrity";
    c.hash_rules = {allow(testing::built_binary("tollgated")), allow(tool)};
    if (with_revoked) c.hash_rules.push_back(allow(revoked));
    auto written = hashdb::write_database(path, c, {.generation = generation, .signing_key = key.private_key});
    REQUIRE_MESSAGE(written, (written ? "" : written.error().message()));
  }

  Result<json> request(const json& r) { return control::control_request(socket, r, 30000); }
  json status() {
    auto s = request({{"cmd", "status"}});
    REQUIRE(s);
    return *s;
  }
  void start() {
    auto why = daemon.start({testing::built_binary("tollgated"), "--config", config}, dir.file("tollgated.err"), [&] {
      auto reply = control::control_request(socket, {{"cmd", "status"}}, 2000);
      return reply && (*reply)["ok"] == true;
    });
    REQUIRE_MESSAGE(why.empty(), why);
  }
  void restart() {
    CHECK(daemon.stop() == 0);
    start();
  }
  testing::CommandResult tg(std::vector<std::string> args) {
    args.insert(args.begin(), testing::built_binary("tollgate"));
    args.insert(args.begin() + 2, {"--config", config});
    return testing::run(args, 120);
  }

  // Event-log lines of `type` (the writer thread is asynchronous: bounded wait for `n`).
  std::vector<json> wait_events(const std::string& type, size_t n) {
    std::vector<json> got;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      got.clear();
      std::istringstream in(testing::read_text(events));
      for (std::string line; std::getline(in, line);) {
        auto j = json::parse(line, nullptr, false);
        if (j.is_object() && j["type"] == type) got.push_back(j);
      }
      if (got.size() >= n) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return got;
  }
};

}  // namespace

TEST_SUITE("enforcer.integrity") {
  TEST_CASE(
      "rollback: an older signed generation put back in place is refused at restart; the last accepted one is "
      "enforced, DEGRADED says why, and only `db rollback` brings it back") {
    Site site;
    site.write_config();
    site.write_db(site.db, 1, /*with_revoked=*/true);
    site.start();
    CHECK(exec_errno(site.revoked) == 0);
    fs::copy_file(site.db, site.dir.file("gen1.db"));  // what an attacker keeps for later

    // Generation 2 revokes it, through the staged install.
    site.write_db(site.db + ".candidate", 2, false);
    auto installed = site.request({{"cmd", "install"}, {"candidate", site.db + ".candidate"}, {"by", "test"}});
    REQUIRE(installed);
    REQUIRE_MESSAGE((*installed)["ok"] == true, installed->dump());
    CHECK((*installed)["generation"] == 2);
    CHECK(exec_errno(site.revoked) == EPERM);
    CHECK(site.status()["health"]["status"] == "OK");

    // The attack: generation 1 (validly signed) back in place, then a restart.
    fs::copy_file(site.dir.file("gen1.db"), site.db, fs::copy_options::overwrite_existing);
    site.restart();
    CHECK(exec_errno(site.revoked) == EPERM);
    CHECK(exec_errno(site.tool) == 0);
    CHECK(exec_errno(site.fresh) == EPERM);
    json s = site.status();
    CHECK(s["mode"] == "enforce");
    CHECK(s["database"]["generation"] == 2);
    CHECK(s["database"]["path"] == site.state + "/last-known-good.db");
    CHECK(s["integrity"]["floor_generation"] == 2);
    CHECK(s["health"]["status"] == "DEGRADED");
    std::string reason = s["health"]["reason"];
    CHECK_MESSAGE(reason.find("generation 1 is older than generation 2 already accepted") != std::string::npos, reason);
    CHECK(reason.find("enforcing the last-known-good copy") != std::string::npos);
    auto starts = site.wait_events("start", 2);
    REQUIRE(starts.size() == 2);
    CHECK_FALSE(starts[0].contains("degraded"));
    CHECK(starts[1]["degraded"] == reason);
    CHECK(testing::read_text(site.dir.file("tollgated.err")).find("tollgated: DEGRADED: ") != std::string::npos);

    auto text = site.tg({"status"});
    CHECK(text.exit_code == 1);
    CHECK_MESSAGE(text.out.starts_with("health: DEGRADED: " + site.db + " was refused"), text.out);
    auto machine = site.tg({"status", "--json"});
    CHECK(machine.exit_code == 1);
    CHECK(json::parse(machine.out)["health"]["status"] == "DEGRADED");

    // A reload does not change that: the file in place is still refused.
    auto reload = site.request({{"cmd", "reload"}});
    REQUIRE(reload);
    CHECK((*reload)["ok"] == false);
    CHECK(exec_errno(site.revoked) == EPERM);

    // The deliberate way back: root's `db rollback`, recorded with who asked.
    auto back = testing::run({testing::built_binary("tollgate"), "db", "rollback", "--config", site.config, "--to",
                              site.dir.file("gen1.db")});
    REQUIRE_MESSAGE(back.exit_code == 0, back.err);
    CHECK(back.out.find("the rollback floor is now generation 1") != std::string::npos);
    CHECK(exec_errno(site.revoked) == 0);
    s = site.status();
    CHECK(s["health"]["status"] == "OK");
    CHECK(s["database"]["generation"] == 1);
    CHECK(s["integrity"]["floor_generation"] == 1);
    auto rollbacks = site.wait_events("rollback", 1);
    REQUIRE(rollbacks.size() == 1);
    CHECK(rollbacks[0]["ok"] == true);
    CHECK(rollbacks[0]["from_generation"] == 2);
    CHECK(rollbacks[0]["to_generation"] == 1);
    CHECK(rollbacks[0]["by_uid"] == 0);
    CHECK(rollbacks[0]["file"] == site.dir.file("gen1.db"));
    CHECK_FALSE(rollbacks[0]["by"].get<std::string>().empty());
    site.restart();  // the lowered floor was persisted
    CHECK(site.status()["health"]["status"] == "OK");
    CHECK(exec_errno(site.revoked) == 0);

    // Only root may lower the floor, even over the socket.
    auto nobody =
        testing::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", testing::built_binary("tollgate"),
                      "db", "rollback", "--config", site.config, "--to", site.dir.file("gen1.db")});
    CHECK(nobody.exit_code == 6);

    // No live database at all: the last-known-good copy is enforced, DEGRADED.
    ::unlink(site.db.c_str());
    site.restart();
    s = site.status();
    CHECK(s["mode"] == "enforce");
    CHECK(s["health"]["reason"].get<std::string>().find("no policy database at " + site.db) != std::string::npos);
    CHECK(exec_errno(site.fresh) == EPERM);
    CHECK(exec_errno(site.tool) == 0);
  }

  TEST_CASE(
      "refused candidate: a refresh that would lock out the daemon fails, the live database stays "
      "byte-identical, and a restart enforces the last accepted policy") {
    Site site;
    const std::string approved_daemon = "  - file: " + testing::built_binary("tollgated") + "\n    label: tollgated\n";
    // The tmpfs sits under the world-writable /tmp: the ownership rule needs the opt-in.
    const std::string approved_tool =
        "  - file: " + site.tool + "\n    label: tool\n    allow_writable: true\n    reason: test tmpfs under /tmp\n";
    auto manifest = [&](const std::string& entries) {
      testing::write_text(site.dir.file("policy.yaml"), "version: 1\nname: integrity\nallow:\n" + entries);
    };
    manifest(approved_daemon + approved_tool);
    site.write_config("manifest: " + site.dir.file("policy.yaml") + "\napprovals: " + site.dir.file("approvals.yaml") +
                      "\nsigning_key: " + site.dir.file("signing.key") + "\n");

    // No daemon yet: compile --install runs the same gate in the CLI.
    auto first = site.tg({"compile", "--install"});
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    CHECK(first.out.find("tollgated is not running") != std::string::npos);
    site.start();
    CHECK(exec_errno(site.tool) == 0);
    CHECK(exec_errno(site.fresh) == EPERM);
    auto second = site.tg({"compile", "--install"});
    REQUIRE_MESSAGE(second.exit_code == 0, second.err);
    CHECK(second.out.find("daemon reloaded") != std::string::npos);
    CHECK(site.status()["database"]["generation"] == 2);
    const std::string accepted = testing::read_text(site.db);

    // The daemon drops out of the manifest: in enforce mode that locks it out.
    manifest(approved_tool);
    auto refused = site.tg({"refresh"});
    CHECK(refused.exit_code == 4);
    CHECK_MESSAGE(refused.err.find("(default-deny)") != std::string::npos, refused.err);
    CHECK(refused.err.find("policy.db is unchanged") != std::string::npos);
    CHECK(testing::read_text(site.db) == accepted);
    CHECK(::access((site.db + ".candidate.refused").c_str(), F_OK) == 0);
    CHECK(::access((site.db + ".candidate").c_str(), F_OK) != 0);
    json s = site.status();
    CHECK(s["database"]["generation"] == 2);
    CHECK(s["health"]["status"] == "OK");
    auto installs = site.wait_events("install", 2);
    REQUIRE(installs.size() == 2);
    CHECK(installs[1]["ok"] == false);

    // The same inside a timed audit window, while the daemon audits: the
    // config says enforce, so the lockout check still applies.
    REQUIRE(site.tg({"mode", "audit", "--for", "1h"}).exit_code == 0);
    CHECK(site.status()["mode"] == "audit");
    auto in_window = site.tg({"refresh"});
    CHECK(in_window.exit_code == 4);
    CHECK(testing::read_text(site.db) == accepted);
    CHECK(site.status()["mode"] == "audit");  // the window is not the refresh's to close
    auto back = site.request({{"cmd", "set_mode"}, {"mode", "enforce"}, {"by", "test"}});
    REQUIRE(back);
    CHECK((*back)["ok"] == true);
    CHECK(site.status()["mode"] == "enforce");

    site.restart();
    s = site.status();
    CHECK(s["mode"] == "enforce");
    CHECK(s["database"]["generation"] == 2);
    CHECK(s["health"]["status"] == "OK");
    CHECK(exec_errno(site.tool) == 0);
    CHECK(exec_errno(site.fresh) == EPERM);

    // The daemon stopped: the CLI refuses the same candidate by itself
    // (tollgated recorded its lockout candidates, itself included, in state_dir).
    CHECK(site.daemon.stop() == 0);
    auto offline = site.tg({"compile", "--install"});
    CHECK(offline.exit_code == 4);
    CHECK(testing::read_text(site.db) == accepted);
  }
}
