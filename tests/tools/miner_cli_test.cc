// Miner detection in the CLI: report flags on evidence only (logged scans,
// its own scan of files still on disk, blocklisted hashes), suspects first;
// import-blocklist writes a deny manifest that compiles and beats an allow.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/time.h"
#include "hashdb/sha256.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using nlohmann::json;
using testing::run;

namespace {

std::string tollgate_bin() { return testing::built_binary("tollgate"); }
std::string fixture(const std::string& name) { return testing::source_path("tests/fixtures/events/" + name); }

std::string hex_of(const std::string& path) {
  auto d = hashdb::sha256_path(path);
  REQUIRE(d);
  return hashdb::to_hex(*d);
}

std::string decision(const std::string& path, const std::string& sha, const std::string& rule = "default-deny") {
  return json({{"ts", format_rfc3339_us(now_us() - 60000000)},
               {"host", "t"},
               {"type", "decision"},
               {"mode", "audit"},
               {"decision", "allow"},
               {"would_deny", true},
               {"rule", rule},
               {"reason", "no rule approves it"},
               {"path", path},
               {"sha256", sha},
               {"size", 10},
               {"uid", 0},
               {"exe", "/usr/bin/bash"}})
             .dump() +
         "\n";
}

}  // namespace

TEST_SUITE("tools.miner") {
  TEST_CASE("report: suspects first with the strongest reason on the first line and every reason listed") {
    auto text = run({tollgate_bin(), "report", "--since", "all", "--log", fixture("miner.jsonl")});
    REQUIRE_MESSAGE(text.exit_code == 0, text.err);
    CHECK(text.out.find("4 binaries denied or would be denied") != std::string::npos);
    auto first =
        text.out.find("\n/srv/www/.cache/kworker   [MINER? score 125] contains 'stratum+tcp://' at byte 1200\n");
    auto second = text.out.find("\n/usr/local/bin/helper   [MINER? score 100] known bad: ");
    auto third = text.out.find("\n/opt/app/bin/tool\n");
    auto fourth = text.out.find("\n/var/tmp/id\n");
    CHECK(first != std::string::npos);
    CHECK(first < second);
    CHECK(second < third);
    CHECK(third < fourth);
    CHECK(fourth != std::string::npos);
    CHECK(text.out.find("  miner     score 125: contains 'stratum+tcp://' at byte 1200 (mining-pool URL, +60)\n"
                        "            contains 'donate-level' at byte 1300 (miner configuration key, +30)\n") !=
          std::string::npos);
    CHECK(text.out.find("Content scans: 2 from tollgated's log, 0 by this report") != std::string::npos);

    auto out = run({tollgate_bin(), "report", "--since", "all", "--json", "--log", fixture("miner.jsonl")});
    REQUIRE(out.exit_code == 0);
    auto j = json::parse(out.out);
    const auto& m = j["binaries"][0]["miner"];
    CHECK(m["suspect"] == true);
    CHECK(m["score"] == 125);
    CHECK(m["scan"] == "daemon");
    CHECK(m["scan_end"] == "complete");
    REQUIRE(m["reasons"].size() == 5);
    CHECK(m["reasons"][0] == "contains 'stratum+tcp://' at byte 1200 (mining-pool URL, +60)");
    CHECK(j["binaries"][3]["miner"] ==
          json({{"suspect", false}, {"score", 0}, {"reasons", json::array()}, {"scan", "none"}}));
    CHECK(j["content_scans"] == json({{"daemon", 2}, {"report", 0}, {"none", 2}}));
  }

  TEST_CASE("report scans files still on disk when the log has no scan, only if they still hold the logged hash") {
    testing::TempDir dir;
    const std::string miner = dir.file("dl/.x/update"), plain = dir.file("dl/tool"), changed = dir.file("dl/changed");
    std::filesystem::create_directories(dir.file("dl/.x"));
    testing::write_text(miner, "#!/bin/sh\n# pool: stratum+tcp://pool.example:3333 with \"donate-level\": 1\n", 0755);
    std::filesystem::copy_file("/bin/true", plain);
    testing::write_text(changed, "#!/bin/sh\necho old\n", 0755);
    const std::string changed_sha = hex_of(changed);
    testing::write_text(changed, "#!/bin/sh\n# now it says stratum+tcp://x\n", 0755);
    std::string log = dir.file("events.jsonl");
    {
      std::ofstream out(log);
      out << decision(plain, hex_of(plain)) << decision(plain, hex_of(plain)) << decision(miner, hex_of(miner))
          << decision(changed, changed_sha);
    }
    auto j = json::parse(run({tollgate_bin(), "report", "--since", "1h", "--json", "--log", log}).out);
    REQUIRE(j["binaries"].size() == 3);
    CHECK(j["binaries"][0]["path"] == miner);
    CHECK(j["binaries"][0]["miner"]["suspect"] == true);
    CHECK(j["binaries"][0]["miner"]["scan"] == "report");
    CHECK(j["binaries"][0]["miner"]["reasons"][0] == "contains 'stratum+tcp://' at byte 18 (mining-pool URL, +60)");
    CHECK(j["binaries"][1]["path"] == plain);
    CHECK(j["binaries"][1]["miner"]["scan"] == "report");
    CHECK(j["binaries"][1]["miner"]["suspect"] == false);
    CHECK(j["binaries"][2]["path"] == changed);
    CHECK(j["binaries"][2]["miner"]["scan"] == "none");  // not the content that ran
    CHECK(j["binaries"][2]["miner"]["suspect"] == false);
    CHECK(j["content_scans"] == json({{"daemon", 0}, {"report", 2}, {"none", 1}}));

    auto off = json::parse(run({tollgate_bin(), "report", "--since", "1h", "--json", "--no-scan", "--log", log}).out);
    CHECK(off["binaries"][0]["path"] == plain);  // nothing scanned: most frequent first
    for (const auto& b : off["binaries"]) CHECK(b["miner"]["suspect"] == false);
    auto text = run({tollgate_bin(), "report", "--since", "1h", "--no-scan", "--log", log});
    CHECK(text.out.find("Content scans: 0 from tollgated's log, 0 by this report (--no-scan), 3 not scanned.") !=
          std::string::npos);
  }

  TEST_CASE("import-blocklist: a sha256sum list becomes a deny manifest that compiles, and hash-deny beats an allow") {
    testing::TempDir dir;
    const std::string bin = dir.file("bin/agent"), other = dir.file("bin/other");
    std::filesystem::create_directories(dir.file("bin"));
    std::filesystem::copy_file("/bin/true", bin);
    testing::write_text(other, "#!/bin/sh\nexit 0\n", 0755);
    const std::string feed = dir.file("coinminers.sha256");
    testing::write_text(feed, "# coin miners\n" + hex_of(bin) + "  agent\n" + "bogus line\n" + hex_of(bin) +
                                  " *agent-copy\n" + std::string(64, 'f') + "\n");
    const std::string out = dir.file("blocklists/coinminers.yaml");
    std::filesystem::create_directories(dir.file("blocklists"));
    auto imported = run({tollgate_bin(), "import-blocklist", feed, "-o", out});
    REQUIRE_MESSAGE(imported.exit_code == 0, imported.err);
    CHECK(imported.err.find(feed + ":3: skipped: expected a SHA-256 (64 hex digits) at the start of the line") !=
          std::string::npos);
    CHECK(imported.out.find("wrote " + out + ": 2 deny entries (2 new, 0 no longer listed) from " + feed +
                            ": 1 duplicate lines merged, 1 malformed lines skipped") != std::string::npos);
    std::string manifest = testing::read_text(out);
    CHECK(manifest.find("  - sha256: " + hex_of(bin) + "\n    label: \"" + feed + ":2 agent (also line 4)\"\n") !=
          std::string::npos);

    // The root manifest allows the file by path and includes the blocklist.
    const std::string root = dir.file("policy.yaml"), db = dir.file("policy.db"), config = dir.file("tollgate.yaml");
    testing::write_text(root, "version: 1\nname: t\ninclude:\n  - blocklists/*.yaml\nallow:\n  - path: " + bin +
                                  "\n    label: the agent\n  - path: " + other + "\n");
    testing::write_text(config, "database: " + db + "\n");
    auto compiled = run({tollgate_bin(), "compile", root, "-o", db});
    REQUIRE_MESSAGE(compiled.exit_code == 0, compiled.err);
    auto checked = run({tollgate_bin(), "check", "--config", config, "--db", db, bin});
    CHECK(checked.exit_code == 1);
    CHECK(checked.out.find(bin + ": DENIED by hash-deny:" + hex_of(bin).substr(0, 16) + " (" + out + ":7)") !=
          std::string::npos);
    CHECK(checked.out.find("its SHA-256 is on the deny list as " + feed + ":2 agent (also line 4)") !=
          std::string::npos);

    // Re-import after the feed changed: replaced in place, the change counted.
    testing::write_text(feed, hex_of(other) + "  other\n" + std::string(64, 'f') + "\n");
    auto again = run({tollgate_bin(), "import-blocklist", feed, "-o", out});
    REQUIRE_MESSAGE(again.exit_code == 0, again.err);
    CHECK(again.out.find("2 deny entries (1 new, 1 no longer listed)") != std::string::npos);
    CHECK(testing::read_text(out).find(hex_of(bin)) == std::string::npos);
    REQUIRE(run({tollgate_bin(), "compile", root, "-o", db}).exit_code == 0);
    CHECK(run({tollgate_bin(), "check", "--config", config, "--db", db, other}).exit_code == 1);

    // Never over a manifest it did not write; nothing usable is an error, and nothing is written.
    auto refused = run({tollgate_bin(), "import-blocklist", feed, "-o", root});
    CHECK(refused.exit_code == 3);
    CHECK(refused.err.find("not written by tollgate import-blocklist") != std::string::npos);
    CHECK(testing::read_text(root).starts_with("version: 1\nname: t\n"));
    testing::write_text(dir.file("junk.txt"), "hello\nworld\n");
    auto junk = run({tollgate_bin(), "import-blocklist", dir.file("junk.txt"), "-o", dir.file("junk.yaml")});
    CHECK(junk.exit_code == 4);
    CHECK(junk.err.find("no SHA-256 found (2 malformed lines); is --format sha256sum right?") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("junk.yaml")));
    // Without -o: the manifest on stdout.
    auto stdout_only = run({tollgate_bin(), "import-blocklist", feed});
    CHECK(stdout_only.exit_code == 0);
    CHECK(stdout_only.out.starts_with("# Generated by tollgate import-blocklist from "));
  }

  TEST_CASE("import-blocklist --format csv; *.csv picks it by default") {
    testing::TempDir dir;
    const std::string a(64, 'a'), b(64, 'b');
    const std::string feed = dir.file("bazaar.csv");
    testing::write_text(feed, "# \"first_seen_utc\",\"sha256_hash\",\"signature\"\n\"2026-12-01\",\"" + a +
                                  "\",\"CoinMiner\"\n\"2026-12-01\",\"" + b +
                                  "\",\"XMRig\"\n\"2026-12-02\",\"oops\",\"x\"\n");
    auto r = run({tollgate_bin(), "import-blocklist", feed, "-o", dir.file("bazaar.yaml")});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.err.find(feed + ":4: skipped: column 2 is not a SHA-256") != std::string::npos);
    std::string manifest = testing::read_text(dir.file("bazaar.yaml"));
    CHECK(manifest.find("label: \"" + feed + ":2 CoinMiner\"") != std::string::npos);
    CHECK(manifest.find("label: \"" + feed + ":3 XMRig\"") != std::string::npos);
    auto compiled = run({tollgate_bin(), "compile", dir.file("bazaar.yaml"), "-o", dir.file("b.db")});
    CHECK_MESSAGE(compiled.exit_code == 0, compiled.err);
    auto forced = run({tollgate_bin(), "import-blocklist", "--format", "sha256sum", feed});
    CHECK(forced.exit_code == 4);  // the CSV read as sha256sum lines: nothing
    CHECK(run({tollgate_bin(), "import-blocklist", "--format", "xml", feed}).exit_code == 2);
  }
}
