#include <doctest/doctest.h>

#include "eventlog/report.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::eventlog;

namespace {
std::string fake_user(int64_t uid) {
  switch (uid) {
    case 0: return "root";
    case 33: return "www-data";
    case 1000: return "alice";
    default: return "";
  }
}
const char* kTool1 = "dc0d766981c85d12f41dec89bf8cddb4a1629265e25265ec02189226b1deebdd";
const char* kTool2 = "bde325dcd55de3033b7add427a1e81af9174dd3cbdd57eac47bc55a441b18983";
const char* kMiner = "77862efd76591a786f99d400c0f97633e2bfb2bbd18b09dd6bf33ebe49f40f07";
}  // namespace

TEST_SUITE("eventlog.report") {
  TEST_CASE("the fixture week aggregates to distinct binaries, most frequent first") {
    auto log = read_event_log(testing::source_path("tests/fixtures/events/week.jsonl"));
    REQUIRE(log);
    auto r = build_report(log->events, {.user_name = fake_user});
    CHECK(r.decisions == 10);
    REQUIRE(r.binaries.size() == 4);

    const auto& tool = r.binaries[0];
    CHECK(tool.path == "/opt/app/bin/tool");
    CHECK(tool.sha256 == kTool1);
    CHECK(tool.count == 4);
    CHECK(tool.would_deny == 4);
    CHECK(tool.denied == 0);
    CHECK(tool.first_seen == "2026-11-24T09:00:00.000000Z");
    CHECK(tool.last_seen == "2026-11-28T10:00:00.000000Z");
    REQUIRE(tool.launchers.size() == 2);
    CHECK(tool.launchers[0].exe == "/usr/bin/bash");
    CHECK(tool.launchers[0].count == 3);
    CHECK(tool.launchers[1].exe == "/usr/sbin/cron");
    REQUIRE(tool.users.size() == 2);
    CHECK(tool.users[0].name == "alice");
    CHECK(tool.users[0].count == 3);
    CHECK(tool.users[1].uid == 0);
    CHECK_FALSE(tool.miner.suspect);

    const auto& miner = r.binaries[1];
    CHECK(miner.path == "/tmp/.x/xmrig");
    CHECK(miner.sha256 == kMiner);
    CHECK(miner.count == 3);
    CHECK(miner.denied == 1);
    CHECK(miner.would_deny == 2);
    CHECK(miner.size == 8400312);
    CHECK(miner.miner.suspect);

    CHECK(r.binaries[2].path == "/usr/local/bin/backup");
    CHECK(r.binaries[2].denied == 2);
    // A new version of the same path is a separate row.
    CHECK(r.binaries[3].path == "/opt/app/bin/tool");
    CHECK(r.binaries[3].sha256 == kTool2);
  }

  TEST_CASE("the since cut-off drops older events") {
    auto log = read_event_log(testing::source_path("tests/fixtures/events/week.jsonl"));
    REQUIRE(log);
    auto r = build_report(log->events, {.since_us = *parse_rfc3339_us("2026-11-29T00:00:00Z")});
    REQUIRE(r.binaries.size() == 3);
    CHECK(r.binaries[0].path == "/usr/local/bin/backup");
    CHECK(r.decisions == 4);
    CHECK(r.binaries[0].users[0].name.empty());  // no resolver given
  }

  TEST_CASE("each miner heuristic fires on its own and only then") {
    struct Case {
      const char* path;
      const char* user;
      const char* launcher;
      const char* reason;  // nullptr = not a suspect
    };
    const Case cases[] = {
        {"/usr/local/bin/xmrig-6.21", "root", "/usr/bin/bash", "name matches known miner 'xmrig'"},
        {"/opt/KINSING", "root", "/usr/bin/bash", "name matches known miner 'kinsing'"},
        {"/opt/t-rex", "root", "/usr/bin/bash", "name matches known miner 't-rex'"},
        {"/tmp/update", "root", "/usr/bin/bash", "runs from /tmp"},
        {"/var/tmp/update", "root", "/usr/bin/bash", "runs from /var/tmp"},
        {"/dev/shm/update", "root", "/usr/bin/bash", "runs from /dev/shm"},
        {"/home/bob/.cache/update", "bob", "/usr/bin/bash", "runs from a hidden directory"},
        {"/usr/local/bin/.update", "root", "/usr/bin/bash", "hidden file name"},
        {"/usr/local/bin/update (deleted)", "root", "/usr/bin/bash", "runs from a deleted file"},
        {"/usr/local/bin/update", "www-data", "/usr/bin/bash", "launched as web-server user www-data"},
        {"/usr/local/bin/update", "root", "/usr/sbin/nginx", "launched by web-server process /usr/sbin/nginx"},
        {"/usr/local/bin/update", "root", "/usr/sbin/php-fpm8.2", "launched by web-server process /usr/sbin/php-fpm8.2"},
        {"/usr/local/bin/update", "root", "/usr/bin/curl", "launched by downloader /usr/bin/curl"},
        {"/usr/local/bin/update", "root", "/usr/bin/wget", "launched by downloader /usr/bin/wget"},
        {"/usr/local/bin/update", "root", "/usr/bin/bash", nullptr},
        {"/usr/local/bin/phpinfo", "root", "/usr/bin/phpunit", nullptr},
        {"/opt/app/./bin/tool", "root", "/usr/bin/bash", nullptr},
        {"/tmpfiles/tool", "root", "/usr/bin/bash", nullptr},
    };
    for (const auto& c : cases) {
      CAPTURE(c.path);
      CAPTURE(c.launcher);
      BinaryReport b{.path = c.path};
      b.users.push_back({.uid = 1, .name = c.user, .count = 1});
      b.launchers.push_back({.exe = c.launcher, .count = 1});
      auto m = assess_miner(b);
      if (!c.reason) {
        CHECK_FALSE(m.suspect);
        CHECK(m.reasons.empty());
      } else {
        CHECK(m.suspect);
        REQUIRE(m.reasons.size() == 1);
        CHECK(m.reasons[0] == c.reason);
      }
    }
  }
}
