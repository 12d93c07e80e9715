// Policy integrity across restarts (issue 8), end to end: the real tollgated
// in enforce mode, state_dir in the test's temp dir, marking only a tmpfs
// mounted inside a private mount namespace this process enters first.
// Needs root (ctest label "root"). Every wait is bounded; the daemon dies
// with the test (PR_SET_PDEATHSIG) and is stopped by pid.
#include <doctest/doctest.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/enforcer_fixture.h"

using namespace tollgate;
using nlohmann::json;
using testing::exec_errno;
namespace fs = std::filesystem;

namespace {

// The shared e2e fixture (its own tmpfs in a private mount namespace), in
// enforce mode with the signing key's public half configured. `tool` (the
// fixture's copy of /bin/true) is approved by every policy here, `revoked`
// only by generation 1, `fresh` by none.
struct Site : testing::EnforcerFixture {
  std::string state = dir.file("state");
  std::string tool = mnt + "/approved", revoked = mnt + "/revoked", fresh = mnt + "/fresh";

  Site() : EnforcerFixture("32m") {
    fs::copy_file("/bin/false", revoked);
    fs::copy_file("/bin/echo", fresh);
    for (const auto& f : {revoked, fresh}) ::chmod(f.c_str(), 0755);
    testing::write_text(dir.file("signing.key"), key.private_pem, 0600);
  }

  void write_config(const std::string& extra = "") {
    EnforcerFixture::write_config("enforce", "public_key: " + pubkey() + "\n" + extra);
  }
  // The daemon's own binary (anti-lockout) and `tool`; `revoked` too when asked.
  void write_db(const std::string& path, uint64_t generation, bool with_revoked) {
    hashdb::PolicyContent c = base_rules();
    c.policy_name = "integrity";
    if (with_revoked) c.hash_rules.push_back(testing::hash_allow(revoked));
    EnforcerFixture::write_db(c, generation, /*sign=*/true, path);
  }
  void restart() {
    CHECK(stop_daemon() == 0);
    start_daemon();
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
    site.start_daemon();
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

    auto text = site.cli({"status"});
    CHECK(text.exit_code == 1);
    CHECK_MESSAGE(text.out.starts_with("health: DEGRADED: " + site.db + " was refused"), text.out);
    auto machine = site.cli({"status", "--json"});
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
    auto first = site.cli({"compile", "--install"});
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    CHECK(first.out.find("tollgated is not running") != std::string::npos);
    site.start_daemon();
    CHECK(exec_errno(site.tool) == 0);
    CHECK(exec_errno(site.fresh) == EPERM);
    auto second = site.cli({"compile", "--install"});
    REQUIRE_MESSAGE(second.exit_code == 0, second.err);
    CHECK(second.out.find("daemon reloaded") != std::string::npos);
    CHECK(site.status()["database"]["generation"] == 2);
    const std::string accepted = testing::read_text(site.db);

    // The daemon drops out of the manifest: in enforce mode that locks it out.
    manifest(approved_tool);
    auto refused = site.cli({"refresh"});
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
    REQUIRE(site.cli({"mode", "audit", "--for", "1h"}).exit_code == 0);
    CHECK(site.status()["mode"] == "audit");
    auto in_window = site.cli({"refresh"});
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
    CHECK(site.stop_daemon() == 0);
    auto offline = site.cli({"compile", "--install"});
    CHECK(offline.exit_code == 4);
    CHECK(testing::read_text(site.db) == accepted);
  }
}
