#include "eventlog/reader.h"

#include <doctest/doctest.h>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::eventlog;

TEST_SUITE("eventlog.reader") {
  TEST_CASE("a malformed line is reported with FILE:LINE and skipped, the rest is kept") {
    auto log = read_event_log(testing::source_path("tests/fixtures/events/week.jsonl"));
    REQUIRE(log);
    CHECK(log->lines == 19);
    CHECK(log->events.size() == 15);
    REQUIRE(log->problems.size() == 4);
    CHECK(log->problems[0].line == 5);
    CHECK(log->problems[0].message == "not valid JSON");
    CHECK(log->problems[1].line == 8);
    CHECK(log->problems[1].message.find("'size'") != std::string::npos);
    CHECK(log->problems[2].line == 16);
    CHECK(log->problems[2].message == "missing field 'ts'");
    CHECK(log->problems[3].line == 19);  // a partial last line, the daemon mid-write
    CHECK(log->problems[0].where().ends_with("tests/fixtures/events/week.jsonl:5"));
    CHECK(log->events.front().type == "start");
    CHECK(log->events.front().line == 1);
  }

  TEST_CASE("events filter by time, type and denial") {
    auto log = read_event_log(testing::source_path("tests/fixtures/events/week.jsonl"));
    REQUIRE(log);
    auto count = [&](const EventFilter& f) {
      size_t n = 0;
      for (const auto& e : log->events) n += f.matches(e);
      return n;
    };
    CHECK(count({}) == 15);
    CHECK(count({.types = {"decision"}}) == 11);
    CHECK(count({.types = {"mode", "overflow"}}) == 2);
    CHECK(count({.denied_only = true}) == 10);
    CHECK(count({.since_us = *parse_rfc3339_us("2026-11-30T00:00:00Z"), .denied_only = true}) == 3);
  }

  TEST_CASE("streaming handles lines split across reads, CRLF and a last line without newline") {
    testing::TempDir dir;
    std::string line = R"({"ts":"2026-12-01T00:00:00Z","host":"h","type":"overflow","count":1})";
    std::string text;
    for (int i = 0; i < 30000; ++i) text += line + (i % 2 ? "\r\n" : "\n");  // > 1 MiB: several reads
    text += R"({"ts":"2026-12-01T00:00:01Z","type":"decision","decision":"deny","path":"/x")";  // cut mid-write
    testing::write_text(dir.file("log"), text);
    size_t events = 0;
    std::vector<ParseProblem> problems;
    auto st = scan_event_log(
        dir.file("log"), [&](Event&&) { ++events; }, [&](ParseProblem&& p) { problems.push_back(std::move(p)); });
    REQUIRE(st);
    CHECK(events == 30000);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].line == 30001);
  }

  TEST_CASE("an unreadable log is an error naming it") {
    auto log = read_event_log("/nonexistent/events.jsonl");
    REQUIRE_FALSE(log);
    CHECK(log.error().message().find("/nonexistent/events.jsonl") != std::string::npos);
  }

  TEST_CASE("typed fields: mode, verdict, access kind and mode change, on the types that carry them") {
    auto d = parse_event(R"({"ts":"2026-12-01T00:00:00Z","type":"decision","mode":"enforce","decision":"deny",)"
                         R"("path":"/x","event":"exec"})");
    REQUIRE(d);
    CHECK(d->type == EventType::kDecision);
    CHECK(d->type.name() == "decision");
    CHECK(d->mode == policy::Mode::kEnforce);
    CHECK(d->decision == policy::Verdict::kDeny);
    CHECK(d->event == AccessKind::kExec);
    CHECK(d->denied_or_would());
    auto open = parse_event(R"({"ts":"2026-12-01T00:00:00Z","type":"decision","decision":"allow","path":"/x",)"
                            R"("event":"open"})");
    REQUIRE(open);
    CHECK(open->event == AccessKind::kOpen);
    CHECK_FALSE(open->mode);
    auto m = parse_event(R"({"ts":"2026-12-01T00:00:00Z","type":"mode","from":"audit","to":"enforce","by":"a"})");
    REQUIRE(m);
    CHECK(m->from == policy::Mode::kAudit);
    CHECK(m->to == policy::Mode::kEnforce);
    CHECK_FALSE(m->decision);
    auto start = parse_event(R"({"ts":"2026-12-01T00:00:00Z","type":"start","mode":"audit"})");
    REQUIRE(start);
    CHECK(start->mode == policy::Mode::kAudit);
  }

  TEST_CASE("a value outside the schema is a malformed line; other types keep their own meanings") {
    const std::pair<const char*, const char*> bad[] = {
        {R"({"ts":"2026-12-01T00:00:00Z","type":"decision","decision":"maybe","path":"/x"})",
         "decision event needs 'decision' allow or deny"},
        {R"({"ts":"2026-12-01T00:00:00Z","type":"decision","decision":"deny","path":"/x","mode":"learn"})",
         "field 'mode' must be audit or enforce, got 'learn'"},
        {R"({"ts":"2026-12-01T00:00:00Z","type":"decision","decision":"deny","path":"/x","event":"mmap"})",
         "field 'event' must be exec or open, got 'mmap'"},
        {R"({"ts":"2026-12-01T00:00:00Z","type":"mode","from":"audit","to":"off"})",
         "field 'to' must be audit or enforce, got 'off'"},
        {R"({"ts":"2026-12-01T00:00:00Z","type":"start","mode":7})", "field 'mode' must be a string"},
        {R"({"ts":"2026-12-01T00:00:00Z","type":"decision","decision":"deny","path":"/x","repeated":0})",
         "field 'repeated' must be at least 1"},
        {R"({"ts":"2026-12-01T00:00:00Z","type":"decision","decision":"deny","path":"/x","repeated":"5"})",
         "field 'repeated' must be an integer"},
    };
    for (const auto& [line, message] : bad) {
      CAPTURE(line);
      auto e = parse_event(line);
      REQUIRE_FALSE(e);
      CHECK(e.error().message() == message);
    }
    // A type this version does not know is kept by name, whatever its fields mean.
    auto future = parse_event(R"({"ts":"2026-12-01T00:00:00Z","type":"census","mode":"learn","event":"sweep"})");
    REQUIRE(future);
    CHECK_FALSE(future->type.known());
    CHECK(future->type == "census");
    CHECK_FALSE(future->mode);
    CHECK(EventFilter{.types = {"census"}}.matches(*future));
    CHECK_FALSE(EventFilter{.types = {"decision"}}.matches(*future));
  }

  TEST_CASE("every event type and access kind round-trips through its name") {
    for (auto t : {EventType::kDecision, EventType::kStart, EventType::kReload, EventType::kMode, EventType::kInstall,
                   EventType::kRollback, EventType::kOverflow, EventType::kReadError, EventType::kScan}) {
      CAPTURE(to_string(t));
      CHECK(parse_event_type(to_string(t)) == t);
      CHECK(TypeField(to_string(t)) == t);
    }
    for (auto k : {AccessKind::kExec, AccessKind::kOpen}) CHECK(parse_access_kind(to_string(k)) == k);
    CHECK_FALSE(parse_event_type("Decision"));
    CHECK_FALSE(parse_access_kind(""));
  }

  TEST_CASE("a scan event's hits, bytes and end are read as typed values; unknown signals are skipped") {
    const std::string sha(64, 'b');
    auto e = parse_event(R"({"ts":"2026-12-01T03:44:35.523456Z","host":"web1","type":"scan","sha256":")" + sha +
                         R"(","path":"/tmp/.x/m","size":9,"scanned_bytes":9,"end":"size-cap","hits":[)"
                         R"({"signal":"stratum-url","marker":"stratum+tcp://","offset":3},)"
                         R"({"signal":"from-a-newer-daemon","marker":"x","offset":1},"not an object"],)"
                         R"("miner":{"suspect":true,"score":60,"reasons":[]}})");
    REQUIRE(e);
    CHECK(e->type == EventType::kScan);
    CHECK(e->sha256 == sha);
    CHECK(e->path == "/tmp/.x/m");
    REQUIRE(e->scan);
    CHECK(e->scan->bytes_scanned == 9);
    CHECK(e->scan->end == miner::ScanEnd::kSizeCap);
    REQUIRE(e->scan->hits.size() == 1);
    CHECK(e->scan->hits[0] == miner::MarkerHit{miner::Signal::kStratumUrl, "stratum+tcp://", 3});

    // No sha256 to key it by: the line is kept (tollgate log shows it), without a scan.
    auto unkeyed = parse_event(R"({"ts":"2026-12-01T03:44:35Z","type":"scan","sha256":"ABC","hits":[]})");
    REQUIRE(unkeyed);
    CHECK_FALSE(unkeyed->scan);
    // Only scan events carry one.
    auto decision = parse_event(R"({"ts":"2026-12-01T03:44:35Z","type":"decision","decision":"deny","path":"/x",)"
                                R"("sha256":")" +
                                sha + R"(","hits":[]})");
    REQUIRE(decision);
    CHECK_FALSE(decision->scan);
  }

  TEST_CASE("a repeated line stands for N decisions; a line without it for one") {
    auto once = parse_event(R"({"ts":"2026-12-01T00:00:00Z","type":"decision","decision":"deny","path":"/x"})");
    REQUIRE(once);
    CHECK(once->repeated == 0);
    CHECK(once->count() == 1);
    auto many =
        parse_event(R"({"ts":"2026-12-01T00:00:01Z","type":"decision","decision":"deny","path":"/x","repeated":41})");
    REQUIRE(many);
    CHECK(many->repeated == 41);
    CHECK(many->count() == 41);
  }
}
