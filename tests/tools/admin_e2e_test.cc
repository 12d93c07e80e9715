// The admin workflow end to end (issue 5, "Done when"): in a private mount
// namespace, the real tollgated in audit mode watching a tmpfs; an
// unapproved binary runs and shows in `tollgate report`; `tollgate mode
// enforce` refuses because of it; `tollgate approve` lands (signed,
// recompiled, reloaded); `tollgate mode enforce` succeeds; the binary keeps
// running and a new unapproved one is denied with EPERM.
//
// Needs root (LABELS root). Only the tmpfs mounted inside the namespace is
// marked. Every wait is bounded; the daemon dies with the test
// (PR_SET_PDEATHSIG) and is stopped by pid.
#include <doctest/doctest.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "control/client.h"
#include "policy/compiler.h"
#include "tests/support/daemon_process.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using nlohmann::json;
using testing::exec_errno;

namespace {

// Waits (bounded) until the event log holds a decision for `path`.
bool wait_for_decision(const std::string& log, const std::string& path) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    struct stat st {};
    if (::stat(log.c_str(), &st) == 0) {
      std::istringstream in(testing::read_text(log));
      for (std::string line; std::getline(in, line);) {
        auto j = json::parse(line, nullptr, false);
        if (j.is_object() && j["type"] == "decision" && j["path"] == path) return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace

TEST_SUITE("tools.e2e") {
  TEST_CASE(
      "audit, report, refused enforce, approve, enforce: the approved binary keeps running, a new one is denied") {
    REQUIRE_MESSAGE(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS) needs root: " << std::strerror(errno));
    REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
    testing::TempDir dir;
    std::string mnt = dir.file("mnt");
    REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
    REQUIRE(::mount("tollgate-admin-e2e", mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=32m") == 0);
    struct Unmount {
      std::string path;
      ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{mnt};
    std::string tool = mnt + "/report-tool", fresh = mnt + "/fresh-download";
    std::filesystem::copy_file("/bin/true", tool);
    std::filesystem::copy_file("/bin/false", fresh);
    ::chmod(tool.c_str(), 0755);
    ::chmod(fresh.c_str(), 0755);

    std::string config = dir.file("tollgate.yaml"), socket = dir.file("tollgate.sock"), log = dir.file("events.jsonl"),
                db = dir.file("policy.db");
    auto tg = [&](std::vector<std::string> args) {
      args.insert(args.begin(), testing::built_binary("tollgate"));
      args.insert(args.begin() + 2, {"--config", config});
      return testing::run(args, 60);
    };
    REQUIRE(testing::run({testing::built_binary("tollgate"), "keygen", "--out", dir.file("signing")}).exit_code == 0);
    // Baseline: only the daemon itself (anti-lockout needs it) is approved.
    testing::write_text(dir.file("policy.yaml"),
                        "version: 1\nname: e2e\ninclude:\n  - {path: approvals.yaml, optional: true}\nallow:\n"
                        "  - file: " +
                            testing::built_binary("tollgated") + "\n    label: tollgated\n");
    testing::write_text(config,
                        "# e2e config\nmode: audit\ndatabase: " + db + "\npublic_key: " + dir.file("signing.pub") +
                            "\nevent_log: " + log + "\nsocket: " + socket + "\nwatch: [" + mnt +
                            "]\ndecision_timeout_ms: 5000\nmanifest: " + dir.file("policy.yaml") +
                            "\napprovals: " + dir.file("approvals.yaml") + "\nsigning_key: " + dir.file("signing.key") +
                            "\nmust_allow: []\ncensus_interval_ms: 0\nstate_dir: " + dir.file("state") + "\n");
    auto baseline = policy::compile_policy(
        {.manifest_path = dir.file("policy.yaml"), .output_path = db, .signing_key_path = dir.file("signing.key")});
    REQUIRE_MESSAGE(baseline, baseline.error().message());

    testing::DaemonProcess daemon;
    auto started =
        daemon.start({testing::built_binary("tollgated"), "--config", config}, dir.file("tollgated.err"), [&] {
          auto reply = control::control_request(socket, {{"cmd", "status"}}, 2000);
          return reply && (*reply)["ok"] == true;
        });
    REQUIRE_MESSAGE(started.empty(), started);

    // 1. Audit: the unapproved binary runs and is logged as a would-deny.
    CHECK(exec_errno(tool) == 0);
    REQUIRE(wait_for_decision(log, tool));
    auto report = tg({"report", "--since", "1h"});
    CHECK(report.exit_code == 0);
    CHECK_MESSAGE(report.out.find("\n" + tool) != std::string::npos, report.out);  // flagged: it runs from /tmp

    // 2. Enforce is refused because of it.
    auto refused = tg({"mode", "enforce"});
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.find("  " + tool + "\n") != std::string::npos);
    auto status = control::control_request(socket, {{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["mode"] == "audit");

    // 3. Approve it (the tmpfs sits under the world-writable /tmp: --force).
    auto approved = tg({"approve", "--force", "--ticket", "OPS-7", tool});
    REQUIRE_MESSAGE(approved.exit_code == 0, approved.err);
    CHECK(approved.out.find("approved ") != std::string::npos);
    CHECK_MESSAGE(approved.out.find("signed by") != std::string::npos, approved.out);
    CHECK_MESSAGE(approved.out.find("daemon reloaded") != std::string::npos, approved.out);
    status = control::control_request(socket, {{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["database"]["generation"] == 2);

    // 4. Now enforce succeeds, on the daemon and in the config.
    auto enforced = tg({"mode", "enforce"});
    REQUIRE_MESSAGE(enforced.exit_code == 0, enforced.out << enforced.err);
    CHECK(enforced.out.find("tollgated switched") != std::string::npos);
    status = control::control_request(socket, {{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["mode"] == "enforce");
    CHECK(testing::read_text(config).find("# e2e config\nmode: enforce\n") == 0);

    // 5. The approved binary keeps running; a new unapproved one is denied.
    CHECK(exec_errno(tool) == 0);
    CHECK(exec_errno(fresh) == EPERM);
    REQUIRE(wait_for_decision(log, fresh));
    auto denied = tg({"log", "--denied-only", "--since", "1h"});
    CHECK(denied.out.find("DENY       exec " + fresh) != std::string::npos);
    auto mode_events = tg({"log", "--since", "1h"});
    CHECK(mode_events.out.find("mode       audit -> enforce by ") != std::string::npos);
    // The daemon logs the peer's uid (SO_PEERCRED) beside the claimed name.
    auto mode_json = tg({"log", "--since", "1h", "--type", "mode", "--json"});
    auto first_mode = nlohmann::json::parse(mode_json.out.substr(0, mode_json.out.find('\n')));
    CHECK(first_mode["by_uid"] == 0);
    CHECK(first_mode["by"].is_string());

    // 6. The apt hook around a dpkg run: --pre (old hook files) leaves the
    //    mode alone (enforce: the unapproved binary stays denied), refresh
    //    recompiles (generation 3) and reloads, still enforcing.
    auto pre = tg({"refresh", "--pre"});
    REQUIRE_MESSAGE(pre.exit_code == 0, pre.err);
    status = control::control_request(socket, {{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["mode"] == "enforce");
    CHECK(exec_errno(fresh) == EPERM);
    auto post = tg({"refresh"});
    REQUIRE_MESSAGE(post.exit_code == 0, post.err);
    CHECK(post.out.find("upgrade window") == std::string::npos);
    status = control::control_request(socket, {{"cmd", "status"}});
    REQUIRE(status);
    CHECK((*status)["mode"] == "enforce");
    CHECK((*status)["database"]["generation"] == 3);
    CHECK(exec_errno(fresh) == EPERM);
    CHECK(exec_errno(tool) == 0);
    daemon.stop();
  }
}
