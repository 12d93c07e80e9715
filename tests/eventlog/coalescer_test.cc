#include "eventlog/coalescer.h"

#include <doctest/doctest.h>

using namespace tollgate::eventlog;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const Coalescer::Clock::time_point t0{std::chrono::seconds(1000)};  // the injected clock

RepeatKey key(std::string path = "/tmp/x", int64_t ppid = 100) {
  return {.rule = "default-deny", .sha256 = std::string(64, 'a'), .path = std::move(path), .ppid = ppid};
}

json line(const std::string& tag) { return json{{"type", "decision"}, {"path", tag}, {"pid", 7}}; }

// What the engine does with one event: true when it was written in full.
bool log_event(Coalescer& c, const RepeatKey& k, Coalescer::Clock::time_point now, const std::string& tag = "x") {
  if (c.repeat(k, now)) return false;
  c.first(k, line(tag), now);
  return true;
}

}  // namespace

TEST_SUITE("eventlog.coalescer") {
  TEST_CASE("repeats within the window are counted into one summary line when it closes") {
    Coalescer c(1000ms);
    CHECK_FALSE(c.repeat(key(), t0));  // nothing open yet
    c.first(key(), line("first"), t0);
    for (int i = 1; i <= 5; ++i) CHECK(c.repeat(key(), t0 + i * 100ms));
    CHECK(c.take_closed(t0 + 999ms).empty());  // still open
    CHECK(c.next_close() == t0 + 1000ms);
    auto out = c.take_closed(t0 + 1000ms);
    REQUIRE(out.size() == 1);
    CHECK(out[0]["repeated"] == 5);
    CHECK(out[0]["path"] == "first");  // the first line's fields
    CHECK(out[0]["pid"] == 7);
    CHECK(c.open_windows() == 0);
    CHECK(c.take_closed(t0 + 5s).empty());  // taken once
    CHECK(c.next_close() == std::nullopt);
  }

  TEST_CASE("the window is fixed from the first line: a repeat at its end is a new first line") {
    Coalescer c(1000ms);
    CHECK(log_event(c, key(), t0));
    CHECK_FALSE(log_event(c, key(), t0 + 999ms));
    CHECK(log_event(c, key(), t0 + 1000ms, "second"));  // [t0, t0+1s) is over: written in full
    // The expired window was not taken yet: its summary waits, and the loop is told to flush now.
    CHECK(c.next_close() == Coalescer::Clock::time_point{});
    auto out = c.take_closed(t0 + 1000ms);
    REQUIRE(out.size() == 1);
    CHECK(out[0]["path"] == "x");
    CHECK(out[0]["repeated"] == 1);
    CHECK(c.open_windows() == 1);           // the second window
    CHECK(c.take_closed(t0 + 2s).empty());  // it had no repeats: closes silently
    CHECK(c.open_windows() == 0);
  }

  TEST_CASE("a flush on the tick writes a lone repeat without waiting for another event") {
    Coalescer c(1000ms);
    CHECK(log_event(c, key(), t0));
    CHECK_FALSE(log_event(c, key(), t0 + 1ms));
    auto out = c.take_closed(t0 + 1s + 1ms);  // the loop's next pass, no further event
    REQUIRE(out.size() == 1);
    CHECK(out[0]["repeated"] == 1);
  }

  TEST_CASE("any difference in answer, rule, sha256, path or parent is a different event") {
    Coalescer c(1000ms);
    const RepeatKey base = key();
    RepeatKey rule = base, sha = base, path = base, parent = base, allowed = base, would = base;
    allowed.verdict = tollgate::policy::Verdict::kAllow;  // the same file after a switch to audit
    would.would_deny = true;
    rule.rule = "path-deny:/tmp";
    sha.sha256 = std::string(64, 'b');
    path.path = "/tmp/y";
    parent.ppid = 101;
    for (const auto& k : {base, rule, sha, path, parent, allowed, would}) CHECK(log_event(c, k, t0));
    CHECK(c.open_windows() == 7);
    for (const auto& k : {base, rule, sha, path, parent, allowed, would}) CHECK_FALSE(log_event(c, k, t0 + 1ms));
    auto out = c.take_closed(t0 + 1s);
    CHECK(out.size() == 7);
    for (const auto& l : out) CHECK(l["repeated"] == 1);
  }

  TEST_CASE("a second first line for an open window keeps the window (two threads that both missed)") {
    Coalescer c(1000ms);
    c.first(key(), line("a"), t0);
    c.first(key(), line("b"), t0 + 1ms);
    CHECK(c.repeat(key(), t0 + 2ms));
    auto out = c.take_closed(t0 + 1s);
    REQUIRE(out.size() == 1);
    CHECK(out[0]["path"] == "a");
    CHECK(out[0]["repeated"] == 1);
  }

  TEST_CASE("the counts add up: lines written plus repeated equal the events") {
    Coalescer c(1000ms);
    uint64_t lines = 0, events = 0;
    auto add = [&](const std::vector<json>& out) {
      lines += out.size();
      for (const auto& l : out) events += l["repeated"].get<uint64_t>();
    };
    // 1000 events, one every 7 ms (7 s), of two kinds alternating.
    for (int i = 0; i < 1000; ++i) {
      const auto now = t0 + i * 7ms;
      add(c.take_closed(now));
      if (log_event(c, key("/tmp/x", 100 + i % 2), now)) ++lines, ++events;
    }
    add(c.take_all());
    CHECK(events == 1000);
    CHECK(lines <= 2 * 2 * 8);  // per kind and window: the first line and its summary
  }

  TEST_CASE("the table is bounded: beyond max_keys a new kind is written in full every time") {
    Coalescer c(1000ms, 2);
    CHECK(log_event(c, key("/a"), t0));
    CHECK(log_event(c, key("/b"), t0));
    CHECK(log_event(c, key("/c"), t0));
    CHECK(log_event(c, key("/c"), t0 + 1ms));  // never hidden
    CHECK_FALSE(log_event(c, key("/a"), t0 + 1ms));
    CHECK(c.open_windows() == 2);
    c.take_closed(t0 + 1s);
    CHECK(log_event(c, key("/c"), t0 + 1s));
    CHECK_FALSE(log_event(c, key("/c"), t0 + 1s + 1ms));  // room again: coalesced
  }

  TEST_CASE("take_all writes every pending summary at shutdown") {
    Coalescer c(1000ms);
    CHECK(log_event(c, key(), t0));
    CHECK_FALSE(log_event(c, key(), t0 + 1ms));
    CHECK_FALSE(log_event(c, key(), t0 + 2ms));
    auto out = c.take_all();
    REQUIRE(out.size() == 1);
    CHECK(out[0]["repeated"] == 2);
    CHECK(c.open_windows() == 0);
  }
}
