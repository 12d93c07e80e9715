// Upgrades without a window (issue 15), end to end: the real tollgated in
// enforce mode on a tmpfs mounted inside a private mount namespace, a small
// .deb built here with dpkg-deb, and `tollgate trust-debs` giving its files
// pending trust before they are unpacked. Needs root (ctest label "root").
// Every wait is bounded; the daemon dies with the test and is stopped by pid.
#include <doctest/doctest.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "hashdb/sha256.h"
#include "tests/support/enforcer_fixture.h"

using namespace tollgate;
using nlohmann::json;
using testing::exec_errno;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPackage = "tg-newtool";
constexpr const char* kVersion = "1.0-1";

// The shared e2e fixture (its own tmpfs in a private mount namespace), a
// manifest that trusts dpkg, and the package.
struct Site : testing::EnforcerFixture {
  std::string manifest = dir.file("policy.yaml");
  std::string state = dir.file("state");
  std::string deb = dir.file("tg-newtool_1.0-1_all.deb");
  std::string newtool = mnt + "/usr/bin/newtool", othertool = mnt + "/usr/bin/othertool";
  std::string unrelated = mnt + "/unapproved", tampered = mnt + "/tampered";

  Site() { build_deb(); }

  // usr/bin/newtool (a copy of /bin/echo: no policy here approves it),
  // usr/bin/othertool (a script) and a data file, which the dpkg trust
  // source's match leaves out.
  void build_deb() {
    const std::string root = dir.file("pkgroot");
    fs::create_directories(root + "/DEBIAN");
    fs::create_directories(root + "/usr/bin");
    fs::create_directories(root + "/usr/share/doc/tg-newtool");
    testing::write_text(root + "/DEBIAN/control", std::string("Package: ") + kPackage + "\nVersion: " + kVersion +
                                                      "\nArchitecture: all\nMaintainer: Tollgate tests "
                                                      "<tests@example.invalid>\nDescription: test package\n");
    fs::copy_file("/bin/echo", root + "/usr/bin/newtool");
    ::chmod((root + "/usr/bin/newtool").c_str(), 0755);
    testing::write_text(root + "/usr/bin/othertool", "#!/bin/sh\nexit 0\n", 0755);
    testing::write_text(root + "/usr/share/doc/tg-newtool/README", "not an executable\n");
    auto built = testing::run({"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb}, 60);
    REQUIRE_MESSAGE(built.exit_code == 0, built.err);
  }

  void write_config(const std::string& ttl = "30m", const std::string& must = "[]") {
    must_allow = "must_allow: " + must + "\n";
    EnforcerFixture::write_config("enforce", "manifest: " + manifest + "\nlog_allows: true\npending_trust_ttl: " + ttl +
                                                 "\napprovals: " + dir.file("approvals.yaml") + "\n");
  }
  // The policy trusts dpkg for a package or two; this one among them.
  void write_manifest(bool trusts_dpkg = true) {
    testing::write_text(manifest, trusts_dpkg ? std::string("version: 1\nallow:\n  - package_manager: dpkg\n    "
                                                            "packages: [") + kPackage + ", dpkg]\n"
                                              : "version: 1\nallow:\n  - file: /bin/true\n");
  }
  // The daemon's own binary (anti-lockout) only.
  void write_db() {
    hashdb::PolicyContent c;
    c.policy_name = "upgrades";
    c.hash_rules = {testing::hash_allow(testing::built_binary("tollgated"))};
    EnforcerFixture::write_db(c, 1, /*sign=*/false);
  }

  void start() { start_daemon(); }
  void restart() {
    CHECK(stop_daemon() == 0);
    start();
  }
  void unpack() {
    auto x = testing::run({"dpkg-deb", "-x", deb, mnt}, 60);
    REQUIRE_MESSAGE(x.exit_code == 0, x.err);
  }

  // Polls `done` every 50 ms for up to `seconds`.
  static bool eventually(const std::function<bool()>& done, int seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }
};

}  // namespace

TEST_SUITE("enforcer.upgrades") {
  TEST_CASE("trust-debs: the package's files run under enforcement before the recompile, nothing else does, "
            "through a restart, until the TTL; the mode never changes") {
    Site site;
    site.write_manifest();
    site.write_config();
    site.write_db();
    site.start();
    CHECK(site.status()["mode"] == "enforce");
    CHECK(site.status()["pending_trust"]["files"] == 0);

    // Unpacked without pending trust: denied, like anything unapproved.
    site.unpack();
    CHECK(exec_errno(site.newtool) == EPERM);
    CHECK(exec_errno(site.unrelated) == EPERM);

    auto trusted = site.cli({"trust-debs", site.deb});
    REQUIRE_MESSAGE(trusted.exit_code == 0, trusted.err);
    CHECK_MESSAGE(trusted.out.find("2 files of 1 packages handed to tollgated") != std::string::npos, trusted.out);
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(exec_errno(site.othertool) == 0);
    CHECK(exec_errno(site.unrelated) == EPERM);  // at the same moment
    json s = site.status();
    CHECK(s["mode"] == "enforce");
    CHECK(s["pending_trust"]["files"] == 2);  // the README is not an executable
    CHECK(s["pending_trust"]["packages"] == json::array({std::string(kPackage) + "=" + kVersion}));
    CHECK_FALSE(s["pending_trust"]["expires"].get<std::string>().empty());
    auto text = site.cli({"status"});
    CHECK_MESSAGE(text.out.find("pending:   2 files of 1 packages") != std::string::npos, text.out);

    // Explainable: the allow names the pending rule; the event log has the set.
    const std::string rule = std::string("pending-trust:") + kPackage + "=" + kVersion + ":/usr/bin/newtool";
    CHECK(Site::eventually([&] {
      for (const auto& d : site.read_events("decision"))
        if (d["path"] == site.newtool && d["decision"] == "allow" && d["rule"] == rule) return true;
      return false;
    }));
    auto adds = site.read_events("pending_trust");
    REQUIRE(adds.size() >= 1);
    CHECK(adds.back()["action"] == "add");
    CHECK(adds.back()["files"] == 2);

    // One byte changed: another hash, denied.
    fs::copy_file(site.newtool, site.tampered);
    {
      std::string bytes = testing::read_text(site.tampered);
      bytes.back() ^= 1;
      testing::write_text(site.tampered, bytes, 0755);
    }
    CHECK(exec_errno(site.tampered) == EPERM);

    // The set lives in state_dir, root-only, and survives a restart.
    struct stat st {};
    REQUIRE(::stat((site.state + "/pending-trust.json").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    site.restart();
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(exec_errno(site.unrelated) == EPERM);
    CHECK(site.status()["mode"] == "enforce");
    CHECK(site.status()["pending_trust"]["files"] == 2);

    // The old Pre-Invoke hook line no longer opens a window.
    auto pre = site.cli({"refresh", "--pre"});
    CHECK_MESSAGE(pre.exit_code == 0, pre.err);
    CHECK(site.status()["mode"] == "enforce");
    CHECK(exec_errno(site.unrelated) == EPERM);

    // After the TTL the set is gone. A lowered TTL shortens the stored set
    // (stored with 30m) at start, and bounds a new request.
    site.write_config("2s");
    site.restart();
    CHECK(Site::eventually([&] { return site.status()["pending_trust"]["files"] == 0; }));
    CHECK(exec_errno(site.newtool) == EPERM);
    REQUIRE(site.cli({"trust-debs", site.deb}).exit_code == 0);
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(Site::eventually([&] { return site.status()["pending_trust"]["files"] == 0; }));
    CHECK(exec_errno(site.newtool) == EPERM);
    CHECK(site.status()["mode"] == "enforce");
    auto ends = site.read_events("pending_trust");
    REQUIRE_FALSE(ends.empty());
    CHECK(ends.back()["action"] == "end");
    CHECK(ends.back()["reason"] == "expired");
    CHECK(::access((site.state + "/pending-trust.json").c_str(), F_OK) != 0);
  }

  TEST_CASE("mode audit --for: a time-boxed window that returns to enforce by itself, logged, and not extended by a "
            "restart") {
    Site site;
    site.write_manifest();
    site.write_config();
    site.write_db();
    site.start();
    auto opened = site.cli({"mode", "audit", "--for", "2s"});
    REQUIRE_MESSAGE(opened.exit_code == 0, opened.err);
    CHECK(site.status()["mode"] == "audit");
    CHECK_FALSE(site.status()["audit_until"].get<std::string>().empty());
    CHECK(exec_errno(site.unrelated) == 0);  // audit: allowed and logged
    CHECK(Site::eventually([&] { return site.status()["mode"] == "enforce"; }));
    CHECK(site.status()["audit_until"] == "");
    CHECK(exec_errno(site.unrelated) == EPERM);
    auto modes = site.read_events("mode");
    REQUIRE(modes.size() >= 2);
    CHECK(modes[modes.size() - 2]["to"] == "audit");
    CHECK_FALSE(modes[modes.size() - 2]["until"].get<std::string>().empty());
    CHECK(modes.back()["to"] == "enforce");
    CHECK(modes.back()["by"].get<std::string>().find("timed audit ended") != std::string::npos);
    // The config file still says enforce: the window was the daemon's alone.
    CHECK(testing::read_text(site.config).find("mode: enforce") != std::string::npos);

    // A restart inside a window keeps it, with the same end.
    REQUIRE(site.cli({"mode", "audit", "--for", "1h"}).exit_code == 0);
    const std::string until = site.status()["audit_until"];
    site.restart();
    CHECK(site.status()["mode"] == "audit");
    CHECK(site.status()["audit_until"] == until);
    // An explicit mode ends it.
    REQUIRE(site.cli({"mode", "enforce", "--force"}).exit_code == 0);
    CHECK(site.status()["audit_until"] == "");
    site.restart();
    CHECK(site.status()["mode"] == "enforce");
  }

  TEST_CASE("trust-debs refuses without changing anything: a policy that does not trust dpkg, a package outside "
            "its packages:, a file that is not a package; with tollgated down the set waits in state_dir") {
    Site site;
    site.write_manifest(/*trusts_dpkg=*/false);
    site.write_config();
    site.write_db();
    site.start();
    site.unpack();
    auto refused = site.cli({"trust-debs", site.deb});
    CHECK(refused.exit_code == 1);
    CHECK_MESSAGE(refused.err.find("the policy does not trust dpkg") != std::string::npos, refused.err);
    CHECK(site.status()["pending_trust"]["files"] == 0);
    CHECK(exec_errno(site.newtool) == EPERM);

    // The hook never fails apt for it.
    auto hook = site.cli({"trust-debs", "--apt-hook"}, "VERSION 3\nAPT::Architecture=amd64\n\n" + std::string(kPackage) +
                                                          " - - none < 1.0-1 all foreign " + site.deb + "\n");
    CHECK(hook.exit_code == 0);
    CHECK(site.status()["pending_trust"]["files"] == 0);

    // A package the dpkg entry's `packages:` does not name.
    testing::write_text(site.manifest, "version: 1\nallow:\n  - package_manager: dpkg\n    packages: [dpkg]\n");
    auto outside = site.cli({"trust-debs", site.deb});
    CHECK(outside.exit_code == 0);
    CHECK_MESSAGE(outside.err.find("is not among the packages") != std::string::npos, outside.err);
    CHECK(site.status()["pending_trust"]["files"] == 0);

    // Not a package: one line naming it, exit non-zero.
    site.write_manifest();
    testing::write_text(site.dir.file("bogus.deb"), "not an ar archive\n");
    auto bad = site.cli({"trust-debs", site.dir.file("bogus.deb")});
    CHECK(bad.exit_code != 0);
    CHECK_MESSAGE(bad.err.find(site.dir.file("bogus.deb") + ": not a readable Debian package") != std::string::npos,
                  bad.err);
    CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
    CHECK(site.status()["pending_trust"]["files"] == 0);

    // The hook protocol, with the daemon down: stored, picked up at start.
    CHECK(site.stop_daemon() == 0);
    hook = site.cli({"trust-debs", "--apt-hook"}, "VERSION 3\nAPT::Architecture=amd64\n\n" + std::string(kPackage) +
                                                     " - - none < 1.0-1 all foreign " + site.deb + "\n");
    CHECK_MESSAGE(hook.exit_code == 0, hook.err);
    CHECK_MESSAGE(hook.out.find("stored in " + site.state + "/pending-trust.json") != std::string::npos, hook.out);
    site.start();
    CHECK(site.status()["pending_trust"]["files"] == 2);
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(exec_errno(site.unrelated) == EPERM);
  }

  TEST_CASE("refresh (the Post-Invoke) ends the pending trust: what the new policy approves is covered, the rest "
            "ends with it") {
    Site site;
    site.write_manifest();
    site.write_config();
    site.write_db();
    site.start();
    site.unpack();
    const std::string daemon_hash = hashdb::to_hex(*hashdb::sha256_path(testing::built_binary("tollgated")));
    const std::string newtool_hash = hashdb::to_hex(*hashdb::sha256_path(site.newtool));
    // The recompile's manifest: the daemon's own binary, and what `covers`.
    auto recompiled = [&](const std::string& covers) {
      testing::write_text(site.manifest, "version: 1\nallow:\n  - sha256: " + daemon_hash + "\n    label: tollgated\n" +
                                             covers);
    };

    REQUIRE(site.cli({"trust-debs", site.deb}).exit_code == 0);
    CHECK(exec_errno(site.newtool) == 0);
    recompiled("");
    auto ended = site.cli({"refresh"});
    REQUIRE_MESSAGE(ended.exit_code == 0, ended.err);
    CHECK_MESSAGE(ended.out.find("pending trust ended (2 files)") != std::string::npos, ended.out);
    CHECK(site.status()["pending_trust"]["files"] == 0);
    CHECK(::access((site.state + "/pending-trust.json").c_str(), F_OK) != 0);
    CHECK(exec_errno(site.newtool) == EPERM);
    CHECK(exec_errno(site.othertool) == EPERM);
    auto events = site.read_events("pending_trust");
    REQUIRE_FALSE(events.empty());
    CHECK(events.back()["action"] == "end");
    CHECK(events.back()["reason"] == "refresh");
    CHECK(events.back()["files"] == 2);

    // Again, with a recompile that approves newtool itself: its pending file
    // is dropped as covered when the policy lands, and it still runs, now by
    // the policy's own rule.
    site.write_manifest();
    REQUIRE(site.cli({"trust-debs", site.deb}).exit_code == 0);
    recompiled("  - sha256: " + newtool_hash + "\n    label: newtool\n");
    auto covered = site.cli({"refresh"});
    REQUIRE_MESSAGE(covered.exit_code == 0, covered.err);
    CHECK(site.status()["pending_trust"]["files"] == 0);
    CHECK(site.status()["mode"] == "enforce");
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(exec_errno(site.othertool) == EPERM);
    events = site.read_events("pending_trust");
    REQUIRE(events.size() >= 2);
    CHECK(events[events.size() - 2]["reason"] == "covered");
    CHECK(events[events.size() - 2]["files"] == 1);
    CHECK(events.back()["reason"] == "refresh");
    CHECK(events.back()["files"] == 1);
    CHECK(Site::eventually([&] {
      auto d = site.read_events("decision");
      return !d.empty() && d.back()["path"] == site.newtool && d.back()["rule"].get<std::string>().starts_with("hash-allow:");
    }));
  }

  TEST_CASE("at the TTL, only the pending files a must_allow executable needs are kept (DEGRADED, reason lockout); "
            "the rest of the set ends") {
    Site site;
    site.write_manifest();
    site.write_config("2s", "[" + site.newtool + "]");
    site.write_db();
    site.start();
    site.unpack();
    REQUIRE(site.cli({"trust-debs", site.deb}).exit_code == 0);
    CHECK(exec_errno(site.othertool) == 0);
    CHECK(Site::eventually([&] {
      for (const auto& e : site.read_events("pending_trust"))
        if (e["reason"] == "lockout") return true;
      return false;
    }));
    json s = site.status();
    CHECK(s["mode"] == "enforce");
    CHECK(s["pending_trust"]["files"] == 1);
    CHECK(s["health"]["status"] == "DEGRADED");
    CHECK_MESSAGE(s["health"]["reason"].get<std::string>().find("pending trust of 1 files kept past "
                                                                "pending_trust_ttl: without it the policy would deny " +
                                                                site.newtool + " (default-deny)") != std::string::npos,
                  s["health"]["reason"]);
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(exec_errno(site.othertool) == EPERM);
    CHECK(exec_errno(site.unrelated) == EPERM);
  }
}
