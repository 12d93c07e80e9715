// The admin subcommands (report, log, replay, approve, revoke, check, mode)
// run as an admin would, against temp files.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/time.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using testing::run;

namespace {
std::string tollgate_bin() { return testing::built_binary("tollgate"); }
std::string fixture(const std::string& name) { return testing::source_path("tests/fixtures/events/" + name); }

std::string decision_line(TimeUs ts, const std::string& path, const std::string& sha, bool deny = false) {
  nlohmann::json j = {{"ts", format_rfc3339_us(ts)},
                      {"host", "t"},
                      {"type", "decision"},
                      {"mode", deny ? "enforce" : "audit"},
                      {"decision", deny ? "deny" : "allow"},
                      {"would_deny", !deny},
                      {"rule", "default-deny"},
                      {"reason", "no rule"},
                      {"source", ""},
                      {"path", path},
                      {"sha256", sha},
                      {"size", 10},
                      {"event", "exec"},
                      {"pid", 10},
                      {"ppid", 1},
                      {"uid", 0},
                      {"exe", "/usr/bin/bash"},
                      {"comm", "bash"}};
  return j.dump() + "\n";
}

void append(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::app);
  out << text;
}
}  // namespace

TEST_SUITE("tools.admin") {
  TEST_CASE("report lists the fixture's binaries most frequent first, in text, JSON and YAML") {
    auto text = run({tollgate_bin(), "report", "--since", "all", "--log", fixture("week.jsonl")});
    CHECK(text.exit_code == 0);
    auto tool = text.out.find("/opt/app/bin/tool\n");
    // Named xmrig, in /tmp, hidden, run by www-data: listed, not flagged (no evidence).
    auto miner = text.out.find("/tmp/.x/xmrig\n");
    auto backup = text.out.find("/usr/local/bin/backup");
    CHECK(tool < miner);
    CHECK(miner < backup);
    CHECK(backup != std::string::npos);
    CHECK(text.out.find("4 malformed lines were skipped") != std::string::npos);
    CHECK(text.err.find("week.jsonl:5: skipped malformed event: not valid JSON") != std::string::npos);

    auto json = run({tollgate_bin(), "report", "--since", "all", "--json", "--log", fixture("week.jsonl")});
    REQUIRE(json.exit_code == 0);
    auto j = nlohmann::json::parse(json.out);
    CHECK(j["malformed_lines"] == 4);
    REQUIRE(j["binaries"].size() == 4);
    CHECK(j["binaries"][0]["count"] == 4);
    CHECK(j["binaries"][1]["miner"]["suspect"] == false);
    CHECK(j["binaries"][1]["miner"]["score"] == 0);
    CHECK(j["binaries"][1]["miner"]["reasons"].empty());
    CHECK(j["binaries"][1]["miner"]["scan"] == "none");
    CHECK(j["binaries"][1]["users"][0]["uid"] == 33);

    auto yaml = run({tollgate_bin(), "report", "--since", "all", "--yaml", "--log", fixture("week.jsonl")});
    CHECK(yaml.exit_code == 0);
    CHECK(yaml.out.find("path: \"/tmp/.x/xmrig\"") != std::string::npos);
    CHECK(run({tollgate_bin(), "report", "--json", "--yaml", "--log", fixture("week.jsonl")}).exit_code == 2);
  }

  TEST_CASE("report --since keeps only recent events and rejects a bad duration") {
    testing::TempDir dir;
    auto now = now_us();
    const std::string a(64, 'a'), b(64, 'b');
    std::string log = dir.file("events.jsonl");
    append(log, decision_line(now - 3LL * 86400 * 1000000, "/old/binary", a));
    append(log, decision_line(now - 3600LL * 1000000, "/new/binary", b));
    auto day = run({tollgate_bin(), "report", "--since", "24h", "--json", "--log", log});
    REQUIRE(day.exit_code == 0);
    auto j = nlohmann::json::parse(day.out);
    REQUIRE(j["binaries"].size() == 1);
    CHECK(j["binaries"][0]["path"] == "/new/binary");
    auto week = run({tollgate_bin(), "report", "--since", "7d", "--json", "--log", log});
    CHECK(nlohmann::json::parse(week.out)["binaries"].size() == 2);
    auto bad = run({tollgate_bin(), "report", "--since", "yesterday", "--log", log});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("invalid duration 'yesterday'") != std::string::npos);
    auto missing = run({tollgate_bin(), "report", "--log", dir.file("none.jsonl")});
    CHECK(missing.exit_code == 3);
    CHECK(missing.err.find("none.jsonl") != std::string::npos);
  }

  TEST_CASE("log prints readable lines, --denied-only filters and --json passes lines through") {
    auto all = run({tollgate_bin(), "log", "--log", fixture("week.jsonl")});
    CHECK(all.exit_code == 0);
    CHECK(all.out.find("WOULD-DENY exec /tmp/.x/xmrig uid=33") != std::string::npos);
    CHECK(all.out.find("mode       audit -> enforce by alice") != std::string::npos);
    CHECK(all.out.find("overflow   count=3") != std::string::npos);
    auto denied = run({tollgate_bin(), "log", "--denied-only", "--log", fixture("week.jsonl")});
    CHECK(denied.out.find("/usr/bin/ls") == std::string::npos);
    CHECK(denied.out.find("mode ") == std::string::npos);
    size_t lines = 0;
    for (char c : denied.out) lines += c == '\n';
    CHECK(lines == 10);
    auto typed = run({tollgate_bin(), "log", "--type", "mode,overflow", "--log", fixture("week.jsonl")});
    CHECK(typed.out.find("mode       audit -> enforce") != std::string::npos);
    CHECK(typed.out.find("overflow   count=3") != std::string::npos);
    CHECK(typed.out.find("exec") == std::string::npos);
    auto json =
        run({tollgate_bin(), "log", "--json", "--denied-only", "--max-events", "1", "--log", fixture("week.jsonl")});
    auto j = nlohmann::json::parse(json.out);
    CHECK(j["path"] == "/opt/app/bin/tool");
  }

  TEST_CASE("log --follow picks up appended events and continues across rotation") {
    testing::TempDir dir;
    std::string log = dir.file("events.jsonl");
    auto now = now_us();
    append(log, decision_line(now, "/bin/one", std::string(64, '1')));
    std::string cmd =
        "timeout 60 '" + tollgate_bin() + "' log --follow --poll-ms 20 --max-events 4 --log '" + log + "'";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe);
    char buf[4096];
    auto next_line = [&]() -> std::string { return std::fgets(buf, sizeof buf, pipe) ? std::string(buf) : ""; };
    CHECK(next_line().find("/bin/one") != std::string::npos);
    append(log, decision_line(now, "/bin/two", std::string(64, '2')));
    CHECK(next_line().find("/bin/two") != std::string::npos);
    // Rotation: a line the follower has not read yet, then the rename, then
    // a new file under the name. The unread line must not be lost.
    append(log, decision_line(now, "/bin/three", std::string(64, '3')));
    REQUIRE(std::rename(log.c_str(), (log + ".1").c_str()) == 0);
    append(log, decision_line(now, "/bin/four", std::string(64, '4')));
    std::string third = next_line();
    std::string fourth = next_line();
    CHECK(third.find("/bin/three") != std::string::npos);
    CHECK(fourth.find("/bin/four") != std::string::npos);
    CHECK(::pclose(pipe) == 0);  // exited by itself after 4 events, not by timeout
  }
}

TEST_SUITE("tools.admin") {
  TEST_CASE("replay lists exactly the binaries each candidate database denies") {
    testing::TempDir dir;
    std::string log = dir.file("events.jsonl");
    auto now = now_us();
    std::vector<std::pair<std::string, hashdb::Sha256>> bins;
    for (const char* name : {"a", "b", "c", "d"}) {
      auto sha = hashdb::sha256_bytes(std::string("content of ") + name);
      bins.emplace_back(std::string("/opt/x/") + name, sha);
      append(log, decision_line(now - 60000000, bins.back().first, hashdb::to_hex(sha)));
    }
    append(log, decision_line(now - 30000000, "/opt/x/b", hashdb::to_hex(bins[1].second), true));
    auto candidate = [&](const std::string& name, std::vector<int> allowed, std::string path_deny = "") {
      hashdb::PolicyContent content;
      for (int i : allowed)
        content.hash_rules.push_back(
            {.sha256 = bins[i].second, .action = hashdb::Action::kAllow, .label = bins[i].first});
      if (!path_deny.empty()) content.path_rules.push_back({.path = path_deny, .action = hashdb::Action::kDeny});
      REQUIRE(hashdb::write_database(dir.file(name), content, {}));
      return dir.file(name);
    };
    auto r = run({tollgate_bin(), "replay", "--db", candidate("ac.db", {0, 2}), "--log", log, "--json"});
    CHECK(r.exit_code == 1);
    auto j = nlohmann::json::parse(r.out);
    REQUIRE(j["would_deny"].size() == 2);
    CHECK(j["would_deny"][0]["path"] == "/opt/x/b");  // seen twice
    CHECK(j["would_deny"][0]["count"] == 2);
    CHECK(j["would_deny"][1]["path"] == "/opt/x/d");
    CHECK(j["would_deny"][1]["sha256"] == hashdb::to_hex(bins[3].second));

    auto all = run({tollgate_bin(), "replay", "--db", candidate("all.db", {0, 1, 2, 3}), "--log", log});
    CHECK(all.exit_code == 0);
    CHECK(all.out.find("Nothing would be denied.") != std::string::npos);

    auto pathdeny = run({tollgate_bin(), "replay", "--db", candidate("pd.db", {0, 1, 2, 3}, "/opt/x/c"), "--log", log});
    CHECK(pathdeny.exit_code == 1);
    CHECK(pathdeny.out.find("It would deny 1 binaries:\n  /opt/x/c\n") != std::string::npos);
    CHECK(pathdeny.out.find("path-deny:/opt/x/c") != std::string::npos);

    // Events older than the window are not replayed.
    auto old = run({tollgate_bin(), "replay", "--db", dir.file("ac.db"), "--log", log, "--since", "10s"});
    CHECK(old.exit_code == 0);

    auto bad = run({tollgate_bin(), "replay", "--db", dir.file("missing.db"), "--log", log});
    CHECK(bad.exit_code == 3);
  }
}

TEST_SUITE("tools.admin") {
  TEST_CASE("check gives the verdict, rule and manifest line offline; exit 0 allowed, 1 denied") {
    testing::TempDir dir;
    testing::write_text(dir.file("good"), "#!/bin/sh\necho good\n", 0755);
    testing::write_text(dir.file("bad"), "#!/bin/sh\necho bad\n", 0755);
    auto good = hashdb::sha256_path(dir.file("good"));
    REQUIRE(good);
    hashdb::PolicyContent content;
    content.hash_rules.push_back({.sha256 = *good,
                                  .action = hashdb::Action::kAllow,
                                  .label = "good",
                                  .source = {"/etc/tollgate/approvals.yaml", 7}});
    REQUIRE(hashdb::write_database(dir.file("policy.db"), content, {}));
    auto ok = run({tollgate_bin(), "check", "--db", dir.file("policy.db"), dir.file("good")});
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.find("allowed by hash-allow:") != std::string::npos);
    CHECK(ok.out.find("(/etc/tollgate/approvals.yaml:7)") != std::string::npos);
    auto no = run({tollgate_bin(), "check", "--db", dir.file("policy.db"), dir.file("good"), dir.file("bad")});
    CHECK(no.exit_code == 1);
    CHECK(no.out.find(dir.file("bad") + ": DENIED by default-deny") != std::string::npos);
    auto j = run({tollgate_bin(), "check", "--json", "--db", dir.file("policy.db"), dir.file("bad")});
    CHECK(j.exit_code == 1);
    auto parsed = nlohmann::json::parse(j.out);
    CHECK(parsed[0]["verdict"] == "deny");
    CHECK(parsed[0]["rule"] == "default-deny");
    auto missing = run({tollgate_bin(), "check", "--db", dir.file("policy.db"), dir.file("none")});
    CHECK(missing.exit_code == 3);
    auto nodb = run({tollgate_bin(), "check", "--db", dir.file("none.db"), dir.file("good")});
    CHECK(nodb.exit_code == 3);
    CHECK(nodb.err.find("none.db") != std::string::npos);
  }
}
