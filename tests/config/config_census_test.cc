// The coverage keys of the config (issue 10): census_interval_ms,
// on_unwatched, unwatched_exempt, and `watch: auto` as a word (parser only:
// nothing here resolves or marks anything).
#include <doctest/doctest.h>

#include "config/config.h"

using namespace tollgate;
using namespace tollgate::config;

TEST_SUITE("config.census") {
  TEST_CASE("defaults: census every 2 s, findings logged, nothing exempt, watch auto") {
    auto c = parse_config("", "t.yaml");
    REQUIRE(c);
    CHECK(c->census_interval_ms == 2000);
    CHECK(c->on_unwatched == OnUnwatched::kLog);
    CHECK(c->unwatched_exempt.empty());
    CHECK(c->watch == std::vector<std::string>{"auto"});  // the word only
  }

  TEST_CASE("the keys are read") {
    const std::string digest(64, 'a');
    auto c = parse_config(
        "census_interval_ms: 500\non_unwatched: kill\nunwatched_exempt: [/usr/sbin/runc, sha256:" + digest + "]\n",
        "t.yaml");
    REQUIRE_MESSAGE(c, (c ? "" : c.error().message()));
    CHECK(c->census_interval_ms == 500);
    CHECK(c->on_unwatched == OnUnwatched::kKill);
    CHECK(c->unwatched_exempt == std::vector<std::string>{"/usr/sbin/runc", "sha256:" + digest});
    CHECK(to_string(c->on_unwatched) == "kill");
    auto off = parse_config("census_interval_ms: 0\n", "t.yaml");
    REQUIRE(off);
    CHECK(off->census_interval_ms == 0);
  }

  TEST_CASE("bad values are reported at FILE:LINE:COL") {
    struct Case {
      const char* text;
      const char* message;
    };
    const Case cases[] = {
        {"on_unwatched: stop\n", "t.yaml:1:15: 'on_unwatched' must be log or kill, got 'stop'"},
        {"census_interval_ms: 50\n", "t.yaml:1:21: 'census_interval_ms' must be 0 (off) or 100 to 3600000"},
        {"census_interval_ms: -1\n", "t.yaml:1:21: 'census_interval_ms' must be a whole number from 0 to 3600000"},
        {"unwatched_exempt: [runc]\n", "t.yaml:1:19: 'unwatched_exempt' must be an absolute path, got 'runc'"},
        {"unwatched_exempt: sha256:abc\n",
         "t.yaml:1:19: 'unwatched_exempt' entry 'sha256:abc' must be sha256: and 64 hex digits"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.text);
      auto r = parse_config(c.text, "t.yaml");
      REQUIRE_FALSE(r);
      CHECK(r.error().message() == c.message);
    }
  }
}
