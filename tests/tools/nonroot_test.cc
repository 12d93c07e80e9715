// State-changing subcommands refuse callers that are neither root nor in
// admin_group, and change nothing. Runs the built CLI as `nobody` (needs
// root to switch user: LABELS root).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using testing::run;

TEST_SUITE("tools.nonroot") {
  TEST_CASE("a non-root user not in admin_group is refused by approve, revoke and mode, and nothing changes") {
    testing::TempDir dir;
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);  // nobody must read the config
    std::string config = dir.file("tollgate.yaml");
    std::string approvals = dir.file("approvals.yaml");
    testing::write_text(dir.file("policy.yaml"),
                        "version: 1\nname: t\ninclude:\n  - {path: approvals.yaml, optional: true}\n");
    const std::string config_text = "mode: audit\ndatabase: " + dir.file("policy.db") +
                                    "\nevent_log: " + dir.file("events.jsonl") + "\nsocket: " + dir.file("sock") +
                                    "\nmanifest: " + dir.file("policy.yaml") + "\napprovals: " + approvals +
                                    "\nadmin_group: root\nmust_allow: []\n";
    testing::write_text(config, config_text);
    const std::string approvals_text =
        "version: 1\nname: approvals\nallow:\n  - sha256: " + std::string(64, 'a') + "\n    label: x\n";
    testing::write_text(approvals, approvals_text);

    const std::vector<std::vector<std::string>> commands = {
        {"approve", "/usr/bin/true"},
        {"approve", "--sha256", std::string(64, 'b'), "--label", "y"},
        {"revoke", std::string(64, 'a')},
        {"mode", "enforce", "--force"},
        {"mode", "audit"},
    };
    for (auto args : commands) {
      CAPTURE(args[0]);
      std::vector<std::string> argv = {"setpriv",
                                       "--reuid=nobody",
                                       "--regid=nogroup",
                                       "--clear-groups",
                                       testing::built_binary("tollgate"),
                                       args[0],
                                       "--config",
                                       config};
      argv.insert(argv.end(), args.begin() + 1, args.end());
      auto r = run(argv);
      CHECK(r.exit_code == 6);
      CHECK_MESSAGE(r.err.find("needs root or group root") != std::string::npos, r.err);
    }
    CHECK(testing::read_text(config) == config_text);
    CHECK(testing::read_text(approvals) == approvals_text);
    struct stat st {};
    CHECK(::stat(dir.file("policy.db").c_str(), &st) != 0);
    CHECK(::stat(dir.file("events.jsonl").c_str(), &st) != 0);
    CHECK(::stat((approvals + ".lock").c_str(), &st) != 0);

    // The rest of what main.cc enforces from the command table: root only,
    // and admin only with a flag.
    const std::pair<std::vector<std::string>, std::string> more[] = {
        {{"db", "rollback", "--to", dir.file("policy.db"), "--config", config},
         "'db rollback' needs root (it lowers the rollback floor); run it with sudo"},
        {{"compile", "--install", "--config", config}, "'compile --install' needs root or group root"},
        {{"refresh", "--config", config}, "'refresh' needs root or group root"},
        {{"approve", "--from-report", "--interactive", "--config", config}, "'approve' needs root or group root"},
        {{"sweep", "--config", config}, "'sweep' needs root"},
        {{"doctor", "--fix", "--config", config},
         "'doctor --fix' needs root (it writes /etc/sysctl.d and /proc/sys); run it with sudo"},
    };
    for (const auto& [args, message] : more) {
      CAPTURE(args[0]);
      std::vector<std::string> argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                                       testing::built_binary("tollgate")};
      argv.insert(argv.end(), args.begin(), args.end());
      auto r = run(argv);
      CHECK(r.exit_code == 6);
      CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
    }
    CHECK(::stat(dir.file("policy.db").c_str(), &st) != 0);
    CHECK(::stat((approvals + ".lock").c_str(), &st) != 0);

    testing::write_text(dir.file("empty.jsonl"), "");
    // Reading stays open to everyone who can read the files.
    auto report =
        run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", testing::built_binary("tollgate"),
             "approve", "--from-report", "--config", config, "--log", dir.file("empty.jsonl")});
    CHECK(report.exit_code == 0);
    // And so does looking for holes: doctor without --fix.
    auto doctor = run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                       testing::built_binary("tollgate"), "doctor", "--config", config});
    CHECK(doctor.exit_code != 6);
    CHECK_MESSAGE(doctor.out.starts_with("tollgate doctor: "), doctor.err);
  }
}
