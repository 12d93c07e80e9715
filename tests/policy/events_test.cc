#include <doctest/doctest.h>

#include "policy/events.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

TEST_SUITE("policy.events") {
  TEST_CASE("RFC 3339 times parse with fractions and offsets and round-trip") {
    struct Case {
      const char* text;
      std::optional<TimeUs> want;
    };
    const Case cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:01.5Z", 1500000},
        {"2026-12-01T03:44:35.123456Z", 1796096675123456},
        {"2026-12-01T04:44:35.123456+01:00", 1796096675123456},
        {"2026-12-01T02:44:35.123456-01:00", 1796096675123456},
        {"2026-02-30T00:00:00Z", std::nullopt},
        {"2026-12-01 03:44:35", std::nullopt},
        {"2026-12-01T03:44:35Zjunk", std::nullopt},
        {"yesterday", std::nullopt},
        {"", std::nullopt},
    };
    for (const auto& c : cases) {
      CAPTURE(c.text);
      CHECK(parse_event_time(c.text) == c.want);
    }
    CHECK(format_rfc3339_us(1796096675123456) == "2026-12-01T03:44:35.123456Z");
    CHECK(format_rfc3339(1796096675123456) == "2026-12-01T03:44:35Z");
  }

  TEST_CASE("durations accept s, m, h, d, w and reject anything else with the text") {
    CHECK(parse_duration("90")->count() == 90);
    CHECK(parse_duration("30m")->count() == 1800);
    CHECK(parse_duration("24h")->count() == 86400);
    CHECK(parse_duration("7d")->count() == 7 * 86400);
    CHECK(parse_duration("2w")->count() == 14 * 86400);
    for (const char* bad : {"", "h", "-1h", "3y", "1.5h", "99999999999999999999d"}) {
      CAPTURE(bad);
      auto d = parse_duration(bad);
      REQUIRE_FALSE(d);
      CHECK(d.error().message().find("invalid duration") != std::string::npos);
    }
  }

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
    CHECK(count({.since_us = *parse_event_time("2026-11-30T00:00:00Z"), .denied_only = true}) == 3);
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
