// Upgrades without a window (issue 15), end to end: the real tollgated in
// enforce mode on a tmpfs mounted inside a private mount namespace, a small
// .deb built here with dpkg-deb, and `tollgate trust-debs` giving its files
// pending trust before they are unpacked. Needs root (ctest label "root").
// Every wait is bounded; the daemon dies with the test and is stopped by pid.
#include <doctest/doctest.h>
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <functional>
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

constexpr const char* kPackage = "tg-newtool";
constexpr const char* kVersion = "1.0-1";

struct Site {
  testing::TempDir dir;
  std::string mnt = dir.file("mnt");
  std::string config = dir.file("tollgate.yaml");
  std::string manifest = dir.file("policy.yaml");
  std::string db = dir.file("policy.db");
  std::string socket = dir.file("tollgate.sock");
  std::string events = dir.file("events.jsonl");
  std::string state = dir.file("state");
  std::string deb = dir.file("tg-newtool_1.0-1_all.deb");
  std::string newtool = mnt + "/usr/bin/newtool", othertool = mnt + "/usr/bin/othertool";
  std::string unrelated = mnt + "/unrelated", tampered = mnt + "/tampered";
  testing::DaemonProcess daemon;

  Site() {
    REQUIRE_MESSAGE(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS) needs root: " << std::strerror(errno));
    REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
    REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
    REQUIRE(::mount("tollgate-upgrades", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=32m") == 0);
    fs::copy_file("/bin/cat", unrelated);
    ::chmod(unrelated.c_str(), 0755);
    build_deb();
  }
  ~Site() {
    daemon.stop();
    ::umount2(mnt.c_str(), MNT_DETACH);
  }

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

  void write_config(const std::string& ttl = "30m", const std::string& must_allow = "[]") {
    testing::write_text(config, "mode: enforce\ndatabase: " + db + "\nevent_log: " + events + "\nsocket: " + socket +
                                    "\nwatch: [" + mnt + "]\ndecision_timeout_ms: 5000\nmust_allow: " + must_allow +
                                    "\nstate_dir: " + state + "\nmanifest: " + manifest + "\nlog_allows: true\npending_trust_ttl: " +
                                    ttl + "\napprovals: " + dir.file("approvals.yaml") + "\n");
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
    hashdb::HashRule r;
    r.sha256 = *hashdb::sha256_path(testing::built_binary("tollgated"));
    c.hash_rules = {r};
    auto written = hashdb::write_database(db, c, {.generation = 1});
    REQUIRE_MESSAGE(written, (written ? "" : written.error().message()));
  }

  json status() {
    auto s = control::control_request(socket, {{"cmd", "status"}}, 30000);
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
  testing::CommandResult tg(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), testing::built_binary("tollgate"));
    args.insert(args.begin() + 2, {"--config", config});
    return testing::run(args, 120, input);
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
  std::vector<json> events_of(const std::string& type) {
    std::vector<json> got;
    std::istringstream in(testing::read_text(events));
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j["type"] == type) got.push_back(j);
    }
    return got;
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

    auto trusted = site.tg({"trust-debs", site.deb});
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
    auto text = site.tg({"status"});
    CHECK_MESSAGE(text.out.find("pending:   2 files of 1 packages") != std::string::npos, text.out);

    // Explainable: the allow names the pending rule; the event log has the set.
    const std::string rule = std::string("pending-trust:") + kPackage + "=" + kVersion + ":/usr/bin/newtool";
    CHECK(Site::eventually([&] {
      for (const auto& d : site.events_of("decision"))
        if (d["path"] == site.newtool && d["decision"] == "allow" && d["rule"] == rule) return true;
      return false;
    }));
    auto adds = site.events_of("pending_trust");
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
    auto pre = site.tg({"refresh", "--pre"});
    CHECK_MESSAGE(pre.exit_code == 0, pre.err);
    CHECK(site.status()["mode"] == "enforce");
    CHECK(exec_errno(site.unrelated) == EPERM);

    // After the TTL the set is gone. A lowered TTL shortens the stored set
    // (stored with 30m) at start, and bounds a new request.
    site.write_config("2s");
    site.restart();
    CHECK(Site::eventually([&] { return site.status()["pending_trust"]["files"] == 0; }));
    CHECK(exec_errno(site.newtool) == EPERM);
    REQUIRE(site.tg({"trust-debs", site.deb}).exit_code == 0);
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(Site::eventually([&] { return site.status()["pending_trust"]["files"] == 0; }));
    CHECK(exec_errno(site.newtool) == EPERM);
    CHECK(site.status()["mode"] == "enforce");
    auto ends = site.events_of("pending_trust");
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
    auto opened = site.tg({"mode", "audit", "--for", "2s"});
    REQUIRE_MESSAGE(opened.exit_code == 0, opened.err);
    CHECK(site.status()["mode"] == "audit");
    CHECK_FALSE(site.status()["audit_until"].get<std::string>().empty());
    CHECK(exec_errno(site.unrelated) == 0);  // audit: allowed and logged
    CHECK(Site::eventually([&] { return site.status()["mode"] == "enforce"; }));
    CHECK(site.status()["audit_until"] == "");
    CHECK(exec_errno(site.unrelated) == EPERM);
    auto modes = site.events_of("mode");
    REQUIRE(modes.size() >= 2);
    CHECK(modes[modes.size() - 2]["to"] == "audit");
    CHECK_FALSE(modes[modes.size() - 2]["until"].get<std::string>().empty());
    CHECK(modes.back()["to"] == "enforce");
    CHECK(modes.back()["by"].get<std::string>().find("timed audit ended") != std::string::npos);
    // The config file still says enforce: the window was the daemon's alone.
    CHECK(testing::read_text(site.config).find("mode: enforce") != std::string::npos);

    // A restart inside a window keeps it, with the same end.
    REQUIRE(site.tg({"mode", "audit", "--for", "1h"}).exit_code == 0);
    const std::string until = site.status()["audit_until"];
    site.restart();
    CHECK(site.status()["mode"] == "audit");
    CHECK(site.status()["audit_until"] == until);
    // An explicit mode ends it.
    REQUIRE(site.tg({"mode", "enforce", "--force"}).exit_code == 0);
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
    auto refused = site.tg({"trust-debs", site.deb});
    CHECK(refused.exit_code == 1);
    CHECK_MESSAGE(refused.err.find("the policy does not trust dpkg") != std::string::npos, refused.err);
    CHECK(site.status()["pending_trust"]["files"] == 0);
    CHECK(exec_errno(site.newtool) == EPERM);

    // The hook never fails apt for it.
    auto hook = site.tg({"trust-debs", "--apt-hook"}, "VERSION 3\nAPT::Architecture=amd64\n\n" + std::string(kPackage) +
                                                          " - - none < 1.0-1 all foreign " + site.deb + "\n");
    CHECK(hook.exit_code == 0);
    CHECK(site.status()["pending_trust"]["files"] == 0);

    // A package the dpkg entry's `packages:` does not name.
    testing::write_text(site.manifest, "version: 1\nallow:\n  - package_manager: dpkg\n    packages: [dpkg]\n");
    auto outside = site.tg({"trust-debs", site.deb});
    CHECK(outside.exit_code == 0);
    CHECK_MESSAGE(outside.err.find("is not among the packages") != std::string::npos, outside.err);
    CHECK(site.status()["pending_trust"]["files"] == 0);

    // Not a package: one line naming it, exit non-zero.
    site.write_manifest();
    testing::write_text(site.dir.file("bogus.deb"), "not an ar archive\n");
    auto bad = site.tg({"trust-debs", site.dir.file("bogus.deb")});
    CHECK(bad.exit_code != 0);
    CHECK_MESSAGE(bad.err.find(site.dir.file("bogus.deb") + ": not a readable Debian package") != std::string::npos,
                  bad.err);
    CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
    CHECK(site.status()["pending_trust"]["files"] == 0);

    // The hook protocol, with the daemon down: stored, picked up at start.
    CHECK(site.daemon.stop() == 0);
    hook = site.tg({"trust-debs", "--apt-hook"}, "VERSION 3\nAPT::Architecture=amd64\n\n" + std::string(kPackage) +
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

    REQUIRE(site.tg({"trust-debs", site.deb}).exit_code == 0);
    CHECK(exec_errno(site.newtool) == 0);
    recompiled("");
    auto ended = site.tg({"refresh"});
    REQUIRE_MESSAGE(ended.exit_code == 0, ended.err);
    CHECK_MESSAGE(ended.out.find("pending trust ended (2 files)") != std::string::npos, ended.out);
    CHECK(site.status()["pending_trust"]["files"] == 0);
    CHECK(::access((site.state + "/pending-trust.json").c_str(), F_OK) != 0);
    CHECK(exec_errno(site.newtool) == EPERM);
    CHECK(exec_errno(site.othertool) == EPERM);
    auto events = site.events_of("pending_trust");
    REQUIRE_FALSE(events.empty());
    CHECK(events.back()["action"] == "end");
    CHECK(events.back()["reason"] == "refresh");
    CHECK(events.back()["files"] == 2);

    // Again, with a recompile that approves newtool itself: its pending file
    // is dropped as covered when the policy lands, and it still runs, now by
    // the policy's own rule.
    site.write_manifest();
    REQUIRE(site.tg({"trust-debs", site.deb}).exit_code == 0);
    recompiled("  - sha256: " + newtool_hash + "\n    label: newtool\n");
    auto covered = site.tg({"refresh"});
    REQUIRE_MESSAGE(covered.exit_code == 0, covered.err);
    CHECK(site.status()["pending_trust"]["files"] == 0);
    CHECK(site.status()["mode"] == "enforce");
    CHECK(exec_errno(site.newtool) == 0);
    CHECK(exec_errno(site.othertool) == EPERM);
    events = site.events_of("pending_trust");
    REQUIRE(events.size() >= 2);
    CHECK(events[events.size() - 2]["reason"] == "covered");
    CHECK(events[events.size() - 2]["files"] == 1);
    CHECK(events.back()["reason"] == "refresh");
    CHECK(events.back()["files"] == 1);
    CHECK(Site::eventually([&] {
      auto d = site.events_of("decision");
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
    REQUIRE(site.tg({"trust-debs", site.deb}).exit_code == 0);
    CHECK(exec_errno(site.othertool) == 0);
    CHECK(Site::eventually([&] {
      for (const auto& e : site.events_of("pending_trust"))
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
