#include "policy/policy_gate.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "hashdb/sha256.h"
#include "hashdb/writer.h"
#include "policy/lockout.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// A live database path, a state dir, a pinned key, and a "must_allow"
// executable (any regular file: lockout decides by hash).
struct Site {
  testing::TempDir dir;
  hashdb::KeyPair key = *hashdb::generate_keypair();
  std::string pub = dir.file("signing.pub");
  std::string db = dir.file("policy.db");
  std::string sshd = dir.file("sshd");

  Site() {
    testing::write_text(pub, key.public_key.pem);
    testing::write_text(sshd, "pretend sshd", 0755);
  }
  PolicyGate gate() const { return PolicyGate::make(db, dir.file("state"), pub); }
  AdmitOptions enforce() const {
    return {.check_lockout = true, .lockout_candidates = lockout_candidates({sshd}, false)};
  }

  // A signed database at `path` allowing sshd (or not), `extra` distinguishes contents.
  std::string write(const std::string& path, uint64_t generation, bool allow_sshd = true, const std::string& extra = "",
                    const hashdb::PrivateKey* signer = nullptr) {
    hashdb::PolicyContent c;
    if (allow_sshd)
      c.hash_rules.push_back({*hashdb::sha256_path(sshd), hashdb::Action::kAllow, "sshd", "", {}, "", ""});
    if (!extra.empty())
      c.hash_rules.push_back({hashdb::sha256_bytes(extra), hashdb::Action::kAllow, extra, "", {}, "", ""});
    hashdb::WriteOptions opts{.generation = generation};
    opts.signing_key = signer ? *signer : key.private_key;
    auto written = hashdb::write_database(path, c, opts);
    REQUIRE_MESSAGE(written, (written ? "" : written.error().message()));
    return hashdb::to_hex(written->content_digest);
  }
};

}  // namespace

TEST_SUITE("policy.policy_gate") {
  TEST_CASE("the floor and the lockout check, table-driven") {
    Site site;
    std::string digest_a = site.write(site.db, 5, true, "a");
    std::string digest_b = site.write(site.dir.file("b.db"), 5, true, "b");
    auto a = hashdb::PolicyStore::open(site.db);
    REQUIRE(a);
    struct Case {
      const char* name;
      Floor floor;
      AdmitOptions options;
      const char* error;  // "" = admitted
    };
    const Case cases[] = {
        {"first start", {}, {}, ""},
        {"newer than the floor", {4, digest_b}, {}, ""},
        {"same generation, same rules", {5, digest_a}, {}, ""},
        {"same generation, other rules", {5, digest_b}, {}, "was already accepted with content digest"},
        {"older than the floor", {6, digest_b}, {}, "generation 5 is older than generation 6 already accepted"},
        {"older, but a deliberate rollback", {6, digest_b}, {.allow_older = true}, ""},
        {"enforce, sshd allowed", {}, site.enforce(), ""},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      auto st = check_admissible(**a, "live.db", c.floor, c.options);
      if (std::string(c.error).empty()) {
        CHECK_MESSAGE(st, (st ? "" : st.error().message()));
      } else {
        REQUIRE_FALSE(st);
        CHECK(st.error().message().starts_with("live.db: "));
        CHECK(st.error().message().find(c.error) != std::string::npos);
      }
    }
    site.write(site.db, 6, /*allow_sshd=*/false);
    auto locked = hashdb::PolicyStore::open(site.db);
    REQUIRE(locked);
    auto st = check_admissible(**locked, "live.db", {}, site.enforce());
    REQUIRE_FALSE(st);
    CHECK(st.error().message().find("refused in enforce mode: it would deny") != std::string::npos);
    CHECK(st.error().message().find("sshd (default-deny)") != std::string::npos);
    CHECK(check_admissible(**locked, "live.db", {}, {}));  // audit: no lockout check
  }

  TEST_CASE("admission verifies a private copy and names the file handed in") {
    Site site;
    auto gate = site.gate();
    REQUIRE(gate.state_usable());
    REQUIRE(gate.key_pinned());

    SUBCASE("signed by the pinned key") {
      std::string digest = site.write(site.db, 3);
      auto admitted = gate.admit(site.db, {}, site.enforce());
      REQUIRE_MESSAGE(admitted, (admitted ? "" : admitted.error().message()));
      CHECK(admitted->floor == Floor{3, digest});
      REQUIRE(admitted->copy);
      CHECK(admitted->copy->temp_path().starts_with(gate.state().lkg_file() + ".tmp."));
      CHECK(admitted->store->path() == admitted->copy->temp_path());
    }
    SUBCASE("signed by another key") {
      auto other = hashdb::generate_keypair();
      site.write(site.db, 3, true, "", &other->private_key);
      auto admitted = gate.admit(site.db, {}, {});
      REQUIRE_FALSE(admitted);
      CHECK(admitted.error().message().starts_with(site.db + ": signed by key"));
    }
    SUBCASE("unsigned") {
      REQUIRE(hashdb::write_database(site.db, {}, {.generation = 3}));
      auto admitted = gate.admit(site.db, {}, {});
      REQUIRE_FALSE(admitted);
      CHECK(admitted.error().message() == site.db + ": database is not signed, but a signature is required");
    }
    SUBCASE("not a database") {
      testing::write_text(site.db, std::string(8192, 'x'));
      auto admitted = gate.admit(site.db, {}, {});
      REQUIRE_FALSE(admitted);
      CHECK(admitted.error().message().starts_with(site.db + ": "));
      CHECK(admitted.error().message().find(".tmp.") == std::string::npos);
    }
    SUBCASE("a FIFO is refused at once") {
      REQUIRE(::mkfifo(site.db.c_str(), 0600) == 0);
      auto start = std::chrono::steady_clock::now();
      auto admitted = gate.admit(site.db, {}, {});
      REQUIRE_FALSE(admitted);
      CHECK(admitted.error().message() == site.db + ": not a regular file");
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
    }
    SUBCASE("missing") {
      auto admitted = gate.admit(site.db, {}, {});
      REQUIRE_FALSE(admitted);
      CHECK(admitted.error().code() == ErrorCode::kNotFound);
    }
    // Whatever went wrong, no temporary copy is left behind.
    CHECK(testing::run({"sh", "-c", "ls " + gate.state().dir() + " | grep -c tmp"}).out == "0\n");
  }

  TEST_CASE("a public key that cannot be loaded at start refuses every database") {
    Site site;
    site.write(site.db, 1);
    auto gate = PolicyGate::make(site.db, site.dir.file("state"), site.dir.file("missing.pub"));
    CHECK_FALSE(gate.key_pinned());
    auto admitted = gate.admit(site.db, {}, {});
    REQUIRE_FALSE(admitted);
    CHECK(admitted.error().message().find("public_key could not be loaded at start") != std::string::npos);
  }

  TEST_CASE("a refused candidate leaves the live database byte-identical and is kept as .refused") {
    Site site;
    auto gate = site.gate();
    site.write(site.db, 4);
    const std::string live = testing::read_text(site.db);
    site.write(candidate_path(site.db), 5, /*allow_sshd=*/false);  // would lock out sshd
    auto done = install_candidate(gate, {4, ""}, site.enforce());
    REQUIRE_FALSE(done);
    CHECK(done.error().message().find("candidate refused (kept as " + refused_path(site.db) + ")") == 0);
    CHECK(done.error().message().find("sshd (default-deny)") != std::string::npos);
    CHECK(testing::read_text(site.db) == live);
    CHECK_FALSE(exists(candidate_path(site.db)));
    CHECK(exists(refused_path(site.db)));
    CHECK_FALSE(exists(gate.state().state_file()));
    CHECK_FALSE(exists(gate.state().lkg_file()));

    site.write(candidate_path(site.db), 3);  // older than the floor
    auto older = install_candidate(gate, {4, ""}, site.enforce());
    REQUIRE_FALSE(older);
    CHECK(older.error().message().find("generation 3 is older than generation 4") != std::string::npos);
    CHECK(testing::read_text(site.db) == live);
  }

  TEST_CASE("an accepted candidate becomes the live database, the last-known-good copy and the floor") {
    Site site;
    auto gate = site.gate();
    site.write(site.db, 1);
    std::string digest = site.write(candidate_path(site.db), 2, true, "new");
    const std::string bytes = testing::read_text(candidate_path(site.db));
    auto done = install_candidate(gate, {1, ""}, site.enforce());
    REQUIRE_MESSAGE(done, (done ? "" : done.error().message()));
    CHECK(done->warning.empty());
    CHECK(done->admitted.floor == Floor{2, digest});
    CHECK(testing::read_text(site.db) == bytes);
    CHECK(testing::read_text(gate.state().lkg_file()) == bytes);
    CHECK_FALSE(exists(candidate_path(site.db)));
    auto floor = gate.state().load();
    REQUIRE(floor);
    CHECK(**floor == Floor{2, digest});
    // The store stays usable after its file was renamed into place.
    CHECK(done->admitted.store->find_hash(hashdb::sha256_bytes(std::string("new"))).value().has_value());
  }

  TEST_CASE("a deliberate rollback installs an older generation and lowers the floor") {
    Site site;
    auto gate = site.gate();
    std::string old_digest = site.write(site.dir.file("gen2.db"), 2);
    site.write(candidate_path(site.db), 7);
    REQUIRE(install_candidate(gate, {}, {}));
    REQUIRE(gate.state().load()->value().generation == 7);
    CHECK_FALSE(install_candidate(gate, {7, ""}, {}));  // no candidate there: refused, nothing changes

    auto back = install_rollback(gate, site.dir.file("gen2.db"), site.enforce());
    REQUIRE_MESSAGE(back, (back ? "" : back.error().message()));
    CHECK(back->admitted.floor == Floor{2, old_digest});
    CHECK(**gate.state().load() == Floor{2, old_digest});
    CHECK(testing::read_text(site.db) == testing::read_text(site.dir.file("gen2.db")));
    CHECK(exists(site.dir.file("gen2.db")));  // left where it was

    // A rollback still needs the key and passes the lockout check.
    site.write(site.dir.file("locked.db"), 1, /*allow_sshd=*/false);
    auto locked = install_rollback(gate, site.dir.file("locked.db"), site.enforce());
    REQUIRE_FALSE(locked);
    CHECK(locked.error().message().starts_with("rollback refused: "));
    auto other = hashdb::generate_keypair();
    site.write(site.dir.file("foreign.db"), 1, true, "", &other->private_key);
    CHECK_FALSE(install_rollback(gate, site.dir.file("foreign.db"), {}));
    CHECK(**gate.state().load() == Floor{2, old_digest});
  }
}
