// Runs the built `tollgate` binary as an admin would.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include "hashdb/writer.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using testing::run;

namespace {
std::string tollgate_bin() { return testing::built_binary("tollgate"); }
}  // namespace

TEST_SUITE("tools.cli") {
  TEST_CASE("tollgate hash matches sha256sum byte for byte") {
    testing::TempDir dir;
    testing::write_text(dir.file("a"), "alpha");
    testing::write_text(dir.file("empty"), "");
    testing::write_text(dir.file("back\\slash"), "odd name");
    testing::write_text(dir.file("new\nline"), "odder name");
    std::string big(5 << 20, 'z');
    testing::write_text(dir.file("big"), big);
    std::vector<std::string> files = {dir.file("a"),         dir.file("empty"), dir.file("back\\slash"),
                                      dir.file("new\nline"), dir.file("big"),   "/bin/sh"};
    std::vector<std::string> ours = {tollgate_bin(), "hash"};
    std::vector<std::string> theirs = {"sha256sum"};
    ours.insert(ours.end(), files.begin(), files.end());
    theirs.insert(theirs.end(), files.begin(), files.end());
    auto a = run(ours);
    auto b = run(theirs);
    CHECK(a.exit_code == 0);
    CHECK(b.exit_code == 0);
    CHECK(a.out == b.out);

    auto stdin_hash = run({tollgate_bin(), "hash", "-"}, 10, "alpha");
    auto stdin_ref = run({"sha256sum", "-"}, 10, "alpha");
    CHECK(stdin_hash.out == stdin_ref.out);
  }

  TEST_CASE("tollgate hash of a missing file names it and exits 3") {
    auto r = run({tollgate_bin(), "hash", "/nonexistent/file"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("/nonexistent/file") != std::string::npos);
  }

  TEST_CASE("keygen writes a private key only its owner can read, and db verify uses the public key") {
    testing::TempDir dir;
    auto r = run({tollgate_bin(), "keygen", "--out", dir.file("k")});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    struct stat st {};
    REQUIRE(::stat(dir.file("k.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(testing::read_text(dir.file("k.pub")).find("BEGIN PUBLIC KEY") != std::string::npos);
    CHECK(run({tollgate_bin(), "keygen", "--out", dir.file("k")}).exit_code != 0);  // no silent overwrite

    auto key = hashdb::load_private_key(dir.file("k.key"));
    REQUIRE(key);
    hashdb::PolicyContent content;
    content.hash_rules.push_back({hashdb::sha256_bytes(std::string("x")), hashdb::Action::kAllow, "x", "", {}, "", ""});
    REQUIRE(hashdb::write_database(dir.file("p.db"), content, {.generation = 4, .signing_key = *key}));

    auto ok = run({tollgate_bin(), "db", "verify", dir.file("p.db"), "--pubkey", dir.file("k.pub")});
    CHECK_MESSAGE(ok.exit_code == 0, ok.err);
    CHECK(ok.out.find("generation 4") != std::string::npos);

    REQUIRE(run({tollgate_bin(), "keygen", "--out", dir.file("other")}).exit_code == 0);
    auto wrong = run({tollgate_bin(), "db", "verify", dir.file("p.db"), "--pubkey", dir.file("other.pub")});
    CHECK(wrong.exit_code == 4);
    CHECK(wrong.err.find(dir.file("p.db")) != std::string::npos);

    testing::write_text(dir.file("junk.db"), "junk");
    auto junk = run({tollgate_bin(), "db", "verify", dir.file("junk.db"), "--pubkey", dir.file("k.pub")});
    CHECK(junk.exit_code == 4);
    CHECK(std::count(junk.err.begin(), junk.err.end(), '\n') == 1);

    auto dump = run({tollgate_bin(), "db", "dump", dir.file("p.db"), "--json"});
    CHECK(dump.exit_code == 0);
    CHECK(dump.out.find(hashdb::to_hex(hashdb::sha256_bytes(std::string("x")))) != std::string::npos);
    CHECK(dump.out.find("\"generation\": \"4\"") != std::string::npos);
  }

  TEST_CASE("usage errors exit 2 and help lists every command") {
    CHECK(run({tollgate_bin(), "no-such-command"}).exit_code == 2);
    CHECK(run({tollgate_bin(), "hash"}).exit_code == 2);
    auto help = run({tollgate_bin(), "help"});
    CHECK(help.exit_code == 0);
    for (const char* cmd : {"hash", "keygen", "db"}) CHECK(help.out.find(cmd) != std::string::npos);
    auto version = run({tollgate_bin(), "--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.find("tollgate ") == 0);
  }
}
