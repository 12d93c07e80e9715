#include "eventlog/report.h"

#include <doctest/doctest.h>

#include "miner/content_scan.h"
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
    // A miner's name, /tmp, a hidden directory, www-data and php-fpm are
    // context, not evidence: without a content scan or a blocklist hit it is
    // listed, not flagged, and carries no reasons at all.
    CHECK_FALSE(miner.miner.suspect);
    CHECK(miner.miner.score == 0);
    CHECK(miner.miner.reasons.empty());
    CHECK(miner.scan == ScanSource::kNone);

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

  TEST_CASE("context alone never flags; with evidence it raises the score and is listed") {
    struct Case {
      const char* path;
      const char* user;
      const char* launcher;
      const char* reason;  // the context reason expected next to evidence; nullptr = none
    };
    const Case cases[] = {
        {"/usr/local/bin/xmrig-6.21", "root", "/usr/bin/bash", "name matches known miner 'xmrig'"},
        {"/opt/KINSING", "root", "/usr/bin/bash", "name matches known miner 'kinsing'"},
        {"/tmp/update", "root", "/usr/bin/bash", "runs from /tmp"},
        {"/var/tmp/update", "root", "/usr/bin/bash", "runs from /var/tmp"},
        {"/dev/shm/update", "root", "/usr/bin/bash", "runs from /dev/shm"},
        {"/home/bob/.cache/update", "bob", "/usr/bin/bash", "runs from a hidden directory"},
        {"/usr/local/bin/.update", "root", "/usr/bin/bash", "hidden file name"},
        {"/usr/local/bin/update (deleted)", "root", "/usr/bin/bash", "runs from a deleted file"},
        {"/usr/local/bin/kworker", "root", "/usr/bin/bash", "file named like a kernel thread ('kworker')"},
        {"/usr/local/bin/update", "www-data", "/usr/bin/bash", "launched as web-server user www-data"},
        {"/usr/local/bin/update", "root", "/usr/sbin/php-fpm8.2",
         "launched by web-server process /usr/sbin/php-fpm8.2"},
        {"/usr/local/bin/update", "root", "/usr/bin/wget", "launched by downloader /usr/bin/wget"},
        {"/usr/local/bin/update", "root", "/usr/bin/bash", nullptr},
        {"/usr/local/bin/phpinfo", "root", "/usr/bin/phpunit", nullptr},
        {"/tmpfiles/tool", "root", "/usr/bin/bash", nullptr},
    };
    for (const auto& c : cases) {
      CAPTURE(c.path);
      CAPTURE(c.launcher);
      BinaryReport b{.path = c.path, .sha256 = std::string(64, 'a')};
      b.users.push_back({.uid = 1, .name = c.user, .count = 1});
      b.launchers.push_back({.exe = c.launcher, .count = 1});
      auto alone = assess_miner(b);
      CHECK_FALSE(alone.suspect);
      CHECK(alone.score == 0);
      CHECK(alone.reasons.empty());
      // A weak piece of evidence (an algorithm name, 30) plus the context.
      attach_scan(b, miner::scan_bytes("uses cryptonight"), ScanSource::kReport);
      REQUIRE(b.miner.has_evidence());
      CHECK(b.miner.reasons.front().text == "contains 'cryptonight' at byte 5");
      if (!c.reason) {
        CHECK(b.miner.reasons.size() == 1);
        CHECK(b.miner.score == 30);
        CHECK_FALSE(b.miner.suspect);
      } else {
        REQUIRE(b.miner.reasons.size() == 2);
        CHECK(b.miner.reasons[1].text == c.reason);
        CHECK(b.miner.score > 30);
      }
    }
  }

  TEST_CASE("scan events flag on evidence, whatever their age; suspects sort first with every reason") {
    auto log = read_event_log(testing::source_path("tests/fixtures/events/miner.jsonl"));
    REQUIRE(log);
    CHECK(log->problems.empty());
    // The scan of the miner was logged days before the window starts: it still counts.
    auto r = build_report(log->events, {.since_us = *parse_rfc3339_us("2026-12-01T00:00:00Z"), .user_name = fake_user});
    REQUIRE(r.binaries.size() == 4);
    const auto& miner = r.binaries[0];
    CHECK(miner.path == "/srv/www/.cache/kworker");
    CHECK(miner.count == 1);  // fewer runs than the others, but a suspect: first
    CHECK(miner.scan == ScanSource::kDaemon);
    CHECK(miner.miner.suspect);
    std::vector<std::string> texts;
    for (const auto& reason : miner.miner.reasons) texts.push_back(reason.text);
    CHECK(texts == std::vector<std::string>{"contains 'stratum+tcp://' at byte 1200",
                                            "contains 'donate-level' at byte 1300",
                                            "file named like a kernel thread ('kworker')",
                                            "runs from a hidden directory", "launched as web-server user www-data"});
    CHECK(miner.miner.score == 60 + 30 + 15 + 10 + 10);
    CHECK(miner.miner.strongest() == "contains 'stratum+tcp://' at byte 1200");

    const auto& blocked = r.binaries[1];
    CHECK(blocked.path == "/usr/local/bin/helper");
    CHECK(blocked.miner.suspect);
    CHECK(blocked.miner.score == 100);
    REQUIRE(blocked.miner.reasons.size() == 1);
    CHECK(blocked.miner.reasons[0].signal == miner::Signal::kKnownBad);
    CHECK(blocked.miner.reasons[0].text ==
          "known bad: its SHA-256 is on the deny list as feed.txt:3 coinminer (/etc/tollgate/blocklists/feed.yaml:9)");

    // Scanned, nothing found: listed after the suspects, most frequent first.
    CHECK(r.binaries[2].path == "/opt/app/bin/tool");
    CHECK(r.binaries[2].scan == ScanSource::kDaemon);
    CHECK_FALSE(r.binaries[2].miner.suspect);
    CHECK(r.binaries[2].miner.reasons.empty());
    CHECK(r.binaries[3].path == "/var/tmp/id");
    CHECK(r.binaries[3].scan == ScanSource::kNone);
    CHECK_FALSE(r.binaries[3].miner.suspect);
  }

  TEST_CASE("a coalesced storm counts every decision: the first line plus its repeated count") {
    const std::string first =
        R"({"ts":"2026-12-01T00:00:00.000000Z","type":"decision","mode":"audit","decision":"allow","would_deny":true,)"
        R"("rule":"default-deny","path":"/tmp/x","sha256":"aa","exe":"/usr/bin/bash","uid":1000})";
    std::string summary = first;
    summary.replace(summary.find("00:00:00"), 8, "00:00:01");
    summary.insert(summary.size() - 1, R"(,"repeated":199)");
    std::vector<Event> events;
    for (const auto& line : {first, summary}) {
      auto e = parse_event(line);
      REQUIRE(e);
      events.push_back(*e);
    }
    auto r = build_report(events, {.user_name = fake_user});
    CHECK(r.decisions == 200);
    REQUIRE(r.binaries.size() == 1);
    const auto& b = r.binaries[0];
    CHECK(b.count == 200);
    CHECK(b.would_deny == 200);
    CHECK(b.denied == 0);
    CHECK(b.last_seen == "2026-12-01T00:00:01.000000Z");
    REQUIRE(b.launchers.size() == 1);
    CHECK(b.launchers[0].count == 200);
    REQUIRE(b.users.size() == 1);
    CHECK(b.users[0].count == 200);
  }
}
