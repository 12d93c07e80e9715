// Upgrades without a window (issue 15), end to end: the real tollgated in
// enforce mode on a tmpfs mounted inside a private mount namespace, a small
// .deb built here with dpkg-deb, and `tollgate trust-debs` giving its files
// pending trust before they are unpacked. Needs root (ctest label "root").
// Every wait is bounded; the daemon dies with the test and is stopped by pid.
#include <doctest/doctest.h>
#include <errno.h>
#include <sys/mount.h>
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
                                                            "packages: [") +
                                                    kPackage + ", dpkg]\n"
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

// A dpkg root for `dpkg --instdir --admindir` on a tmpfs of the fixture's
// kind, mounted under /run (root-owned and not writable all the way up, as
// /var/lib/dpkg is, so the compiler's ownership rule passes) inside the
// test's private mount namespace, and watched beside the fixture's own.
// Declare it before the Site: the daemon stops before this is unmounted.
struct DpkgRoot {
  std::string run_dir, root, admin, log;

  DpkgRoot() {
    testing::enter_private_namespace();
    std::string tmpl = "/run/tollgate-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()));
    run_dir = tmpl;
    REQUIRE(::chmod(run_dir.c_str(), 0755) == 0);
    root = run_dir + "/root";
    REQUIRE(::mkdir(root.c_str(), 0755) == 0);
    REQUIRE(::mount(testing::kFixtureTmpfs, root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m") == 0);
    testing::require_own_tmpfs(root);
    admin = root + "/var/lib/dpkg";
    fs::create_directories(admin + "/info");
    fs::create_directories(admin + "/updates");
    testing::write_text(admin + "/status", "");
    log = run_dir + "/scripts.log";
  }
  ~DpkgRoot() {
    ::umount2(root.c_str(), MNT_DETACH);
    std::error_code ec;
    fs::remove_all(run_dir, ec);
  }

  // dpkg ARGS... on this root, running the maintainer scripts in place
  // (from admin/tmp.ci and admin/info, on the watched tmpfs) rather than
  // chrooted into it; its own log kept off the host's /var/log.
  testing::CommandResult dpkg(std::vector<std::string> args) {
    std::vector<std::string> argv = {"dpkg", "--instdir=" + root, "--admindir=" + admin, "--force-script-chrootless",
                                     "--log=/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv, 120);
  }
  std::string info(const std::string& name) const { return admin + "/info/" + name; }
  std::string tmp_ci(const std::string& name) const { return admin + "/tmp.ci/" + name; }
  std::string script_log() const { return testing::read_text(log); }
};

// tg-scripts VERSION: four maintainer scripts that say who ran them, with
// which arguments, into the DpkgRoot's log (each version's bytes differ).
std::string build_scripts_deb(testing::TempDir& dir, const DpkgRoot& sys, const std::string& version) {
  const std::string root = dir.file("scripts-" + version);
  fs::create_directories(root + "/DEBIAN");
  fs::create_directories(root + "/usr/share/tg-scripts");
  testing::write_text(root + "/DEBIAN/control", "Package: tg-scripts\nVersion: " + version +
                                                    "\nArchitecture: all\nMaintainer: Tollgate tests "
                                                    "<tests@example.invalid>\nDescription: maintainer scripts\n");
  for (const char* name : {"preinst", "postinst", "prerm", "postrm"})
    testing::write_text(root + "/DEBIAN/" + name,
                        "#!/bin/sh\necho \"" + version + " " + name + " $*\" >> " + sys.log + "\n", 0755);
  testing::write_text(root + "/usr/share/tg-scripts/README", version + "\n");
  const std::string deb = dir.file("tg-scripts_" + version + "_all.deb");
  auto built = testing::run({"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb}, 60);
  REQUIRE_MESSAGE(built.exit_code == 0, built.err);
  return deb;
}

}  // namespace

TEST_SUITE("enforcer.upgrades") {
  TEST_CASE(
      "trust-debs: the package's files run under enforcement before the recompile, nothing else does, "
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

  TEST_CASE(
      "mode audit --for: a time-boxed window that returns to enforce by itself, logged, and not extended by a "
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

  TEST_CASE(
      "trust-debs refuses without changing anything: a policy that does not trust dpkg, a package outside "
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
    auto hook =
        site.cli({"trust-debs", "--apt-hook"}, "VERSION 3\nAPT::Architecture=amd64\n\n" + std::string(kPackage) +
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

  TEST_CASE(
      "refresh (the Post-Invoke) ends the pending trust: what the new policy approves is covered, the rest "
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
      testing::write_text(site.manifest,
                          "version: 1\nallow:\n  - sha256: " + daemon_hash + "\n    label: tollgated\n" + covers);
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
      return !d.empty() && d.back()["path"] == site.newtool &&
             d.back()["rule"].get<std::string>().starts_with("hash-allow:");
    }));
  }

  TEST_CASE(
      "at the TTL, only the pending files a must_allow executable needs are kept (DEGRADED, reason lockout); "
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

  TEST_CASE(
      "dpkg's maintainer scripts run under enforcement: the new ones by pending trust (control:NAME), the "
      "installed ones by the compiled policy, at upgrade, removal and purge; anything else in info/ is denied") {
    DpkgRoot sys;
    Site site;
    site.also_watch = {sys.root};
    const std::string v1 = build_scripts_deb(site.dir, sys, "1.0");
    const std::string v2 = build_scripts_deb(site.dir, sys, "2.0");
    const std::string v3 = build_scripts_deb(site.dir, sys, "3.0");
    const std::string daemon_hash = hashdb::to_hex(*hashdb::sha256_path(testing::built_binary("tollgated")));
    // Every package of this dpkg database, and the daemon's own binary.
    testing::write_text(site.manifest, "version: 1\nallow:\n  - package_manager: dpkg\n  - sha256: " + daemon_hash +
                                           "\n    label: tollgated\n");
    site.write_config();
    site.write_db();
    site.start();
    // What Post-Invoke does (`tollgate refresh`), against this dpkg database:
    // the candidate starts as a copy of the live database, so the compile
    // continues its generation.
    auto post_invoke = [&] {
      fs::copy_file(site.db, site.db + ".candidate", fs::copy_options::overwrite_existing);
      auto compiled = testing::run({testing::built_binary("tollgate"), "compile", site.manifest, "-o",
                                    site.db + ".candidate", "--dpkg-admindir", sys.admin, "--json"},
                                   120);
      REQUIRE_MESSAGE(compiled.exit_code == 0, compiled.err);
      auto installed = site.request({{"cmd", "install"}, {"candidate", site.db + ".candidate"}, {"by", "test"}});
      REQUIRE(installed);
      REQUIRE_MESSAGE((*installed)["ok"] == true, installed->dump());
      REQUIRE(site.request({{"cmd", "end_pending"}, {"by", "test"}}));
      CHECK(site.status()["pending_trust"]["files"] == 0);
      return json::parse(compiled.out);
    };
    // Whether the latest decision on `path` names the rule `want` (or one
    // starting with it, for "hash-allow:"); the log is written
    // asynchronously, so it is waited for (bounded).
    auto decided = [&](const std::string& path, const std::string& want) {
      std::string rule;
      bool ok = Site::eventually([&] {
        for (const auto& d : site.read_events("decision"))
          if (d["path"] == path) rule = d["rule"];
        return rule.starts_with(want);
      });
      if (!ok) MESSAGE(path << ": the latest decision's rule is '" << rule << "', not '" << want << "'");
      return ok;
    };

    // Install: the new preinst runs from tmp.ci/, the postinst from info/.
    auto trusted = site.cli({"trust-debs", v1});
    REQUIRE_MESSAGE(trusted.exit_code == 0, trusted.err);
    CHECK(site.status()["pending_trust"]["files"] == 4);  // the four scripts; the README is data
    auto install = sys.dpkg({"-i", v1});
    REQUIRE_MESSAGE(install.exit_code == 0, install.out << install.err);
    CHECK(sys.script_log() == "1.0 preinst install\n1.0 postinst configure \n");
    CHECK(decided(sys.tmp_ci("preinst"), "pending-trust:tg-scripts=1.0:control:preinst"));
    CHECK(decided(sys.info("tg-scripts.postinst"), "pending-trust:tg-scripts=1.0:control:postinst"));
    post_invoke();

    // Upgrade: the old prerm and postrm by the compiled policy (no pending
    // trust of 1.0 is left), the new preinst and postinst by pending trust.
    REQUIRE(site.cli({"trust-debs", v2}).exit_code == 0);
    auto upgrade = sys.dpkg({"-i", v2});
    REQUIRE_MESSAGE(upgrade.exit_code == 0, upgrade.out << upgrade.err);
    CHECK(sys.script_log() ==
          "1.0 preinst install\n1.0 postinst configure \n"
          "1.0 prerm upgrade 2.0\n2.0 preinst upgrade 1.0 2.0\n1.0 postrm upgrade 2.0\n"
          "2.0 postinst configure 1.0\n");
    CHECK(decided(sys.info("tg-scripts.prerm"), "hash-allow:"));
    CHECK(decided(sys.info("tg-scripts.postrm"), "hash-allow:"));
    CHECK(decided(sys.tmp_ci("preinst"), "pending-trust:tg-scripts=2.0:control:preinst"));
    post_invoke();

    // An attacker's scripts in info/: a root-owned one of no trusted package
    // (no package installed it), one under the trusted package's own script
    // name but owned by another user, and a one-byte change of a trusted one.
    const std::string evil = sys.info("tg-other.postinst");
    testing::write_text(evil, "#!/bin/sh\necho evil >> " + sys.log + "\n", 0755);
    const std::string dropped = sys.info("tg-scripts.config");
    testing::write_text(dropped, "#!/bin/sh\necho dropped >> " + sys.log + "\n", 0755);
    REQUIRE(::chown(dropped.c_str(), 65534, 65534) == 0);
    const std::string tampered = sys.info("tg-scripts.postinst.tampered");
    {
      std::string bytes = testing::read_text(sys.info("tg-scripts.postinst"));
      bytes.insert(bytes.size() - 1, " ");
      testing::write_text(tampered, bytes, 0755);
    }
    json summary = post_invoke();
    CHECK(summary["writable"]["untrusted"] == 1);
    CHECK(summary["writable"]["untrusted_list"][0]["path"] == dropped);
    for (const auto& path : {evil, dropped, tampered}) {
      CAPTURE(path);
      CHECK(exec_errno(path) == EPERM);
      CHECK(decided(path, "default-deny"));
    }
    CHECK(sys.script_log().find("evil") == std::string::npos);
    CHECK(sys.script_log().find("dropped") == std::string::npos);
    for (const auto& path : {evil, dropped, tampered}) fs::remove(path);

    // Removal, then purge after the recompile: dpkg keeps the postrm of a
    // removed package, and the compiled policy keeps trusting it.
    auto removed = sys.dpkg({"-r", "tg-scripts"});
    REQUIRE_MESSAGE(removed.exit_code == 0, removed.out << removed.err);
    post_invoke();
    auto purged = sys.dpkg({"-P", "tg-scripts"});
    REQUIRE_MESSAGE(purged.exit_code == 0, purged.out << purged.err);
    CHECK(sys.script_log().ends_with("2.0 prerm remove\n2.0 postrm remove\n2.0 postrm purge\n"));
    post_invoke();

    // Without pending trust a package's new scripts are denied, like
    // anything unapproved: dpkg cannot run the preinst and installs nothing.
    const std::string before = sys.script_log();
    auto refused = sys.dpkg({"-i", v3});
    CHECK(refused.exit_code != 0);
    CHECK_MESSAGE(refused.err.find("Operation not permitted") != std::string::npos, refused.err);
    CHECK(sys.script_log() == before);
    CHECK(decided(sys.tmp_ci("preinst"), "default-deny"));
    CHECK(site.status()["mode"] == "enforce");
  }
}
