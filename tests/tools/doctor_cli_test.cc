// tollgate doctor against a fake proc root: the holes it reports, and
// --fix --proc-root --sysctl-dir writing the expected drop-in into a temp
// directory (never /etc/sysctl.d) and applying it to the fake /proc/sys.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct FakeHost {
  testing::TempDir dir;
  std::string proc = dir.file("proc");
  std::string sysctl_dir = dir.file("sysctl.d");
  std::string config = dir.file("tollgate.yaml");

  FakeHost(bool debian_knob) {
    put("sys/vm/memfd_noexec", "0\n");
    put("sys/user/max_user_namespaces", "15000\n");
    if (debian_knob) put("sys/kernel/unprivileged_userns_clone", "1\n");
    put("sys/kernel/yama/ptrace_scope", "1\n");
    put("sys/kernel/osrelease", "6.6.0-test\n");
    put("self/mountinfo", "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n2 1 0:5 / /proc rw,noexec - proc proc rw\n");
    fs::create_directories(sysctl_dir);
    // Every path into the temp directory; no daemon listens on the socket.
    testing::write_text(config, "socket: " + dir.file("none.sock") + "\ndatabase: " + dir.file("p.db") +
                                    "\nstate_dir: " + dir.file("state") + "\nmanifest: " + dir.file("m.yaml") +
                                    "\napprovals: " + dir.file("a.yaml") + "\nwatch: [/srv]\n");
  }
  void put(const std::string& rel, const std::string& text) {
    fs::create_directories(fs::path(proc + "/" + rel).parent_path());
    testing::write_text(proc + "/" + rel, text);
  }
  std::string get(const std::string& rel) { return testing::read_text(proc + "/" + rel); }
  testing::CommandResult doctor(std::vector<std::string> extra) {
    std::vector<std::string> argv = {
        testing::built_binary("tollgate"), "doctor", "--config", config, "--proc-root", proc};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testing::run(argv, 60);
  }
  static json check(const json& out, const std::string& id) {
    for (const auto& c : out["checks"])
      if (c["id"] == id) return c;
    return json();
  }
};

}  // namespace

TEST_SUITE("tools.doctor.cli") {
  TEST_CASE("given fake sysctls, doctor reports the memfd and user-namespace holes; the daemon down is the worst") {
    FakeHost host(true);
    auto r = host.doctor({"--json"});
    CHECK(r.exit_code == 4);  // tollgated is not running: a failure
    auto out = json::parse(r.out);
    CHECK(out["worst"] == "fail");
    CHECK(FakeHost::check(out, "daemon")["status"] == "fail");
    auto memfd = FakeHost::check(out, "memfd");
    CHECK(memfd["status"] == "warn");
    CHECK(memfd["hole"] == "memfd exec");
    CHECK(memfd["sysctl"]["name"] == "vm.memfd_noexec");
    auto userns = FakeHost::check(out, "user-namespaces");
    CHECK(userns["status"] == "warn");
    CHECK(userns["hole"] == "user namespaces");
    CHECK(FakeHost::check(out, "ptrace")["status"] == "warn");
    auto text = host.doctor({});
    CHECK(text.exit_code == 4);
    CHECK(text.out.find("holes open: user namespaces, memfd exec") != std::string::npos);
    CHECK(text.out.find("fix: sysctl vm.memfd_noexec=2") != std::string::npos);
  }

  TEST_CASE("--fix --proc-root writes the expected drop-in and applies it; running it again changes nothing") {
    FakeHost host(true);
    CHECK(host.doctor({"--fix"}).exit_code == 2);  // a fake proc root but the real /etc/sysctl.d: refused
    CHECK(fs::is_empty(host.sysctl_dir));
    auto r = host.doctor({"--fix", "--sysctl-dir", host.sysctl_dir});
    CHECK(r.exit_code == 4);  // still: the daemon is not running
    const std::string dropin = host.sysctl_dir + "/90-tollgate.conf";
    CHECK(testing::read_text(dropin) ==
          "# Written by `tollgate doctor --fix`: kernel hardening that closes what\n"
          "# fanotify cannot see (docs/threat-model.md). Each line is a fix doctor\n"
          "# named; edit or delete the file to undo one (then reboot or sysctl -w).\n"
          "kernel.unprivileged_userns_clone = 0\n"
          "vm.memfd_noexec = 2\n"
          "kernel.yama.ptrace_scope = 2\n");
    CHECK(host.get("sys/vm/memfd_noexec") == "2\n");
    CHECK(host.get("sys/kernel/unprivileged_userns_clone") == "0\n");
    CHECK(host.get("sys/kernel/yama/ptrace_scope") == "2\n");
    CHECK(r.out.find("fixed: vm.memfd_noexec = 2") != std::string::npos);
    CHECK(r.out.find("holes open") == std::string::npos);

    auto again = host.doctor({"--fix", "--json", "--sysctl-dir", host.sysctl_dir});
    auto out = json::parse(again.out);
    CHECK(out["fixed"].empty());
    CHECK(FakeHost::check(out, "memfd")["status"] == "ok");
    CHECK(FakeHost::check(out, "user-namespaces")["status"] == "ok");
    CHECK(testing::read_text(dropin).ends_with("kernel.yama.ptrace_scope = 2\n"));
  }

  TEST_CASE("without Debian's knob the user-namespace fix is printed for the admin, not applied") {
    FakeHost host(false);
    auto r = host.doctor({"--fix", "--sysctl-dir", host.sysctl_dir});
    const std::string dropin = testing::read_text(host.sysctl_dir + "/90-tollgate.conf");
    CHECK(dropin.find("vm.memfd_noexec = 2") != std::string::npos);
    CHECK(dropin.find("user.max_user_namespaces") == std::string::npos);
    CHECK(host.get("sys/user/max_user_namespaces") == "15000\n");
    CHECK(r.out.find("holes open: user namespaces") != std::string::npos);
    CHECK(r.out.find("sysctl user.max_user_namespaces=0, by hand") != std::string::npos);
  }

  TEST_CASE("a kernel without vm.memfd_noexec: doctor says which and that only the census remains") {
    FakeHost host(true);
    fs::remove(host.proc + "/sys/vm/memfd_noexec");
    auto out = json::parse(host.doctor({"--json"}).out);
    auto memfd = FakeHost::check(out, "memfd");
    CHECK(memfd["status"] == "warn");
    CHECK(memfd["why"].get<std::string>().find("kernel 6.6.0-test has no vm.memfd_noexec") != std::string::npos);
    CHECK(memfd["sysctl"].is_null());
  }
}
