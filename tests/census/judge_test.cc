// The census's verdict on an executable: policy::decide_file in enforce mode.
#include "census/judge.h"

#include <doctest/doctest.h>
#include <fcntl.h>

#include "common/io.h"
#include "hashdb/rule_set.h"
#include "hashdb/sha256.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::census;

TEST_SUITE("census.judge") {
  TEST_CASE(
      "approved content is not denied; anything else is, with the rule that decided; an oversize file "
      "is not hashed") {
    testing::TempDir dir;
    testing::write_text(dir.file("approved"), "approved bytes", 0755);
    testing::write_text(dir.file("other"), "other bytes", 0755);
    hashdb::PolicyContent content;
    hashdb::HashRule allow;
    allow.sha256 = hashdb::sha256_bytes(std::string_view("approved bytes"));
    allow.action = hashdb::Action::kAllow;
    content.hash_rules.push_back(allow);
    hashdb::MemoryRuleSet rules(content);
    const std::vector<hashdb::PublicKey> keys;
    const policy::RuleView view{rules, keys, false};

    auto approved = open_fd(dir.file("approved"), O_RDONLY);
    REQUIRE(approved);
    auto j = judge_executable(approved->get(), view, 1 << 20);
    REQUIRE(j);
    CHECK_FALSE(j->denied);
    CHECK(j->rule.starts_with("hash-allow:"));
    CHECK(j->sha256 == hashdb::to_hex(allow.sha256));

    auto other = open_fd(dir.file("other"), O_RDONLY);
    REQUIRE(other);
    j = judge_executable(other->get(), view, 1 << 20);
    REQUIRE(j);
    CHECK(j->denied);
    CHECK(j->rule == "default-deny");

    auto big = open_fd(dir.file("approved"), O_RDONLY);
    REQUIRE(big);
    j = judge_executable(big->get(), view, 4);  // "approved bytes" is over 4 bytes: never hashed
    REQUIRE(j);
    CHECK(j->denied);
    CHECK(j->rule == "error:too-large");
    CHECK(j->sha256.empty());
  }
}
