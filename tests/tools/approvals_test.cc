#include "tools/approvals.h"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include "tests/support/temp_dir.h"
#include "tools/config_edit.h"
#include "tools/status_verdict.h"

using namespace tollgate;
using namespace tollgate::tools;

namespace {
Approval sample(char fill, std::string origin) {
  return {.sha256 = std::string(64, fill),
          .origin = std::move(origin),
          .label = "tool",
          .ticket = "OPS-12",
          .approved_by = "alice",
          .approved_at = "2026-12-01T10:00:00Z",
          .comments = {"approved by test"}};
}
}  // namespace

TEST_SUITE("tools.approvals") {
  TEST_CASE("appending to a missing manifest creates a valid one with the entry") {
    auto text = add_approvals("", {sample('a', "/opt/app/bin/tool")}, "approvals.yaml");
    REQUIRE(text);
    auto doc = parse_approvals(*text, "approvals.yaml");
    REQUIRE(doc);
    REQUIRE(doc->entries.size() == 1);
    CHECK(doc->entries[0].sha256 == std::string(64, 'a'));
    CHECK(doc->entries[0].origin == "/opt/app/bin/tool");
    auto root = YAML::Load(*text);
    CHECK(root["version"].as<int>() == 1);
    CHECK(root["allow"][0]["ticket"].as<std::string>() == "OPS-12");
    CHECK(root["allow"][0]["approved_by"].as<std::string>() == "alice");
    CHECK_FALSE(root["allow"][0]["expires"]);
  }

  TEST_CASE("appending keeps the admin's comments and other keys, and lands inside allow") {
    const std::string original =
        "# our approvals\n"
        "version: 1\n"
        "name: approvals\n"
        "allow:\n"
        "- sha256: " +
        std::string(64, 'b') +
        "   # legacy tool\n"
        "  label: legacy\n"
        "\n"
        "# trailing note about deny\n"
        "deny: []\n";
    auto text = add_approvals(original, {sample('c', "/usr/local/bin/x y")}, "a.yaml");
    REQUIRE(text);
    CHECK(text->find("# our approvals\n") == 0);
    CHECK(text->find("# legacy tool") != std::string::npos);
    CHECK(text->find("# trailing note about deny\ndeny: []\n") != std::string::npos);
    auto root = YAML::Load(*text);
    REQUIRE(root["allow"].size() == 2);
    CHECK(root["allow"][1]["origin"].as<std::string>() == "/usr/local/bin/x y");
    CHECK(root["deny"].IsSequence());
  }

  TEST_CASE("removing an entry removes its lines and comments only") {
    auto text = add_approvals("", {sample('a', "/a"), sample('b', "/b"), sample('c', "/c")}, "a.yaml");
    REQUIRE(text);
    auto doc = parse_approvals(*text, "a.yaml");
    REQUIRE(doc);
    REQUIRE(doc->entries.size() == 3);
    auto without_b = remove_approvals(*text, {doc->entries[1]});
    auto after = parse_approvals(without_b, "a.yaml");
    REQUIRE(after);
    REQUIRE(after->entries.size() == 2);
    CHECK(after->entries[0].origin == "/a");
    CHECK(after->entries[1].origin == "/c");
    size_t comments = 0;
    for (size_t p = 0; (p = without_b.find("# approved by test", p)) != std::string::npos; ++p) ++comments;
    CHECK(comments == 2);
    auto none = remove_approvals(without_b, after->entries);
    auto empty = parse_approvals(none, "a.yaml");
    REQUIRE(empty);
    CHECK(empty->entries.empty());
    // And one can append again after everything was removed.
    auto again = add_approvals(none, {sample('d', "/d")}, "a.yaml");
    REQUIRE(again);
    CHECK(parse_approvals(*again, "a.yaml")->entries.size() == 1);
  }

  TEST_CASE("a commented-out entry is not an approval") {
    Approval a = sample('e', "/tmp/.x/xmrig");
    a.commented_out = true;
    auto text = add_approvals("", {a}, "a.yaml");
    REQUIRE(text);
    CHECK(parse_approvals(*text, "a.yaml")->entries.empty());
    CHECK(text->find("  # - sha256: " + std::string(64, 'e')) != std::string::npos);
  }

  TEST_CASE("a file name with a newline cannot smuggle an approval into the comments") {
    // The comments of --from-report entries quote paths from the event log,
    // which any local user chooses.
    const std::string smuggled = std::string(64, 'f');
    Approval a = sample('e', "/tmp/x");
    a.commented_out = true;
    a.comments = {"/tmp/x\n  - sha256: " + smuggled + "\n    label: pwn #: seen 1 times"};
    auto text = add_approvals("", {a}, "a.yaml");
    REQUIRE(text);
    auto doc = parse_approvals(*text, "a.yaml");
    REQUIRE(doc);
    CHECK(doc->entries.empty());
    CHECK(text->find("# /tmp/x\\x0a  - sha256: " + smuggled) != std::string::npos);
  }

  TEST_CASE("manifests tollgate cannot edit safely are refused with file and line") {
    auto flow = add_approvals("version: 1\nallow: [{sha256: x}]\n", {sample('a', "/a")}, "f.yaml");
    REQUIRE_FALSE(flow);
    CHECK(flow.error().message().find("f.yaml:2") != std::string::npos);
    auto broken = parse_approvals("allow:\n  - sha256: [\n", "g.yaml");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().message().find("g.yaml:") == 0);
    auto nohash = parse_approvals("allow:\n  - label: x\n", "h.yaml");
    REQUIRE_FALSE(nohash);
    CHECK(nohash.error().message() == "h.yaml:2: an approvals entry needs 'sha256'");
  }

  TEST_CASE("the lock is exclusive between holders") {
    testing::TempDir dir;
    auto first = ApprovalsLock::acquire(dir.file("a.yaml"));
    REQUIRE(first);
    auto second = ApprovalsLock::acquire(dir.file("a.yaml"), 0);
    REQUIRE_FALSE(second);
    CHECK(second.error().code() == ErrorCode::kUnavailable);
  }
}

TEST_SUITE("tools.config_edit") {
  TEST_CASE("set_config_mode replaces only the mode line and keeps comments") {
    struct Case {
      const char* in;
      const char* out;
    };
    const Case cases[] = {
        {"mode: audit\n", "mode: enforce\n"},
        {"# mode: audit\nmode: audit  # why\ndatabase: /x\n", "# mode: audit\nmode: enforce  # why\ndatabase: /x\n"},
        {"database: /x\n", "database: /x\nmode: enforce\n"},
        {"database: /x", "database: /x\nmode: enforce\n"},
        {"", "mode: enforce\n"},
        {"modes_note: 1\nmode: audit\n", "modes_note: 1\nmode: enforce\n"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.in);
      CHECK(set_config_mode(c.in, "enforce") == c.out);
    }
  }
}

TEST_SUITE("tools.status") {
  TEST_CASE("the health verdict names the worst finding first") {
    using nlohmann::json;
    auto status = [](bool loaded, json counters, const char* mode = "enforce") {
      return json{
          {"ok", true}, {"mode", mode}, {"database", {{"loaded", loaded}, {"generation", 4}}}, {"counters", counters}};
    };
    struct Case {
      json status;
      const char* starts;
    };
    const Case cases[] = {
        {status(false, {{"overflows", 3}}), "health: DEGRADED: no policy database"},
        {status(true, {{"overflows", 3}, {"errors", 1}}), "health: DEGRADED: the kernel queue overflowed 3 times"},
        {status(true, {{"log_dropped", 2}}), "health: DEGRADED: 2 event-log lines"},
        {status(true, {{"errors", 2}, {"timeouts", 1}}), "health: WARNING: 2 decisions"},
        {status(true, {{"would_deny", 5}}, "audit"), "health: OK (audit): 5 would-denies"},
        {status(true, json::object(), "audit"), "health: OK (audit): nothing would"},
        {status(true, {{"denied", 7}}), "health: OK: enforcing generation 4, 7 denied"},
        {json{{"ok", true}}, "health: DEGRADED"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.status.dump());
      CHECK(health_verdict(c.status).starts_with(c.starts));
    }
  }
}
