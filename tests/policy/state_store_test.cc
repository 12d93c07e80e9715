#include "policy/state_store.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "hashdb/keys.h"
#include "hashdb/writer.h"
#include "policy/policy_gate.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

const std::string kDigest(64, 'a');

}  // namespace

TEST_SUITE("policy.state_store") {
  TEST_CASE("prepare creates a root-only directory and refuses one others could write or a symlink") {
    testing::TempDir dir;
    StateStore fresh(dir.file("state"));
    REQUIRE(fresh.prepare());
    CHECK(mode_of(dir.file("state")) == 0700);
    CHECK(fresh.prepare());  // idempotent

    REQUIRE(::mkdir(dir.file("open").c_str(), 0700) == 0);
    REQUIRE(::chmod(dir.file("open").c_str(), 0777) == 0);
    auto open = StateStore(dir.file("open")).prepare();
    REQUIRE_FALSE(open);
    CHECK(open.error().code() == ErrorCode::kPermission);
    CHECK(open.error().message().find("writable by group or others") != std::string::npos);

    REQUIRE(::symlink(dir.file("state").c_str(), dir.file("link").c_str()) == 0);
    auto link = StateStore(dir.file("link")).prepare();
    REQUIRE_FALSE(link);
    CHECK(link.error().message().find("not a directory") != std::string::npos);

    CHECK_FALSE(StateStore(dir.file("no/such/parent")).prepare());
    CHECK_FALSE(StateStore("relative/state").prepare());
  }

  TEST_CASE("the floor round-trips through a 0600 state file; no file means no floor") {
    testing::TempDir dir;
    StateStore state(dir.file("state"));
    REQUIRE(state.prepare());
    auto none = state.load();
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    REQUIRE(state.save({7, kDigest}, "/var/lib/tollgate/policy.db"));
    CHECK(mode_of(state.state_file()) == 0600);
    auto loaded = state.load();
    REQUIRE(loaded);
    REQUIRE(loaded->has_value());
    CHECK(**loaded == Floor{7, kDigest});
    REQUIRE(state.save({8, std::string(64, 'b')}, "x"));
    CHECK(state.load()->value().generation == 8);
  }

  TEST_CASE("a damaged state file is reported as corrupt, never as 'no floor'") {
    testing::TempDir dir;
    StateStore state(dir.file("state"));
    REQUIRE(state.prepare());
    const char* cases[] = {
        "",
        "not json",
        "[]",
        R"({"generation": 7, "content_digest": "aaaa"})",
        R"({"format": 2, "generation": 7, "content_digest": ")"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        R"("})",
        R"({"format": 1, "content_digest": ")"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        R"("})",
        R"({"format": 1, "generation": -1, "content_digest": ")"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        R"("})",
        R"({"format": 1, "generation": "7", "content_digest": ")"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        R"("})",
        R"({"format": 1, "generation": 7, "content_digest": "not hex"})",
    };
    for (const char* text : cases) {
      CAPTURE(text);
      testing::write_text(state.state_file(), text, 0600);
      auto loaded = state.load();
      REQUIRE_FALSE(loaded);
      CHECK(loaded.error().code() == ErrorCode::kCorrupt);
      CHECK(loaded.error().message().starts_with(state.state_file() + ": corrupt state file"));
    }
    REQUIRE(state.set_aside());
    CHECK(::access(state.state_file().c_str(), F_OK) != 0);
    CHECK(::access((state.state_file() + ".corrupt").c_str(), F_OK) == 0);
  }
}

TEST_SUITE("policy.policy_gate.floor") {
  // A state dir with a signed last-known-good copy at `generation`.
  struct Site {
    testing::TempDir dir;
    hashdb::KeyPair key = *hashdb::generate_keypair();
    std::string pub = dir.file("signing.pub");
    std::string db = dir.file("policy.db");
    std::string state_dir = dir.file("state");

    Site() {
      testing::write_text(pub, key.public_key.pem);
      REQUIRE(StateStore(state_dir).prepare());
    }
    PolicyGate gate() const { return PolicyGate::make(db, state_dir, pub); }
    std::string write_lkg(uint64_t generation) {
      auto written = hashdb::write_database(StateStore(state_dir).lkg_file(), hashdb::PolicyContent{},
                                            {.generation = generation, .signing_key = key.private_key});
      REQUIRE(written);
      return hashdb::to_hex(written->content_digest);
    }
  };

  TEST_CASE("first start: no state file and no last-known-good copy is floor 0 without a problem") {
    Site site;
    auto floor = resolve_floor(site.gate());
    CHECK(floor.floor == Floor{});
    CHECK(floor.problem.empty());
  }

  TEST_CASE("the persisted floor wins when the state file is sound") {
    Site site;
    auto gate = site.gate();
    site.write_lkg(3);
    REQUIRE(gate.state().save({9, kDigest}, site.db));
    auto floor = resolve_floor(gate);
    CHECK(floor.floor == Floor{9, kDigest});
    CHECK(floor.problem.empty());
  }

  TEST_CASE("a corrupt state file falls back to the last-known-good generation, loudly, and is kept aside") {
    Site site;
    auto gate = site.gate();
    std::string digest = site.write_lkg(5);
    testing::write_text(gate.state().state_file(), "{\"format\": 1, \"generation\": ", 0600);
    auto floor = resolve_floor(gate);
    CHECK(floor.floor == Floor{5, digest});
    CHECK(floor.problem.find("corrupt state file") != std::string::npos);
    CHECK(floor.problem.find("moved to state.json.corrupt") != std::string::npos);
    CHECK(floor.problem.find("last-known-good copy's generation 5") != std::string::npos);
    CHECK(::access((gate.state().state_file() + ".corrupt").c_str(), F_OK) == 0);
  }

  TEST_CASE("a missing state file beside a last-known-good copy is a problem, not a first start") {
    Site site;
    site.write_lkg(4);
    auto floor = resolve_floor(site.gate());
    CHECK(floor.floor.generation == 4);
    CHECK(floor.problem.find("is missing although") != std::string::npos);
  }

  TEST_CASE("corrupt state and an unusable last-known-good copy: the floor is unknown and says so") {
    Site site;
    auto gate = site.gate();
    testing::write_text(gate.state().lkg_file(), "garbage", 0600);
    testing::write_text(gate.state().state_file(), "garbage", 0600);
    auto floor = resolve_floor(gate);
    CHECK(floor.floor == Floor{});
    CHECK(floor.problem.find("the rollback floor is unknown") != std::string::npos);
  }

  TEST_CASE("a last-known-good copy signed by another key does not set the floor") {
    Site site;
    auto other = hashdb::generate_keypair();
    REQUIRE(hashdb::write_database(StateStore(site.state_dir).lkg_file(), hashdb::PolicyContent{},
                                   {.generation = 50, .signing_key = other->private_key}));
    testing::write_text(StateStore(site.state_dir).state_file(), "garbage", 0600);
    auto floor = resolve_floor(site.gate());
    CHECK(floor.floor.generation == 0);
    CHECK(floor.problem.find("not by the expected key") != std::string::npos);
  }

  TEST_CASE("an unusable state_dir is a problem: no floor can be kept") {
    Site site;
    REQUIRE(::chmod(site.state_dir.c_str(), 0777) == 0);
    auto gate = site.gate();
    CHECK_FALSE(gate.state_usable());
    auto floor = resolve_floor(gate);
    CHECK(floor.problem.find("state_dir is unusable") != std::string::npos);
  }
}
