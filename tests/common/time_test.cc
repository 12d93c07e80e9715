#include "common/time.h"

#include <doctest/doctest.h>

#include <optional>

using namespace tollgate;

TEST_SUITE("common.time") {
  TEST_CASE("timestamps are RFC 3339 UTC with microseconds") {
    std::chrono::system_clock::time_point t{std::chrono::microseconds(1'796'096'675'123'456LL)};
    CHECK(format_rfc3339_us(t) == "2026-12-01T03:44:35.123456Z");
    CHECK(format_rfc3339_us(std::chrono::system_clock::time_point{}) == "1970-01-01T00:00:00.000000Z");
  }

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
      CHECK(parse_rfc3339_us(c.text) == c.want);
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

  TEST_CASE("manifest dates: a bare date is midnight UTC, a fraction is dropped towards the past") {
    CHECK(parse_rfc3339("2026-12-01") == 1796083200);
    CHECK_FALSE(parse_rfc3339("2026-12-01", false));
    CHECK(parse_rfc3339_us("2026-12-01", true) == int64_t{1796083200} * 1000000);
    CHECK_FALSE(parse_rfc3339_us("2026-12-01"));
    CHECK(parse_rfc3339("1969-12-31T23:59:59.5Z") == -1);
    CHECK(parse_rfc3339_us("1969-12-31T23:59:59.5Z") == -500000);
    CHECK(parse_rfc3339("2026-12-01t10:00:00z") == 1796119200);
  }

  TEST_CASE("offsets and fields out of range are refused") {
    for (const char* bad : {"2026-12-01T10:00:00+24:00", "2026-12-01T10:00:00+01:60", "2026-12-01T10:60:00Z",
                            "2026-12-01T10:00:61Z", "2026-12-01T10:00:00.Z", "2026-12-01T10:00:00+0100",
                            "2026-00-01T10:00:00Z", "2026-12-32T10:00:00Z", "2026-12-01T10:00:00 Z"}) {
      CAPTURE(bad);
      CHECK_FALSE(parse_rfc3339_us(bad));
      CHECK_FALSE(parse_rfc3339(bad));
    }
  }

  TEST_CASE("formatting round-trips through parsing, before and after the epoch") {
    for (TimeUs t : {TimeUs{0}, TimeUs{-1}, TimeUs{-86400000001}, TimeUs{951782400000000} /* 2000-02-29 */,
                     TimeUs{1796096675123456}, TimeUs{253402300799999999} /* 9999-12-31T23:59:59.999999 */}) {
      CAPTURE(t);
      CHECK(parse_rfc3339_us(format_rfc3339_us(t)) == t);
      CHECK(parse_rfc3339(format_rfc3339(t)) == (t >= 0 ? t / 1000000 : (t - 999999) / 1000000));
    }
    CHECK(format_rfc3339_us(-1) == "1969-12-31T23:59:59.999999Z");
    CHECK(format_rfc3339(-1) == "1969-12-31T23:59:59Z");
    CHECK(format_rfc3339(951782400000000) == "2000-02-29T00:00:00Z");
  }

  TEST_CASE("now is now") {
    const TimeUs before = to_time_us(std::chrono::system_clock::now());
    const TimeUs now = now_us();
    CHECK(now >= before);
    CHECK(now - before < 60 * 1000000);
    CHECK(parse_rfc3339(utc_now_rfc3339()).value() * 1000000 >= before - 1000000);
  }
}
