#include "hashdb/store.h"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "hashdb/writer.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::hashdb;

namespace {

PolicyContent sample_content() {
  PolicyContent c;
  c.policy_name = "sample";
  for (int i = 0; i < 50; ++i) {
    HashRule r;
    r.sha256 = sha256_bytes("file " + std::to_string(i));
    r.action = i % 10 == 0 ? Action::kDeny : Action::kAllow;
    r.label = "file-" + std::to_string(i);
    r.origin_path = "/usr/bin/f" + std::to_string(i);
    r.source = {"/etc/tollgate/base.yaml", 3 + i};
    c.hash_rules.push_back(r);
  }
  c.path_rules.push_back({"/tmp/", PathMatch::kPrefix, Action::kDeny, "no tmp", {"base.yaml", 40}});
  c.path_rules.push_back({"/usr/local/bin/", PathMatch::kPrefix, Action::kAllow, "local", {"base.yaml", 41}});
  c.signers.push_back({sha256_bytes(std::string("key")), "PEM", "vendor", {"base.yaml", 50}});
  c.file_cache.push_back({"/usr/bin/f1", 100, 12345, 77, sha256_bytes(std::string("file 1"))});
  return c;
}

// Runs SQL against a database file, as an attacker with write access would.
void tamper(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, msg);
}

}  // namespace

TEST_SUITE("hashdb.store") {
  TEST_CASE("a written database reads back every rule and its meta values") {
    testing::TempDir dir;
    auto key = generate_keypair();
    REQUIRE(key);
    auto content = sample_content();
    auto written = write_database(dir.file("p.db"), content, {.generation = 7, .signing_key = key->private_key});
    REQUIRE(written);

    auto store = PolicyStore::open(dir.file("p.db"), {.public_key = &key->public_key});
    REQUIRE_MESSAGE(store, store.error().message());
    const auto& s = **store;
    CHECK(s.generation() == 7);
    CHECK(s.is_signed());
    CHECK(s.meta_value("policy_name") == "sample");
    CHECK(s.meta_value("content_digest") == to_hex(written->content_digest));
    CHECK(s.counts().hash_allow == 45);
    CHECK(s.counts().hash_deny == 5);
    CHECK(s.path_rules().size() == 2);
    CHECK(s.signers() == content.signers);

    for (const auto& rule : content.hash_rules) {
      auto found = s.find_hash(rule.sha256);
      REQUIRE(found);
      REQUIRE(found->has_value());
      CHECK(**found == rule);
    }
    auto missing = s.find_hash(sha256_bytes(std::string("nope")));
    REQUIRE(missing);
    CHECK_FALSE(missing->has_value());
    auto cache = s.file_cache();
    REQUIRE(cache);
    CHECK(*cache == content.file_cache);
  }

  TEST_CASE("the content digest depends on the rules only") {
    testing::TempDir dir;
    auto content = sample_content();
    auto a = write_database(dir.file("a.db"), content, {.generation = 1, .created_at = "2026-01-01T00:00:00Z"});
    auto reordered = content;
    std::reverse(reordered.hash_rules.begin(), reordered.hash_rules.end());
    auto b = write_database(dir.file("b.db"), reordered, {.generation = 9, .created_at = "2026-06-01T00:00:00Z"});
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->content_digest == b->content_digest);
    content.hash_rules[3].label = "changed";
    auto c = write_database(dir.file("c.db"), content, {});
    REQUIRE(c);
    CHECK(c->content_digest != a->content_digest);
  }

  TEST_CASE("verification rejects every kind of tampering") {
    testing::TempDir dir;
    auto key = generate_keypair();
    auto other = generate_keypair();
    REQUIRE(key);
    REQUIRE(other);
    const std::string golden = dir.file("golden.db");
    REQUIRE(write_database(golden, sample_content(), {.generation = 3, .signing_key = key->private_key}));

    struct Case {
      const char* name;
      std::string sql;
    };
    const Case cases[] = {
        {"changed hash rule", "UPDATE hash_rules SET action='allow' WHERE action='deny'"},
        {"added hash rule", "INSERT INTO hash_rules(sha256, action) VALUES(randomblob(32), 'allow')"},
        {"removed hash rule", "DELETE FROM hash_rules WHERE action='deny'"},
        {"changed path rule", "UPDATE path_rules SET action='allow' WHERE path='/tmp/'"},
        {"added path rule", "INSERT INTO path_rules(path, match, action) VALUES('/', 'prefix', 'allow')"},
        {"removed path rule", "DELETE FROM path_rules WHERE path='/tmp/'"},
        {"added signer", "INSERT INTO signers(key_id, pem) VALUES(randomblob(32), 'x')"},
        {"changed file cache", "UPDATE file_cache SET sha256=randomblob(32)"},
        {"changed generation", "UPDATE meta SET value='99' WHERE key='generation'"},
        {"changed policy name", "UPDATE meta SET value='evil' WHERE key='policy_name'"},
        {"added meta value", "INSERT INTO meta(key, value) VALUES('extra', '1')"},
        {"removed signature", "UPDATE meta SET value='' WHERE key='signature'"},
        {"recomputed digest", "UPDATE hash_rules SET label='x'; UPDATE meta SET value='00' WHERE key='content_digest'"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      const std::string copy = dir.file("copy.db");
      REQUIRE(testing::run({"cp", golden, copy}).exit_code == 0);
      tamper(copy, c.sql);
      auto store = PolicyStore::open(copy, {.public_key = &key->public_key});
      REQUIRE_FALSE(store);
      CHECK(store.error().message().find(copy) == 0);
      CHECK(store.error().message().find('\n') == std::string::npos);
    }

    SUBCASE("a wrong key is rejected") {
      auto store = PolicyStore::open(golden, {.public_key = &other->public_key});
      REQUIRE_FALSE(store);
      CHECK(store.error().message().find("not by the expected key") != std::string::npos);
    }
    SUBCASE("an unsigned database is rejected when a signature is required") {
      REQUIRE(write_database(dir.file("unsigned.db"), sample_content(), {}));
      auto store = PolicyStore::open(dir.file("unsigned.db"), {.public_key = &key->public_key});
      REQUIRE_FALSE(store);
      CHECK(store.error().message().find("not signed") != std::string::npos);
      CHECK(PolicyStore::open(dir.file("unsigned.db")));  // fine when no key is required
    }
    SUBCASE("a signature made by another key over the same meta is rejected") {
      const std::string copy = dir.file("resigned.db");
      REQUIRE(write_database(copy, sample_content(), {.generation = 3, .signing_key = other->private_key}));
      auto store = PolicyStore::open(copy, {.public_key = &key->public_key});
      REQUIRE_FALSE(store);
    }
  }

  TEST_CASE("files that are not policy databases get one line naming the file") {
    testing::TempDir dir;
    REQUIRE(write_database(dir.file("good.db"), sample_content(), {}));
    const std::string good = testing::read_text(dir.file("good.db"));

    struct Case {
      const char* name;
      std::string bytes;
    };
    std::string garbage(8192, 'x');
    std::string corrupted = good;
    for (size_t i = 4096; i < corrupted.size() && i < 4096 + 2000; ++i) corrupted[i] = static_cast<char>(i);
    const Case cases[] = {
        {"empty", ""},
        {"text", "hello, I am not a database\n"},
        {"garbage", garbage},
        {"truncated header", good.substr(0, 50)},
        {"truncated pages", good.substr(0, good.size() / 2)},
        {"corrupted pages", corrupted},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      const std::string path = dir.file(std::string(c.name) + ".db");
      testing::write_text(path, c.bytes);
      auto store = PolicyStore::open(path);
      REQUIRE_FALSE(store);
      CHECK(store.error().message().rfind(path, 0) == 0);
      CHECK(store.error().message().find('\n') == std::string::npos);
    }

    SUBCASE("a database of another schema version") {
      const std::string path = dir.file("v2.db");
      REQUIRE(testing::run({"cp", dir.file("good.db"), path}).exit_code == 0);
      tamper(path, "PRAGMA user_version = 2");
      auto store = PolicyStore::open(path);
      REQUIRE_FALSE(store);
      CHECK(store.error().message().find("unsupported schema version 2") != std::string::npos);
    }
    SUBCASE("a foreign SQLite database") {
      const std::string path = dir.file("foreign.db");
      tamper(path, "CREATE TABLE t(x)");
      auto store = PolicyStore::open(path);
      REQUIRE_FALSE(store);
      CHECK(store.error().message().find("schema version 0") != std::string::npos);
    }
    SUBCASE("a missing file") {
      auto store = PolicyStore::open(dir.file("absent.db"));
      REQUIRE_FALSE(store);
      CHECK(store.error().code() == ErrorCode::kNotFound);
    }
  }

  TEST_CASE("a failed write leaves the existing database byte-identical") {
    testing::TempDir dir;
    const std::string path = dir.file("p.db");
    REQUIRE(write_database(path, sample_content(), {.generation = 1}));
    const std::string before = testing::read_text(path);

    auto bad = sample_content();
    bad.hash_rules.push_back(bad.hash_rules.front());  // the same hash twice
    bad.hash_rules.back().action = Action::kDeny;
    auto result = write_database(path, bad, {.generation = 2});
    REQUIRE_FALSE(result);
    CHECK(result.error().message().find("appears twice") != std::string::npos);
    CHECK(testing::read_text(path) == before);

    auto dup_path = sample_content();
    dup_path.path_rules.push_back(dup_path.path_rules.front());
    REQUIRE_FALSE(write_database(path, dup_path, {.generation = 2}));
    CHECK(testing::read_text(path) == before);

    // No temporary files are left behind.
    auto ls = testing::run({"ls", dir.path()});
    CHECK(ls.out == "p.db\n");
  }

  TEST_CASE("writing into a missing directory fails with the path") {
    auto result = write_database("/nonexistent-dir/p.db", sample_content(), {});
    REQUIRE_FALSE(result);
    CHECK(result.error().message().find("/nonexistent-dir/p.db") != std::string::npos);
  }
}
