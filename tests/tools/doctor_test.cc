// tollgate doctor's checks over made-up host facts, and the status line's
// holes: pure, no host setting is read or changed.
#include "tools/doctor.h"

#include <doctest/doctest.h>
#include <sys/sysmacros.h>

#include <filesystem>

#include "tests/support/temp_dir.h"
#include "tools/status_verdict.h"

using namespace tollgate;
using namespace tollgate::tools;

namespace {

// A hardened host: every check ok.
HostFacts hardened() {
  HostFacts f;
  f.sysctls = {{"user.max_user_namespaces", "15000"},
               {"kernel.unprivileged_userns_clone", "0"},
               {"kernel.apparmor_restrict_unprivileged_userns", std::nullopt},
               {"vm.memfd_noexec", "2"},
               {"kernel.yama.ptrace_scope", "2"},
               {"kernel.osrelease", "6.12.0"}};
  f.kernel_release = "6.12.0";
  f.mounts = census::parse_mountinfo(
      "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "2 1 0:5 / /proc rw,noexec - proc proc rw\n"
      "3 1 0:6 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw\n"
      "4 1 0:7 / /var/tmp rw,noexec - tmpfs tmpfs rw\n"
      "5 1 0:8 / /dev/shm rw,noexec - tmpfs tmpfs rw\n");
  f.watched = {::makedev(8, 1), ::makedev(0, 6), ::makedev(0, 7), ::makedev(0, 8)};
  f.watched_from_daemon = true;
  f.public_key = "/etc/tollgate/signing.pub";
  f.census_interval_ms = 2000;
  f.daemon = control::StatusReply{.mode = policy::Mode::kEnforce, .coverage = "full"};
  f.files.push_back({.role = "database",
                     .path = "/var/lib/tollgate/policy.db",
                     .exists = true,
                     .mode = 0100644,
                     .chain = {{"/var/lib/tollgate/policy.db", 0, 0100644},
                               {"/var/lib/tollgate", 0, 040700},
                               {"/var/lib", 0, 040755},
                               {"/var", 0, 040755},
                               {"/", 0, 040755}}});
  return f;
}

const Check& find(const std::vector<Check>& checks, const std::string& id) {
  for (const auto& c : checks)
    if (c.id == id) return c;
  FAIL("no check " << id);
  static Check none;
  return none;
}

}  // namespace

TEST_SUITE("tools.doctor") {
  TEST_CASE("a hardened host has nothing open") {
    auto checks = run_checks(hardened());
    for (const auto& c : checks) {
      CAPTURE(c.id);
      CAPTURE(c.why);
      CHECK(c.status == Severity::kOk);
    }
    CHECK(worst(checks) == Severity::kOk);
    CHECK(open_holes(checks).empty());
  }

  TEST_CASE(
      "a sysctl short of its hardened value warns with that sysctl as the fix: Debian's user-namespace knob, "
      "memfd_noexec below 2 (a hole), ptrace_scope below 2") {
    struct Case {
      const char *id, *sysctl, *open, *hole, *fix;
    };
    for (const auto& t : {Case{"user-namespaces", "kernel.unprivileged_userns_clone", "1", "user namespaces", "0"},
                          Case{"memfd", "vm.memfd_noexec", "1", "memfd exec", "2"},
                          Case{"ptrace", "kernel.yama.ptrace_scope", "1", "", "2"}}) {
      CAPTURE(t.id);
      auto f = hardened();
      f.sysctls[t.sysctl] = t.open;
      auto c = find(run_checks(f), t.id);
      CHECK(c.status == Severity::kWarn);
      CHECK(c.hole == t.hole);
      REQUIRE(c.sysctl);
      CHECK(c.sysctl->name == t.sysctl);
      CHECK(c.sysctl->value == t.fix);
    }
  }

  TEST_CASE("user namespaces: without Debian's knob the fix is the global one, not applied") {
    auto f = hardened();
    f.sysctls["kernel.unprivileged_userns_clone"] = std::nullopt;
    auto c = find(run_checks(f), "user-namespaces");
    CHECK(c.status == Severity::kWarn);
    CHECK_FALSE(c.sysctl);  // user.max_user_namespaces=0 would stop root's services too: by hand
    CHECK(c.fix.find("user.max_user_namespaces=0") != std::string::npos);

    f.sysctls["user.max_user_namespaces"] = "0";
    CHECK(find(run_checks(f), "user-namespaces").status == Severity::kOk);
    f.sysctls["user.max_user_namespaces"] = "15000";
    f.sysctls["kernel.apparmor_restrict_unprivileged_userns"] = "1";
    CHECK(find(run_checks(f), "user-namespaces").status == Severity::kOk);
  }

  TEST_CASE("memfd: a kernel without the knob says which and what remains") {
    auto f = hardened();
    f.sysctls["vm.memfd_noexec"] = std::nullopt;
    f.kernel_release = "6.1.0-28-amd64";
    auto c = find(run_checks(f), "memfd");
    CHECK(c.status == Severity::kWarn);
    CHECK_FALSE(c.sysctl);
    CHECK(c.why.find("kernel 6.1.0-28-amd64 has no vm.memfd_noexec (added in 6.3)") != std::string::npos);
    CHECK(c.why.find("census") != std::string::npos);
    CHECK(c.fix.find("6.3 or later") != std::string::npos);
  }

  TEST_CASE("an exec-capable filesystem that is not watched is a hole; noexec and pseudo ones are not") {
    auto f = hardened();
    f.mounts.push_back(census::parse_mountinfo("9 1 8:2 / /srv rw - xfs /dev/sda2 rw\n")[0]);
    f.mounts.push_back(census::parse_mountinfo("10 1 8:3 / /media rw,noexec - vfat /dev/sdb1 rw\n")[0]);
    auto c = find(run_checks(f), "watched-filesystems");
    CHECK(c.status == Severity::kWarn);
    CHECK(c.hole == "unwatched filesystems");
    CHECK(c.why.find("/srv (xfs)") != std::string::npos);
    CHECK(c.why.find("/media") == std::string::npos);
  }

  TEST_CASE("/tmp, /var/tmp and /dev/shm: noexec, or the fstab line to make them so (never remounted)") {
    auto f = hardened();
    f.mounts = census::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "5 1 0:8 / /dev/shm rw - tmpfs tmpfs rw\n");
    auto checks = run_checks(f);
    auto tmp = find(checks, "noexec:/tmp");
    CHECK(tmp.status == Severity::kWarn);
    CHECK(tmp.why.find("no mount of its own") != std::string::npos);
    CHECK(tmp.fix.find("tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,mode=1777 0 0") != std::string::npos);
    CHECK(find(checks, "noexec:/var/tmp").fix.find("/var/tmp /var/tmp none rw,bind,nosuid,nodev,noexec 0 0") !=
          std::string::npos);
    auto shm = find(checks, "noexec:/dev/shm");
    CHECK(shm.status == Severity::kWarn);
    CHECK(shm.fix.find("mount -o remount,noexec /dev/shm") != std::string::npos);
    CHECK_FALSE(shm.sysctl);
    CHECK(shm.hole.empty());
  }

  TEST_CASE("ptrace: no Yama says so") {
    auto f = hardened();
    f.sysctls["kernel.yama.ptrace_scope"] = std::nullopt;
    CHECK(find(run_checks(f), "ptrace").why.find("no Yama") != std::string::npos);
  }

  TEST_CASE("a policy file or key a non-root user could change is a failure; a readable private key too") {
    auto f = hardened();
    f.files[0].chain[1].mode = 040777;  // /var/lib/tollgate world-writable
    auto c = find(run_checks(f), "file:database");
    CHECK(c.status == Severity::kFail);
    CHECK(c.why.find("can be changed by a user other than root") != std::string::npos);
    CHECK(worst(run_checks(f)) == Severity::kFail);

    f = hardened();
    f.files[0].chain[0].uid = 1000;
    CHECK(find(run_checks(f), "file:database").status == Severity::kFail);

    f = hardened();
    f.signing_key = "/etc/tollgate/signing.key";
    f.signing_key_present = true;
    f.files.push_back(
        {.role = "signing key",
         .path = f.signing_key,
         .exists = true,
         .secret = true,
         .mode = 0100644,
         .chain = {{f.signing_key, 0, 0100644}, {"/etc/tollgate", 0, 040755}, {"/etc", 0, 040755}, {"/", 0, 040755}}});
    auto checks = run_checks(f);
    CHECK(find(checks, "file:signing key").status == Severity::kFail);
    CHECK(find(checks, "signing-key").status == Severity::kWarn);
  }

  TEST_CASE(
      "the daemon: not running or DEGRADED fails, audit warns, an unmarked filesystem fails, signatures "
      "off and the census off warn") {
    auto f = hardened();
    f.daemon.reset();
    f.daemon_error = "nothing listens";
    CHECK(find(run_checks(f), "daemon").status == Severity::kFail);
    f.daemon_refused = true;
    CHECK(find(run_checks(f), "daemon").status == Severity::kInfo);

    f = hardened();
    f.daemon->mode = policy::Mode::kAudit;
    CHECK(find(run_checks(f), "daemon").status == Severity::kWarn);
    f.daemon->health = {"DEGRADED", "the live database was refused"};
    CHECK(find(run_checks(f), "daemon").status == Severity::kFail);

    f = hardened();
    f.daemon->filesystems = {{.device = "0:52", .fs_type = "tmpfs", .marked = false, .error = "hidden"}};
    CHECK(find(run_checks(f), "mark:0:52").status == Severity::kFail);

    f = hardened();
    f.public_key.clear();
    f.census_interval_ms = 0;
    auto checks = run_checks(f);
    CHECK(find(checks, "signatures").status == Severity::kWarn);
    CHECK(find(checks, "census").status == Severity::kWarn);
    CHECK(open_holes(checks) == std::vector<std::string>{"census off"});
  }

  TEST_CASE("the sysctl drop-in keeps what an earlier --fix wrote and sets the new fixes") {
    CHECK(sysctl_dropin("", {{"vm.memfd_noexec", "2"}}).ends_with("\nvm.memfd_noexec = 2\n"));
    std::string earlier = "# by hand\nkernel.yama.ptrace_scope = 2\nvm.memfd_noexec=1\n";
    std::string merged = sysctl_dropin(earlier, {{"vm.memfd_noexec", "2"}, {"kernel.unprivileged_userns_clone", "0"}});
    CHECK(merged.find("kernel.yama.ptrace_scope = 2\nvm.memfd_noexec = 2\nkernel.unprivileged_userns_clone = 0\n") !=
          std::string::npos);
    CHECK(merged.starts_with("# Written by `tollgate doctor --fix`"));
  }

  TEST_CASE("tollgate status names the open holes in its health line") {
    testing::TempDir dir;
    auto put = [&](const std::string& rel, const std::string& text) {
      std::filesystem::create_directories(std::filesystem::path(dir.file(rel)).parent_path());
      testing::write_text(dir.file(rel), text);
    };
    put("sys/vm/memfd_noexec", "0\n");
    put("sys/kernel/unprivileged_userns_clone", "1\n");
    put("sys/user/max_user_namespaces", "15000\n");
    put("sys/kernel/yama/ptrace_scope", "1\n");
    put("self/mountinfo", "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
    control::StatusReply status{.mode = policy::Mode::kEnforce,
                                .database = {.loaded = true, .generation = 3},
                                .filesystems = {{.device = "8:1", .fs_type = "ext4", .marked = true}},
                                .census = control::StatusReply::Census{.enabled = true, .interval_ms = 2000}};
    status.raw = control::to_json(status);
    auto holes = status_holes(dir.path(), status);
    CHECK(holes == std::vector<std::string>{"user namespaces", "memfd exec"});
    CHECK(health_verdict(status.raw, holes) ==
          "health: OK: enforcing generation 3, 0 denied; 2 holes open (user namespaces, memfd exec): run tollgate "
          "doctor");
    put("sys/vm/memfd_noexec", "2\n");
    put("sys/kernel/unprivileged_userns_clone", "0\n");
    CHECK(status_holes(dir.path(), status).empty());
    status.filesystems[0] = {
        .device = "8:1", .fs_type = "ext4", .mount_points = {"/"}, .marked = false, .error = "hidden"};
    CHECK(health_verdict(control::to_json(status))
              .starts_with("health: WARNING: tollgated cannot watch 8:1 (ext4) at /: hidden"));
  }
}
