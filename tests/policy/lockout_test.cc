#include "policy/lockout.h"

#include <doctest/doctest.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>

#include "hashdb/rule_set.h"
#include "policy/facts.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

TEST_SUITE("policy.lockout") {
  TEST_CASE("must_allow executables the policy denies are reported with the rule") {
    testing::TempDir dir;
    testing::write_text(dir.file("shell"), "shell", 0755);
    testing::write_text(dir.file("sshd"), "sshd", 0755);
    char buf[PATH_MAX];
    REQUIRE(::realpath(dir.path().c_str(), buf));
    const std::string base = buf;
    hashdb::PolicyContent c;
    c.hash_rules.push_back({hashdb::sha256_bytes(std::string("shell")), hashdb::Action::kAllow, "", "", {}, "", ""});
    hashdb::MemoryRuleSet rules(c);
    auto candidates = lockout_candidates({dir.file("shell"), dir.file("sshd"), dir.file("missing")}, false);
    CHECK(candidates == std::vector<std::string>{base + "/shell", base + "/sshd"});
    auto hits = find_lockouts(rules, {}, candidates);
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].path == base + "/sshd");
    CHECK(hits[0].rule == "default-deny");
    CHECK(describe_lockouts(hits) == base + "/sshd (default-deny)");
  }

  TEST_CASE("the daemon's own executable is always a candidate") {
    char self[PATH_MAX];
    REQUIRE(::realpath("/proc/self/exe", self));
    auto candidates = lockout_candidates({});
    CHECK(std::find(candidates.begin(), candidates.end(), std::string(self)) != candidates.end());
  }

  TEST_CASE("facts gather the ownership chain up to the root") {
    testing::TempDir dir;
    testing::write_text(dir.file("f"), "x", 0755);
    auto facts = policy::collect_path_facts(dir.file("f"), {});
    REQUIRE(facts);
    REQUIRE(facts->facts.chain.size() >= 3);
    CHECK(facts->facts.chain.back().path == "/");
    CHECK(facts->facts.sha256 == hashdb::sha256_bytes(std::string("x")));
  }
}
