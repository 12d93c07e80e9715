#include "policy/manifest.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/time.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

namespace {

const std::string kHashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

// Loads `text` written as DIR/m.yaml; returns the error message ("" on success).
std::string errors_of(const testing::TempDir& dir, const std::string& text) {
  testing::write_text(dir.file("m.yaml"), text);
  auto m = load_manifest(dir.file("m.yaml"));
  if (m) return "";
  CHECK(m.error().code() == ErrorCode::kInvalidInput);
  return m.error().message();
}

struct ErrorCase {
  const char* what;
  std::string yaml;
  std::string expected;  // "LINE:COL: message", FILE prepended by the test
};

}  // namespace

TEST_SUITE("policy.manifest") {
  TEST_CASE("every entry kind loads with its options, locations and normalised values") {
    testing::TempDir dir;
    testing::write_text(dir.file("m.yaml"),
                        "version: 1\n"
                        "name: web\n"
                        "description: web servers\n"
                        "allow:\n"
                        "  - file: /usr/bin//ls\n"
                        "    optional: true\n"
                        "    label: ls\n"
                        "    owner: ops\n"
                        "    ticket: OPS-1\n"
                        "    expires: 2999-01-01\n"
                        "  - dir: /usr/local/bin/\n"
                        "    allow_writable: true\n"
                        "    reason: the vendor's updater writes here as uid vendor (OPS-7)\n"
                        "    recursive: false\n"
                        "    match: elf\n"
                        "    exclude: ['*.bak', tmp/*]\n"
                        "  - sha256: " +
                            std::string(64, 'B') +
                            "\n"
                            "    origin: /opt/app/bin/tool\n"
                            "    label: tool\n"
                            "    approved_by: alice\n"
                            "    approved_at: 2026-12-01T10:00:00Z\n"
                            "  - path: /usr/sbin/sshd\n"
                            "  - path_prefix: /opt/vendor\n"
                            "  - package_manager: dpkg\n"
                            "    packages: [coreutils, 'libc6:amd64']\n"
                            "  - signer: keys/release.pub\n"
                            "deny:\n"
                            "  - path_prefix: /tmp/\n"
                            "  - sha256: " +
                            kHashA + "\n");
    auto m = load_manifest(dir.file("m.yaml"));
    REQUIRE_MESSAGE(m, m.error().message());
    const std::string file = dir.file("m.yaml");
    CHECK(m->name == "web");
    CHECK(m->description == "web servers");
    CHECK(m->root_file == file);
    REQUIRE(m->entries.size() == 9);
    const auto& e = m->entries;
    CHECK(e[0].kind == EntryKind::kFile);
    CHECK(e[0].value == "/usr/bin/ls");
    CHECK(e[0].optional);
    CHECK(e[0].label == "ls");
    CHECK(e[0].owner == "ops");
    CHECK(e[0].ticket == "OPS-1");
    CHECK(e[0].expires_at);
    CHECK_FALSE(e[0].expired(0));
    CHECK(e[0].where.to_string() == file + ":5:5");
    CHECK(e[1].kind == EntryKind::kDir);
    CHECK(e[1].value == "/usr/local/bin");
    CHECK_FALSE(e[1].recursive);
    CHECK(e[1].match == DirMatch::kElf);
    CHECK(e[1].exclude == std::vector<std::string>{"*.bak", "tmp/*"});
    CHECK(e[1].allow_writable);
    CHECK(e[1].writable_reason == "the vendor's updater writes here as uid vendor (OPS-7)");
    CHECK_FALSE(e[0].allow_writable);
    CHECK(e[2].kind == EntryKind::kSha256);
    CHECK(e[2].value == std::string(64, 'b'));
    CHECK(e[2].origin == "/opt/app/bin/tool");
    CHECK(e[2].approved_by == "alice");
    CHECK(e[2].approved_at == "2026-12-01T10:00:00Z");
    CHECK(e[3].kind == EntryKind::kPath);
    CHECK(e[3].value == "/usr/sbin/sshd");
    CHECK(e[4].kind == EntryKind::kPathPrefix);
    CHECK(e[4].value == "/opt/vendor/");
    CHECK(e[5].kind == EntryKind::kPackageManager);
    CHECK(e[5].packages == std::vector<std::string>{"coreutils", "libc6:amd64"});
    CHECK(e[6].kind == EntryKind::kSigner);
    CHECK(e[6].value == dir.path() + "/keys/release.pub");
    CHECK(e[7].action == hashdb::Action::kDeny);
    CHECK(e[7].value == "/tmp/");
    CHECK(e[8].action == hashdb::Action::kDeny);
    CHECK(e[8].where.line == 29);
  }

  TEST_CASE("every validation error carries FILE:LINE:COL") {
    const std::vector<ErrorCase> cases = {
        {"unknown top-level key", "version: 1\nallwo: []\n", "2:1: unknown key 'allwo'; did you mean 'allow'?"},
        {"unknown entry key", "version: 1\nallow:\n  - file: /bin/ls\n    lable: x\n",
         "4:5: unknown key 'lable'; did you mean 'label'?"},
        {"key of another kind", "version: 1\nallow:\n  - file: /bin/ls\n    recursive: true\n",
         "4:5: 'recursive' does not apply to a 'file' entry"},
        {"relative path", "version: 1\nallow:\n  - file: bin/ls\n",
         "3:11: 'file' must be an absolute path (got 'bin/ls')"},
        {"dot-dot in a path", "version: 1\ndeny:\n  - path_prefix: /tmp/../etc\n",
         "3:18: 'path_prefix' must not contain '.' or '..' components (got '/tmp/../etc')"},
        {"bad hex", "version: 1\ndeny:\n  - sha256: abc\n", "3:13: 'sha256' must be 64 hex digits (got 'abc')"},
        {"a label claiming dpkg verification", "version: 1\nallow:\n  - file: /x\n    label: dpkg:coreutils\n",
         "4:12: 'label' may not contain 'dpkg:' (reserved for rules of the dpkg trust source)"},
        {"bad date", "version: 1\nallow:\n  - path: /x\n    expires: 2026-02-30\n",
         "4:14: 'expires' must be an RFC 3339 date such as 2026-12-31 or 2026-12-31T23:59:59Z (got '2026-02-30')"},
        {"bad approved_at", "version: 1\nallow:\n  - path: /x\n    approved_at: yesterday\n",
         "4:18: 'approved_at' must be an RFC 3339 date such as 2026-12-31 or 2026-12-31T23:59:59Z (got "
         "'yesterday')"},
        {"wrong type for a bool", "version: 1\nallow:\n  - file: /x\n    optional: maybe\n",
         "4:15: 'optional' must be true or false"},
        {"wrong type for a string", "version: 1\nallow:\n  - path: [a]\n", "3:11: 'path' must be a string"},
        {"denied signer", "version: 1\ndeny:\n  - signer: k.pub\n",
         "3:5: 'signer' entries can only be allowed, not denied"},
        {"denied package manager", "version: 1\ndeny:\n  - package_manager: dpkg\n",
         "3:5: 'package_manager' entries can only be allowed, not denied"},
        {"two kinds in one entry", "version: 1\nallow:\n  - file: /a\n    dir: /b\n",
         "4:5: an entry has exactly one kind; 'dir' conflicts with 'file' at FILE:3:5"},
        {"no kind", "version: 1\nallow:\n  - label: x\n",
         "3:5: the entry needs one of: file, dir, sha256, path, path_prefix, package_manager, signer"},
        {"misspelt kind", "version: 1\nallow:\n  - fiel: /bin/ls\n", "3:5: unknown key 'fiel'; did you mean 'file'?"},
        {"entry not a map", "version: 1\nallow:\n  - /bin/ls\n",
         "3:5: an entry must be a mapping such as 'file: /usr/bin/tool'"},
        {"list not a list", "version: 1\nallow: /bin/ls\n", "2:8: 'allow' must be a list of entries"},
        {"unsupported version", "version: 2\n", "1:10: unsupported manifest version; this tollgate reads 'version: 1'"},
        {"missing version", "name: x\n", "1:1: missing 'version: 1' at the top of the root manifest"},
        {"unknown package manager", "version: 1\nallow:\n  - package_manager: rpm\n",
         "3:22: unsupported package manager 'rpm'; supported: dpkg"},
        {"bad package name", "version: 1\nallow:\n  - package_manager: dpkg\n    packages: [Bad_Name]\n",
         "4:15: 'Bad_Name' is not a Debian package name"},
        {"match typo", "version: 1\nallow:\n  - dir: /usr/bin\n    match: executable\n",
         "4:12: 'match' must be executables, elf or all (got 'executable'); did you mean 'executables'?"},
        {"duplicate key", "version: 1\nallow:\n  - path: /a\n    label: x\n    label: y\n",
         "5:5: duplicate key 'label'"},
        {"allow_writable without a reason", "version: 1\nallow:\n  - dir: /srv/drop\n    allow_writable: true\n",
         "4:5: 'allow_writable: true' needs a 'reason:' saying why files an unprivileged user can change may be "
         "trusted"},
        {"allow_writable with an empty reason",
         "version: 1\nallow:\n  - file: /srv/x\n    allow_writable: true\n"
         "    reason: ' '\n",
         "5:13: 'reason' must not be empty"},
        {"a reason without allow_writable", "version: 1\nallow:\n  - dir: /srv/drop\n    reason: vendor drops here\n",
         "4:5: 'reason' explains 'allow_writable: true'; add that, or remove 'reason'"},
        {"allow_writable on a deny",
         "version: 1\ndeny:\n  - dir: /srv/drop\n    allow_writable: true\n"
         "    reason: x\n",
         "4:5: 'allow_writable' applies to allow entries only (a deny needs no ownership check)"},
        {"allow_writable on a hash", "version: 1\nallow:\n  - sha256: " + kHashA + "\n    allow_writable: true\n",
         "4:5: 'allow_writable' does not apply to a 'sha256' entry"},
        {"allow_writable not a bool",
         "version: 1\nallow:\n  - dir: /srv/drop\n    allow_writable: yes please\n"
         "    reason: x\n",
         "4:21: 'allow_writable' must be true or false"},
        {"hash allowed and denied",
         "version: 1\nallow:\n  - sha256: " + kHashA + "\ndeny:\n  - sha256: " + kHashA + "\n",
         "5:5: hash " + kHashA + " is denied here but allowed at FILE:3:5"},
        {"yaml syntax error", "version: 1\nallow: [\n", "3:1: end of sequence flow not found"},
        {"missing include", "version: 1\ninclude: [nothere.yaml]\n",
         "2:11: included manifest 'DIR/nothere.yaml' does not exist (write {path: ..., optional: true} if it may be "
         "absent)"},
        {"empty root", "", "1:1: empty manifest; a root manifest starts with 'version: 1'"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      testing::TempDir dir;
      const std::string file = dir.file("m.yaml");
      std::string expected = file + ":" + c.expected;
      for (std::string token : {"FILE", "DIR"}) {
        const std::string value = token == "FILE" ? file : dir.path();
        for (size_t p; (p = expected.find(token)) != std::string::npos;) expected.replace(p, token.size(), value);
      }
      CHECK(errors_of(dir, c.yaml) == expected);
    }
  }

  TEST_CASE("all errors of a run are reported, up to the cap") {
    testing::TempDir dir;
    std::string yaml = "version: 1\nallow:\n";
    for (int i = 0; i < 60; ++i) yaml += "  - file: relative" + std::to_string(i) + "\n";
    std::string msg = errors_of(dir, yaml);
    size_t lines = static_cast<size_t>(std::count(msg.begin(), msg.end(), '\n')) + 1;
    CHECK(lines == 51);
    CHECK(msg.find(dir.file("m.yaml") + ":3:11: 'file' must be an absolute path (got 'relative0')") == 0);
    CHECK(msg.find(dir.file("m.yaml") + ":52:11:") != std::string::npos);
    CHECK(msg.ends_with("... and 10 more errors"));
  }

  TEST_CASE("includes expand globs in order, tolerate empty approval files and reject cycles") {
    testing::TempDir dir;
    std::filesystem::create_directories(dir.file("conf.d"));
    testing::write_text(dir.file("conf.d/b.yaml"), "allow:\n  - path: /b\n");
    testing::write_text(dir.file("conf.d/a.yaml"), "version: 1\nallow:\n  - path: /a\n");
    testing::write_text(dir.file("approvals.yaml"), "");
    testing::write_text(dir.file("approvals2.yaml"), "allow: []\n");
    testing::write_text(dir.file("approvals3.yaml"), "[]\n");
    testing::write_text(dir.file("m.yaml"),
                        "version: 1\n"
                        "include:\n"
                        "  - conf.d/*.yaml\n"
                        "  - empty.d/*.yaml\n"
                        "  - approvals.yaml\n"
                        "  - approvals2.yaml\n"
                        "  - approvals3.yaml\n"
                        "  - {path: not-yet.yaml, optional: true}\n"
                        "  - conf.d/a.yaml\n"
                        "allow:\n"
                        "  - path: /root\n");
    auto m = load_manifest(dir.file("m.yaml"));
    REQUIRE_MESSAGE(m, m.error().message());
    REQUIRE(m->entries.size() == 3);
    CHECK(m->entries[0].value == "/a");
    CHECK(m->entries[0].where.to_string() == dir.file("conf.d/a.yaml") + ":3:5");
    CHECK(m->entries[1].value == "/b");
    CHECK(m->entries[2].value == "/root");
    CHECK(m->files.size() == 6);

    // a -> b -> a
    testing::write_text(dir.file("c1.yaml"), "version: 1\ninclude: [c2.yaml]\n");
    testing::write_text(dir.file("c2.yaml"), "include:\n  - c1.yaml\n");
    auto cyc = load_manifest(dir.file("c1.yaml"));
    REQUIRE_FALSE(cyc);
    CHECK(cyc.error().message() == dir.file("c2.yaml") + ":2:5: include cycle: " + dir.file("c1.yaml") + " -> " +
                                       dir.file("c2.yaml") + " -> " + dir.file("c1.yaml"));

    // Errors inside an included file name that file.
    testing::write_text(dir.file("bad.yaml"), "allow:\n  - file: nope\n");
    testing::write_text(dir.file("root.yaml"), "version: 1\ninclude: [bad.yaml]\n");
    auto bad = load_manifest(dir.file("root.yaml"));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() == dir.file("bad.yaml") + ":2:11: 'file' must be an absolute path (got 'nope')");
  }

  TEST_CASE("a missing root manifest is a not-found error naming it") {
    auto m = load_manifest("/nonexistent/tollgate/policy.yaml");
    REQUIRE_FALSE(m);
    CHECK(m.error().code() == ErrorCode::kNotFound);
    CHECK(m.error().message().find("/nonexistent/tollgate/policy.yaml") != std::string::npos);
  }

  TEST_CASE("RFC 3339 dates parse to UTC seconds and bad ones are refused") {
    CHECK(parse_rfc3339("1970-01-01") == 0);
    CHECK(parse_rfc3339("1970-01-02T00:00:00Z") == 86400);
    CHECK(parse_rfc3339("2026-12-01T10:00:00Z") == 1796119200);
    CHECK(parse_rfc3339("2026-12-01T12:00:00+02:00") == 1796119200);
    CHECK(parse_rfc3339("2026-12-01T10:00:00.250Z") == 1796119200);
    CHECK(parse_rfc3339("2024-02-29") == 1709164800);
    for (const char* bad : {"2023-02-29", "2026-13-01", "2026-12-01T10:00:00", "2026-12-01T25:00:00Z", "12/01/2026",
                            "2026-12-01T10:00Z", "", "2026-12-01Z"})
      CHECK_MESSAGE(!parse_rfc3339(bad), bad);
    CHECK_FALSE(parse_rfc3339("2026-12-01", false));
  }

  TEST_CASE("the fuzz entry point validates text without following includes") {
    auto m = load_manifest_text("version: 1\ninclude: [/nonexistent/*.yaml, /nonexistent/x.yaml]\n", "/fuzz.yaml",
                                {.follow_includes = false});
    CHECK(m);
    auto bad = load_manifest_text("version: 1\nallow: [{file: x}]\n", "/fuzz.yaml", {.follow_includes = false});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() == "/fuzz.yaml:2:16: 'file' must be an absolute path (got 'x')");
  }

  TEST_CASE("the shipped example manifests load") {
    auto m = load_manifest(testing::source_path("policy/examples/server.yaml"));
    REQUIRE_MESSAGE(m, m.error().message());
    CHECK(m->name == "web-frontend");
    CHECK(m->files.size() == 3);
    CHECK(m->entries.size() == 11);
    CHECK(m->entries.front().value == "/opt/webapp/bin");
    CHECK(m->entries[2].approved_by == "alice");
  }
}
