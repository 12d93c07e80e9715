#include <doctest/doctest.h>

#include "policy/events.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

TEST_SUITE("policy.events") {
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
    auto st = scan_event_log(dir.file("log"), [&](Event&&) { ++events; },
                             [&](ParseProblem&& p) { problems.push_back(std::move(p)); });
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
}
