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
#include <sys/stat.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "policy/compiler.h"
#include "tests/support/enforcer_fixture.h"

using namespace tollgate;
using nlohmann::json;
using testing::exec_errno;

TEST_SUITE("tools.e2e") {
  TEST_CASE(
      "audit, report, refused enforce, approve, enforce: the approved binary keeps running, a new one is denied") {
    testing::EnforcerFixture f("32m");
    const std::string tool = f.mnt + "/report-tool", fresh = f.mnt + "/fresh-download";
    std::filesystem::copy_file("/bin/true", tool);
    std::filesystem::copy_file("/bin/false", fresh);
    ::chmod(tool.c_str(), 0755);
    ::chmod(fresh.c_str(), 0755);

    REQUIRE(testing::run({testing::built_binary("tollgate"), "keygen", "--out", f.dir.file("signing")}).exit_code == 0);
    // Baseline: only the daemon itself (anti-lockout needs it) is approved.
    testing::write_text(f.dir.file("policy.yaml"),
                        "version: 1\nname: e2e\ninclude:\n  - {path: approvals.yaml, optional: true}\nallow:\n"
                        "  - file: " +
                            testing::built_binary("tollgated") + "\n    label: tollgated\n");
    f.write_config("audit", "public_key: " + f.dir.file("signing.pub") + "\nmanifest: " + f.dir.file("policy.yaml") +
                                "\napprovals: " + f.dir.file("approvals.yaml") +
                                "\nsigning_key: " + f.dir.file("signing.key") + "\n");
    // A comment first: `mode enforce` must keep it when it rewrites the mode.
    testing::write_text(f.config, "# e2e config\n" + testing::read_text(f.config));
    auto baseline = policy::compile_policy({.manifest_path = f.dir.file("policy.yaml"),
                                            .output_path = f.db,
                                            .signing_key_path = f.dir.file("signing.key")});
    REQUIRE_MESSAGE(baseline, baseline.error().message());
    f.start_daemon();

    // 1. Audit: the unapproved binary runs and is logged as a would-deny.
    CHECK(exec_errno(tool) == 0);
    REQUIRE(f.wait_for_paths("decision", {tool}, 10));
    auto report = f.cli({"report", "--since", "1h"});
    CHECK(report.exit_code == 0);
    CHECK_MESSAGE(report.out.find("\n" + tool) != std::string::npos, report.out);  // flagged: it runs from /tmp

    // 2. Enforce is refused because of it.
    auto refused = f.cli({"mode", "enforce"});
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.find("  " + tool + "\n") != std::string::npos);
    json status = f.status();
    CHECK(status["mode"] == "audit");

    // 3. Approve it (the tmpfs sits under the world-writable /tmp: --force).
    auto approved = f.cli({"approve", "--force", "--ticket", "OPS-7", tool});
    REQUIRE_MESSAGE(approved.exit_code == 0, approved.err);
    CHECK(approved.out.find("approved ") != std::string::npos);
    CHECK_MESSAGE(approved.out.find("signed by") != std::string::npos, approved.out);
    CHECK_MESSAGE(approved.out.find("daemon reloaded") != std::string::npos, approved.out);
    status = f.status();
    CHECK(status["database"]["generation"] == 2);

    // 4. Now enforce succeeds, on the daemon and in the config.
    auto enforced = f.cli({"mode", "enforce"});
    REQUIRE_MESSAGE(enforced.exit_code == 0, enforced.out << enforced.err);
    CHECK(enforced.out.find("tollgated switched") != std::string::npos);
    status = f.status();
    CHECK(status["mode"] == "enforce");
    CHECK(testing::read_text(f.config).find("# e2e config\nmode: enforce\n") == 0);

    // 5. The approved binary keeps running; a new unapproved one is denied.
    CHECK(exec_errno(tool) == 0);
    CHECK(exec_errno(fresh) == EPERM);
    REQUIRE(f.wait_for_paths("decision", {fresh}, 10));
    auto denied = f.cli({"log", "--denied-only", "--since", "1h"});
    CHECK(denied.out.find("DENY       exec " + fresh) != std::string::npos);
    auto mode_events = f.cli({"log", "--since", "1h"});
    CHECK(mode_events.out.find("mode       audit -> enforce by ") != std::string::npos);
    // The daemon logs the peer's uid (SO_PEERCRED) beside the claimed name.
    auto mode_json = f.cli({"log", "--since", "1h", "--type", "mode", "--json"});
    auto first_mode = nlohmann::json::parse(mode_json.out.substr(0, mode_json.out.find('\n')));
    CHECK(first_mode["by_uid"] == 0);
    CHECK(first_mode["by"].is_string());

    // 6. The apt hook around a dpkg run: --pre (old hook files) leaves the
    //    mode alone (enforce: the unapproved binary stays denied), refresh
    //    recompiles (generation 3) and reloads, still enforcing.
    auto pre = f.cli({"refresh", "--pre"});
    REQUIRE_MESSAGE(pre.exit_code == 0, pre.err);
    status = f.status();
    CHECK(status["mode"] == "enforce");
    CHECK(exec_errno(fresh) == EPERM);
    auto post = f.cli({"refresh"});
    REQUIRE_MESSAGE(post.exit_code == 0, post.err);
    CHECK(post.out.find("upgrade window") == std::string::npos);
    status = f.status();
    CHECK(status["mode"] == "enforce");
    CHECK(status["database"]["generation"] == 3);
    CHECK(exec_errno(fresh) == EPERM);
    CHECK(exec_errno(tool) == 0);
  }
}
