// `tollgate compile` and `tollgate diff` as an admin runs them.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using testing::run;

TEST_SUITE("tools.compile") {
  TEST_CASE("tollgate compile writes a database, prints a JSON summary and diff shows the change") {
    testing::TempDir dir;
    const std::string bin = testing::built_binary("tollgate");
    testing::write_text(dir.file("tool"), "#!/bin/sh\necho tool\n", 0755);
    // The temp dir fails the ownership rule: the entry opts in.
    const std::string writable = "    allow_writable: true\n    reason: test fixture\n";
    testing::write_text(dir.file("m.yaml"), "version: 1\nname: cli\nallow:\n  - file: " + dir.file("tool") + "\n" +
                                                writable + "deny:\n  - path_prefix: /tmp\n");
    auto first = run({bin, "compile", dir.file("m.yaml"), "-o", dir.file("a.db"), "--json", "--jobs", "2"});
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    CHECK(first.err.empty());  // no progress line when stderr is not a terminal
    auto j = nlohmann::json::parse(first.out);
    CHECK(j["ok"] == true);
    CHECK(j["generation"] == 1);
    CHECK(j["rules"]["hash_allow"] == 1);
    CHECK(j["rules"]["path_deny"] == 1);
    CHECK(j["files"]["hashed"] == 1);
    CHECK(j["content_digest"].get<std::string>().size() == 64);

    std::filesystem::copy_file(dir.file("a.db"), dir.file("old.db"));
    auto same = run({bin, "diff", dir.file("old.db"), dir.file("a.db")});
    CHECK(same.exit_code == 0);

    testing::write_text(dir.file("m.yaml"), "version: 1\nname: cli\nallow:\n  - file: " + dir.file("tool") + "\n" +
                                                writable + "  - path: /usr/sbin/sshd\n");
    auto second = run({bin, "compile", dir.file("m.yaml"), "-o", dir.file("a.db")});
    REQUIRE_MESSAGE(second.exit_code == 0, second.err);
    CHECK(second.out.find("generation 2") != std::string::npos);
    CHECK(second.out.find("0 hashed (0 B), 1 reused") != std::string::npos);

    auto diff = run({bin, "diff", dir.file("old.db"), dir.file("a.db"), "--json"});
    CHECK(diff.exit_code == 1);
    auto d = nlohmann::json::parse(diff.out);
    CHECK(d["identical"] == false);
    REQUIRE(d["path_rules"]["added"].size() == 1);
    CHECK(d["path_rules"]["added"][0]["path"] == "/usr/sbin/sshd");
    REQUIRE(d["path_rules"]["removed"].size() == 1);
    CHECK(d["path_rules"]["removed"][0]["path"] == "/tmp/");
    CHECK(d["hash_rules"]["added"].empty());
    auto text = run({bin, "diff", dir.file("old.db"), dir.file("a.db")});
    CHECK(text.out.find("+ path allow exact  /usr/sbin/sshd") != std::string::npos);
    CHECK(text.out.find("- path deny  prefix /tmp/") != std::string::npos);
  }

  TEST_CASE("an invalid manifest exits 4 with every error as FILE:LINE:COL and writes nothing") {
    testing::TempDir dir;
    const std::string bin = testing::built_binary("tollgate");
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: relative\n  - dri: /usr/bin\n");
    auto r = run({bin, "compile", dir.file("m.yaml"), "-o", dir.file("p.db")});
    CHECK(r.exit_code == 4);
    CHECK(r.err == "tollgate: " + dir.file("m.yaml") + ":3:11: 'file' must be an absolute path (got 'relative')\n" +
                       dir.file("m.yaml") + ":4:5: unknown key 'dri'; did you mean 'dir'?\n");
    CHECK_FALSE(std::filesystem::exists(dir.file("p.db")));
    auto j = run({bin, "compile", dir.file("m.yaml"), "-o", dir.file("p.db"), "--json"});
    CHECK(j.exit_code == 4);
    CHECK(nlohmann::json::parse(j.out)["errors"].size() == 2);

    auto usage = run({bin, "compile", dir.file("m.yaml")});
    CHECK(usage.exit_code == 2);
    testing::write_text(dir.file("ok.yaml"), "version: 1\nallow: []\n");
    auto dry = run({bin, "compile", dir.file("ok.yaml"), "-o", dir.file("p.db"), "--dry-run"});
    CHECK(dry.exit_code == 0);
    CHECK(dry.out.find("dry run") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(dir.file("p.db")));
  }
}
