#include "eventlog/replay.h"

#include <doctest/doctest.h>

using namespace tollgate;
using namespace tollgate::eventlog;
using tollgate::policy::FileFacts;

namespace {
Event exec(const std::string& ts, const std::string& path, const hashdb::Sha256& sha,
           const std::string& exe = "/bin/sh") {
  Event e{.ts = ts,
          .ts_us = *parse_rfc3339_us(ts),
          .type = "decision",
          .decision = policy::Verdict::kAllow,
          .would_deny = true};
  e.path = path;
  e.sha256 = hashdb::to_hex(sha);
  e.exe = exe;
  return e;
}
FileFacts recorded_only(const std::string& path, const std::optional<hashdb::Sha256>& sha) {
  return {.path = path, .sha256 = sha};
}
}  // namespace

TEST_SUITE("eventlog.replay") {
  TEST_CASE("replay lists exactly the distinct binaries the candidate denies") {
    auto a = hashdb::sha256_bytes("a"), b = hashdb::sha256_bytes("b"), c = hashdb::sha256_bytes("c");
    std::vector<Event> events = {
        exec("2026-11-30T01:00:00Z", "/opt/a", a),
        exec("2026-11-30T02:00:00Z", "/opt/a", a),
        exec("2026-11-30T03:00:00Z", "/opt/b", b, "/usr/sbin/cron"),
        exec("2026-11-30T04:00:00Z", "/opt/c", c),
        exec("2026-11-30T05:00:00Z", "/opt/b", b, "/usr/bin/bash"),
        exec("2026-11-30T06:00:00Z", "/opt/b", b, "/usr/bin/bash"),
    };
    events.push_back(
        Event{.ts = "2026-11-30T07:00:00Z", .ts_us = *parse_rfc3339_us("2026-11-30T07:00:00Z"), .type = "mode"});
    hashdb::PolicyContent content;
    content.hash_rules.push_back(
        {.sha256 = c, .action = hashdb::Action::kAllow, .label = "c", .source = {"m.yaml", 4}});
    hashdb::MemoryRuleSet rules(content);
    auto r = replay(events, {}, rules, recorded_only);
    CHECK(r.events == 6);
    REQUIRE(r.denied.size() == 2);
    CHECK(r.denied[0].path == "/opt/b");  // most frequent first
    CHECK(r.denied[0].count == 3);
    CHECK(r.denied[0].last_exe == "/usr/bin/bash");
    CHECK(r.denied[0].last_seen == "2026-11-30T06:00:00Z");
    CHECK(r.denied[0].decision.rule == "default-deny");
    CHECK(r.denied[1].path == "/opt/a");
    REQUIRE(r.allowed.size() == 1);
    CHECK(r.allowed[0].decision.source.line == 4);

    auto recent = replay(events, {.since_us = *parse_rfc3339_us("2026-11-30T03:30:00Z")}, rules, recorded_only);
    CHECK(recent.events == 3);
    REQUIRE(recent.denied.size() == 1);
    CHECK(recent.denied[0].count == 2);
  }

  TEST_CASE("a recorded event without a hash can only be allowed by a safe path rule") {
    Event e{.ts = "2026-11-30T01:00:00Z", .ts_us = 1, .type = "decision", .decision = policy::Verdict::kDeny};
    e.path = "/usr/bin/thing";
    hashdb::PolicyContent content;
    content.path_rules.push_back({.path = "/usr/bin/", .match = hashdb::PathMatch::kPrefix});
    hashdb::MemoryRuleSet rules(content);
    CHECK(replay({e}, {}, rules, recorded_only).denied.size() == 1);  // chain unknown: not safe
    auto safe_chain = [](const std::string& path, const std::optional<hashdb::Sha256>& sha) {
      return FileFacts{
          .path = path,
          .sha256 = sha,
          .chain = {{"/usr/bin/thing", 0, 0100755}, {"/usr/bin", 0, 040755}, {"/usr", 0, 040755}, {"/", 0, 040755}}};
    };
    CHECK(replay({e}, {}, rules, safe_chain).denied.empty());
  }
}
