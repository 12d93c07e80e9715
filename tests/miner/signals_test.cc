#include "miner/signals.h"

#include <doctest/doctest.h>

#include <set>

#include "miner/markers.h"

using namespace tollgate::miner;

TEST_SUITE("miner.signals") {
  TEST_CASE("every signal has one row: a unique id, a weight, and evidence or context as documented") {
    std::set<std::string_view> ids;
    std::set<Signal> seen;
    for (const auto& s : all_signals()) {
      CAPTURE(s.id);
      CHECK(ids.insert(s.id).second);
      CHECK(seen.insert(s.signal).second);
      CHECK(s.weight > 0);
      CHECK(&info(s.signal) == &s);
      CHECK(signal_from_id(s.id) == s.signal);
      // No context signal can reach the threshold, even all of them together.
      if (!s.evidence) CHECK(s.weight < kSuspectScore);
    }
    CHECK(seen.size() == static_cast<size_t>(Signal::kDownloader) + 1);
    int context_total = 0;
    for (const auto& s : all_signals()) context_total += s.evidence ? 0 : s.weight;
    CHECK(context_total > kSuspectScore);  // which is why context needs evidence beside it
    CHECK_FALSE(signal_from_id("no-such-signal"));
    CHECK(info(Signal::kStratumUrl).weight >= kSuspectScore);  // one strong signal suffices
    CHECK(info(Signal::kKnownBad).weight >= kSuspectScore);
    CHECK(info(Signal::kMsrDevice).weight >= kSuspectScore);
    CHECK(info(Signal::kBusyCpu).weight < kSuspectScore);  // a busy compiler is not a miner
  }

  TEST_CASE("context alone never flags, whatever piles up") {
    Context everything{.path = "/tmp/.x/xmrig-kworker (deleted)",
                       .user_names = {"www-data"},
                       .launchers = {"/usr/sbin/nginx", "/usr/bin/curl"}};
    CHECK(context_reasons(everything).size() == 7);
    auto a = assess({}, everything);
    CHECK_FALSE(a.suspect);
    CHECK(a.score == 0);
    CHECK(a.reasons.empty());
    CHECK(a.strongest().empty());
  }

  TEST_CASE("evidence counts once per signal, context adds, reasons are sorted strongest first") {
    std::vector<Reason> evidence = {{Signal::kPoolHost, "contains 'a' at byte 1"},
                                    {Signal::kAlgorithm, "contains 'b' at byte 2"},
                                    {Signal::kPoolHost, "contains 'c' at byte 3"},
                                    {Signal::kPoolHost, "contains 'a' at byte 1"}};  // a duplicate: dropped
    auto plain = assess(evidence, {.path = "/opt/bin/tool"});
    CHECK(plain.score == 40 + 30);
    CHECK(plain.suspect);
    REQUIRE(plain.reasons.size() == 3);
    CHECK(plain.reasons[0].text == "contains 'a' at byte 1");
    CHECK(plain.reasons[1].text == "contains 'c' at byte 3");
    CHECK(plain.reasons[2].signal == Signal::kAlgorithm);
    CHECK(plain.reason_lines()[0] == "contains 'a' at byte 1 (well-known mining pool, +40)");

    auto weak = assess({{Signal::kAlgorithm, "contains 'randomx' at byte 9"}}, {.path = "/opt/bin/tool"});
    CHECK(weak.score == 30);
    CHECK_FALSE(weak.suspect);
    CHECK(weak.has_evidence());
    // The same weak evidence with context reaches the threshold.
    auto placed = assess({{Signal::kAlgorithm, "contains 'randomx' at byte 9"}},
                         {.path = "/var/tmp/.cache/xmrig", .user_names = {"www-data"}});
    CHECK(placed.score == 30 + 20 + 10 + 10 + 10);
    CHECK(placed.suspect);
    CHECK(placed.strongest() == "contains 'randomx' at byte 9");
    CHECK(placed.reasons.back().signal != Signal::kAlgorithm);
  }

  TEST_CASE("kernel-thread look-alikes") {
    for (const char* name : {"kworker", "kworker/0:1", "[kworker/u8:2-events]", "kthreadd", "ksoftirqd/3",
                             "migration/1", "jbd2/sda1-8", "rcu_sched", "KWORKER", "irq/9-acpi"})
      CHECK_MESSAGE(looks_like_kernel_thread(name), name);
    for (const char* name : {"bash", "kworkers-report", "kdevtmpfsi", "watchdog", "migrate", "kthreaddx", "", "[]"})
      CHECK_FALSE_MESSAGE(looks_like_kernel_thread(name), name);
  }
}
