#include "eventlog/builders.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "eventlog/reader.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::eventlog;
using nlohmann::json;

TEST_SUITE("eventlog.builders") {
  TEST_CASE("a decision event carries every documented field") {
    DecisionRecord r;
    r.ts = std::chrono::system_clock::time_point{std::chrono::microseconds(1'796'096'675'123'456LL)};
    r.mode = policy::Mode::kAudit;
    r.decision.verdict = policy::Verdict::kAllow;
    r.decision.would_deny = true;
    r.decision.rule = "default-deny";
    r.decision.reason = "no rule approves it";
    r.decision.source = {"base.yaml", 12};
    r.path = "/tmp/.x/xmrig";
    r.sha256 = std::string(64, 'a');
    r.size = 8400312;
    r.process = {4242, 4100, 33, "/usr/bin/bash", "bash"};
    r.latency_us = 812;
    json j = decision_event("web1", r);
    CHECK(j == json::parse(R"({"ts":"2026-12-01T03:44:35.123456Z","host":"web1","type":"decision","mode":"audit",
      "decision":"allow","would_deny":true,"rule":"default-deny","reason":"no rule approves it",
      "source":"base.yaml:12","path":"/tmp/.x/xmrig","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "size":8400312,"event":"exec","pid":4242,"ppid":4100,"uid":33,"exe":"/usr/bin/bash","comm":"bash","latency_us":812})"));
  }

  TEST_CASE("start, reload, mode, overflow and read_error events have their documented fields") {
    struct Case {
      json event;
      const char* type;
      std::vector<std::string> fields;
    };
    const Case cases[] = {
        {start_event("h", policy::Mode::kEnforce, "/p.db", 3, "0.1.0"),
         "start",
         {"mode", "database", "generation", "version"}},
        {reload_event("h", false, "/p.db", 3, "bad"), "reload", {"ok", "database", "generation", "error"}},
        {mode_event("h", policy::Mode::kAudit, policy::Mode::kEnforce, "alice", false, 1000),
         "mode",
         {"from", "to", "by", "by_uid", "forced"}},
        {overflow_event("h", 5), "overflow", {"count"}},
        {read_error_event("h", "Too many open files", 2), "read_error", {"error", "count"}},
    };
    for (const auto& c : cases) {
      CAPTURE(c.type);
      CHECK(c.event["type"] == c.type);
      CHECK(c.event["host"] == "h");
      CHECK(c.event["ts"].get<std::string>().size() == 27);
      for (const auto& f : c.fields) CHECK_MESSAGE(c.event.contains(f), f);
    }
    json m = mode_event("h", policy::Mode::kAudit, policy::Mode::kEnforce, "alice", true, 1000);
    CHECK(m["by"] == "alice");
    CHECK(m["by_uid"] == 1000);
    CHECK(m["from"] == "audit");
    CHECK(m["to"] == "enforce");
    CHECK(m["forced"] == true);
  }

  TEST_CASE("syslog summaries are one line") {
    json e = {{"type", "decision"}, {"decision", "deny"}, {"would_deny", false},
              {"event", "exec"},    {"path", "/tmp/x"},   {"pid", 42},
              {"comm", "bash"},     {"uid", 1000},        {"rule", "default-deny"}};
    CHECK(syslog_summary(e) == "deny exec /tmp/x by pid 42 (bash, uid 1000): default-deny");
    e["repeated"] = 17;  // a coalesced summary line (eventlog/coalescer.h)
    CHECK(syslog_summary(e) ==
          "deny exec /tmp/x by pid 42 (bash, uid 1000): default-deny (repeated 17 more times within the window)");
  }

  TEST_CASE("syslog summaries escape controls and bidi characters from paths and claimed names") {
    json d = {{"type", "decision"}, {"decision", "deny"}, {"event", "exec"}, {"path", "/tmp/\xe2\x80\xaegnp.x\n"},
              {"pid", 42},          {"comm", "sh"},       {"uid", 0},        {"rule", "default-deny"}};
    CHECK(syslog_summary(d) == "deny exec /tmp/\\u202egnp.x\\x0a by pid 42 (sh, uid 0): default-deny");
    json m = mode_event("h", policy::Mode::kEnforce, policy::Mode::kAudit, "ali\x1b[2Jce", false, 1000);
    CHECK(syslog_summary(m) == "mode enforce -> audit by ali\\x1b[2Jce (uid 1000)");
  }

  TEST_CASE("pending_trust events and a timed audit window's until: fields, summaries, read back by type") {
    json add = pending_trust_event("h", {.action = "add",
                                         .reason = "request",
                                         .by = "apt-hook",
                                         .by_uid = 0,
                                         .files = 3,
                                         .total = 5,
                                         .packages = {"bash=5.2-1", "coreutils=9.1-1"},
                                         .expires = "2026-12-01T04:00:00Z"});
    CHECK(add["type"] == "pending_trust");
    for (const char* f : {"action", "reason", "by", "by_uid", "files", "total", "packages", "expires"})
      CHECK_MESSAGE(add.contains(f), f);
    CHECK(syslog_summary(add) ==
          "pending trust add (request) by apt-hook (uid 0): 3 files of bash=5.2-1, "
          "coreutils=9.1-1; 5 pending until 2026-12-01T04:00:00Z");
    auto read = parse_event(add.dump());
    REQUIRE(read);
    CHECK(read->type == EventType::kPendingTrust);
    CHECK(read->by == "apt-hook");
    json timed =
        mode_event("h", policy::Mode::kEnforce, policy::Mode::kAudit, "alice", false, 0, "2026-12-01T03:10:00Z");
    CHECK(timed["until"] == "2026-12-01T03:10:00Z");
    CHECK(syslog_summary(timed) == "mode enforce -> audit by alice (uid 0) until 2026-12-01T03:10:00Z");
    CHECK_FALSE(mode_event("h", policy::Mode::kAudit, policy::Mode::kEnforce, "a", false, 0).contains("until"));
  }

  TEST_CASE("install and rollback events carry who asked and the generations") {
    PolicyChange c{.type = EventType::kRollback,
                   .ok = true,
                   .database = "/p.db",
                   .file = "/b/gen6.db",
                   .by = "alice",
                   .by_uid = 0,
                   .from_generation = 9,
                   .to_generation = 6};
    json j = policy_change_event("h", c);
    CHECK(j["type"] == "rollback");
    for (const char* f : {"ok", "database", "file", "from_generation", "to_generation", "by", "by_uid", "error"})
      CHECK_MESSAGE(j.contains(f), f);
    CHECK_FALSE(j.contains("degraded"));
    CHECK(j["to_generation"] == 6);
    c.type = EventType::kInstall;
    c.degraded = "why";
    j = policy_change_event("h", c);
    CHECK(j["type"] == "install");
    CHECK(j["degraded"] == "why");
    CHECK(syslog_summary(j) == "install by alice (uid 0): /p.db generation 9 -> 6");
  }

  TEST_CASE("a scan event carries its hits, the scan's bounds and the assessment; the reader reads it back") {
    ScanRecord r{.sha256 = std::string(64, 'c'), .path = "/tmp/.x/m", .size = 40};
    r.scan.hits = {{miner::Signal::kStratumUrl, "stratum+tcp://", 10}};
    r.scan.bytes_scanned = 40;
    json j = scan_event("web1", r);
    CHECK(j["type"] == "scan");
    CHECK(j["host"] == "web1");
    CHECK(j["ts"].get<std::string>().size() == 27);
    CHECK(j["sha256"] == r.sha256);
    CHECK(j["path"] == "/tmp/.x/m");
    CHECK(j["size"] == 40);
    CHECK(j["scanned_bytes"] == 40);
    CHECK(j["end"] == "complete");
    CHECK(j["hits"] == json::parse(R"([{"signal":"stratum-url","marker":"stratum+tcp://","offset":10}])"));
    CHECK(j["miner"]["suspect"] == true);
    CHECK(j["miner"]["score"].get<int>() >= miner::kSuspectScore);
    CHECK(j["miner"]["reasons"].size() >= 1);
    CHECK(syslog_summary(j).starts_with("scan of /tmp/.x/m (sha256 cccccccccccc): suspect miner, score "));

    auto back = parse_event(j.dump());
    REQUIRE(back);
    REQUIRE(back->scan);
    CHECK(back->scan->hits == r.scan.hits);
    CHECK(back->scan->bytes_scanned == 40);
    CHECK(back->scan->end == miner::ScanEnd::kComplete);
  }
}
