#include "enforcer/events.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::enforcer;
using nlohmann::json;

TEST_SUITE("enforcer.events") {
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
        {start_event("h", policy::Mode::kEnforce, "/p.db", 3, "0.1.0"), "start", {"mode", "database", "generation", "version"}},
        {reload_event("h", false, "/p.db", 3, "bad"), "reload", {"ok", "database", "generation", "error"}},
        {mode_event("h", policy::Mode::kAudit, policy::Mode::kEnforce, "alice", false, 1000), "mode",
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

  TEST_CASE("process info is read from /proc") {
    auto info = read_process_info(::getpid());
    CHECK(info.pid == ::getpid());
    CHECK(info.ppid == ::getppid());
    CHECK(info.uid == ::getuid());
    CHECK_FALSE(info.exe.empty());
    CHECK_FALSE(info.comm.empty());
  }

  TEST_CASE("the event log appends whole JSON lines and reopens on request") {
    testing::TempDir dir;
    Metrics metrics;
    const std::string path = dir.file("events.jsonl");
    {
      EventLog log({.path = path}, metrics);
      log.start();
      for (int i = 0; i < 100; ++i) CHECK(log.submit(overflow_event("h", static_cast<uint64_t>(i))));
      log.flush();
      REQUIRE(::rename(path.c_str(), dir.file("rotated.jsonl").c_str()) == 0);
      log.reopen();
      CHECK(log.submit(overflow_event("h", 1000)));
      log.flush();
    }
    std::istringstream rotated(testing::read_text(dir.file("rotated.jsonl")));
    std::string line;
    int n = 0;
    while (std::getline(rotated, line)) CHECK(json::parse(line)["count"] == n++);
    CHECK(n == 100);
    CHECK(json::parse(testing::read_text(path))["count"] == 1000);
    CHECK(metrics.log_dropped == 0);
  }

  TEST_CASE("a full queue drops and counts instead of blocking") {
    Metrics metrics;
    EventLog log({.path = "", .queue_capacity = 2}, metrics);  // not started: nothing drains
    CHECK(log.submit(overflow_event("h", 1)));
    CHECK(log.submit(overflow_event("h", 2)));
    CHECK_FALSE(log.submit(overflow_event("h", 3)));
    CHECK(metrics.log_dropped == 1);
  }

  TEST_CASE("syslog summaries are one line") {
    json e = {{"type", "decision"}, {"decision", "deny"}, {"would_deny", false}, {"event", "exec"},
              {"path", "/tmp/x"},   {"pid", 42},          {"comm", "bash"},     {"uid", 1000},
              {"rule", "default-deny"}};
    CHECK(syslog_summary(e) == "deny exec /tmp/x by pid 42 (bash, uid 1000): default-deny");
  }

  TEST_CASE("syslog summaries escape controls and bidi characters from paths and claimed names") {
    json d = {{"type", "decision"}, {"decision", "deny"}, {"event", "exec"}, {"path", "/tmp/\xe2\x80\xaegnp.x\n"},
              {"pid", 42},          {"comm", "sh"},        {"uid", 0},        {"rule", "default-deny"}};
    CHECK(syslog_summary(d) == "deny exec /tmp/\\u202egnp.x\\x0a by pid 42 (sh, uid 0): default-deny");
    json m = mode_event("h", policy::Mode::kEnforce, policy::Mode::kAudit, "ali\x1b[2Jce", false, 1000);
    CHECK(syslog_summary(m) == "mode enforce -> audit by ali\\x1b[2Jce (uid 1000)");
  }

  TEST_CASE("the event log is written as ASCII-only JSON, the same values") {
    testing::TempDir dir;
    Metrics metrics;
    const std::string path = dir.file("events.jsonl");
    const std::string name = "/srv/caf\xc3\xa9/\xe2\x80\xae" "gnp.x\xc2\x9b";
    {
      EventLog log({.path = path}, metrics);
      log.start();
      json e = overflow_event("h", 1);
      e["path"] = name;
      CHECK(log.submit(e));
      log.flush();
    }
    std::string line = testing::read_text(path);
    for (char c : line) CHECK(static_cast<unsigned char>(c) < 0x80);
    CHECK(line.find("\\u202e") != std::string::npos);
    CHECK(json::parse(line)["path"] == name);
  }

  TEST_CASE("a symlink or FIFO at the event log path is refused, never written through or waited on") {
    testing::TempDir dir;
    Metrics metrics;
    testing::write_text(dir.file("shadow"), "root:x:0:\n");
    REQUIRE(::symlink(dir.file("shadow").c_str(), dir.file("events.jsonl").c_str()) == 0);
    REQUIRE(::mkfifo(dir.file("fifo.jsonl").c_str(), 0600) == 0);
    for (const char* name : {"events.jsonl", "fifo.jsonl"}) {
      CAPTURE(name);
      EventLog log({.path = dir.file(name)}, metrics);
      log.start();
      CHECK(log.submit(overflow_event("h", 1)));
      log.flush(std::chrono::milliseconds(5000));
      log.stop();  // returns: the writer never blocked on the FIFO
    }
    CHECK(testing::read_text(dir.file("shadow")) == "root:x:0:\n");
    struct stat st {};
    REQUIRE(::lstat(dir.file("events.jsonl").c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
  }
}
