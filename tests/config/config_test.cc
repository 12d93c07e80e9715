#include "config/config.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::config;

TEST_SUITE("config") {
  TEST_CASE("an empty file gives every default") {
    auto c = parse_config("", "t.yaml");
    REQUIRE(c);
    CHECK(c->mode == policy::Mode::kAudit);
    CHECK(c->coverage == Coverage::kExec);
    CHECK(c->database == "/var/lib/tollgate/policy.db");
    CHECK(c->event_log == "/var/log/tollgate/events.jsonl");
    CHECK(c->socket == "/run/tollgate/tollgate.sock");
    CHECK(c->approvals == "/etc/tollgate/approvals.yaml");
    CHECK(c->manifest == "/etc/tollgate/policy.yaml");
    CHECK(c->state_dir == "/var/lib/tollgate");
    CHECK(c->watch == std::vector<std::string>{"auto"});
    // on_error unset: deny in enforce mode, allow in audit mode (issue 8: fail closed).
    CHECK_FALSE(c->on_error.has_value());
    CHECK(c->max_file_size == uint64_t{2} << 30);
    CHECK_FALSE(c->syslog);
    CHECK(c->nice == -14);
    CHECK(c->max_ignore_marks == 16384);
  }

  TEST_CASE("nice is -20..19 and max_ignore_marks 0..1048576") {
    auto c = parse_config("nice: 5\nmax_ignore_marks: 0\n", "t.yaml");
    REQUIRE(c);
    CHECK(c->nice == 5);
    CHECK(c->max_ignore_marks == 0);
    for (const char* bad :
         {"nice: -21\n", "nice: 20\n", "nice: high\n", "max_ignore_marks: -1\n", "max_ignore_marks: 2000000\n"}) {
      auto r = parse_config(bad, "t.yaml");
      REQUIRE_FALSE(r);
      CHECK(r.error().message().starts_with("t.yaml:1:"));
    }
  }

  TEST_CASE("every key is read") {
    auto c = parse_config(
        "mode: enforce\ncoverage: exec\ndatabase: /d/p.db\npublic_key: /d/k.pub\nwatch: [/srv, /opt]\n"
        "event_log: /d/e.jsonl\nsyslog: true\nsocket: /d/s.sock\nadmin_group: wheel\non_error: deny\n"
        "decision_timeout_ms: 500\nmetrics_file: /d/m.prom\nlog_allows: yes\nmanifest: /d/m.yaml\n"
        "approvals: /d/a.yaml\nsigning_key: /d/k.key\nmust_allow: [/bin/sh]\nmax_file_size: 512M\nstate_dir: "
        "/d/state\n",
        "t.yaml");
    REQUIRE(c);
    CHECK(c->mode == policy::Mode::kEnforce);
    CHECK(c->database == "/d/p.db");
    CHECK(c->public_key == "/d/k.pub");
    CHECK(c->watch == std::vector<std::string>{"/srv", "/opt"});
    CHECK(c->event_log == "/d/e.jsonl");
    CHECK(c->syslog);
    CHECK(c->socket == "/d/s.sock");
    CHECK(c->admin_group == "wheel");
    CHECK(c->on_error == policy::Verdict::kDeny);
    CHECK(c->decision_timeout_ms == 500);
    CHECK(c->metrics_file == "/d/m.prom");
    CHECK(c->log_allows);
    CHECK(c->manifest == "/d/m.yaml");
    CHECK(c->approvals == "/d/a.yaml");
    CHECK(c->signing_key == "/d/k.key");
    CHECK(c->must_allow == std::vector<std::string>{"/bin/sh"});
    CHECK(c->state_dir == "/d/state");
    CHECK(c->max_file_size == uint64_t{512} << 20);
  }

  TEST_CASE("pending_trust_ttl: 30m by default, a duration from 1s to 7d") {
    auto d = parse_config("", "t.yaml");
    REQUIRE(d);
    CHECK(d->pending_trust_ttl == std::chrono::minutes(30));
    for (auto [text, seconds] : {std::pair{"90s", 90}, {"2h", 7200}, {"1s", 1}, {"7d", 604800}}) {
      CAPTURE(text);
      auto r = parse_config(std::string("pending_trust_ttl: ") + text + "\n", "t.yaml");
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
      CHECK(r->pending_trust_ttl.count() == seconds);
    }
    for (const char* bad : {"0s", "8d", "soon", "-5m"}) {
      CAPTURE(bad);
      auto r = parse_config(std::string("pending_trust_ttl: ") + bad + "\n", "t.yaml");
      REQUIRE_FALSE(r);
      CHECK(r.error().message() == std::string("t.yaml:1:20: 'pending_trust_ttl' must be a duration from 1s to 7d "
                                               "(e.g. 30m), got '") +
                                       bad + "'");
    }
  }

  TEST_CASE("max_file_size takes bytes or K, M, G, T multiples (with or without iB)") {
    struct Case {
      const char* value;
      uint64_t bytes;
    };
    const Case cases[] = {
        {"1048576", uint64_t{1} << 20}, {"3G", uint64_t{3} << 30}, {"3GiB", uint64_t{3} << 30},
        {"2048K", uint64_t{2} << 20},   {"1T", uint64_t{1} << 40}, {"100MiB", uint64_t{100} << 20},
    };
    for (const auto& c : cases) {
      CAPTURE(c.value);
      auto r = parse_config(std::string("max_file_size: ") + c.value + "\n", "t.yaml");
      REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
      CHECK(r->max_file_size == c.bytes);
    }
    for (const char* bad : {"1023K", "2T", "2X", "G", "-1", "2 G", "1.5G", "99999999999999999999"}) {
      CAPTURE(bad);
      auto r = parse_config(std::string("max_file_size: ") + bad + "\n", "t.yaml");
      REQUIRE_FALSE(r);
      CHECK(r.error().message() == std::string("t.yaml:1:16: 'max_file_size' must be a size from 1M to 1T (bytes, or "
                                               "with K, M, G or T), got '") +
                                       bad + "'");
    }
  }

  TEST_CASE("bad keys and values are reported at FILE:LINE:COL") {
    struct Case {
      const char* text;
      const char* message;
    };
    const Case cases[] = {
        {"mode: audit\nmdoe: enforce\n", "t.yaml:2:1: unknown key 'mdoe'; did you mean 'mode'?"},
        {"mode: strict\n", "t.yaml:1:7: 'mode' must be audit or enforce, got 'strict'"},
        {"coverage: most\n", "t.yaml:1:11: 'coverage' must be exec or full, got 'most'"},
        {"script_trust: path\n", "t.yaml:1:15: 'script_trust' must be hash or hash_or_safe_path, got 'path'"},
        {"interpreters: ['']\n", "t.yaml:1:15: 'interpreters' must not contain an empty pattern"},
        {"library_readers: {a: 1}\n", "t.yaml:1:18: 'library_readers' must be a string or a list of strings"},
        {"on_error: maybe\n", "t.yaml:1:11: 'on_error' must be allow or deny, got 'maybe'"},
        {"syslog: 3\n", "t.yaml:1:9: 'syslog' must be true or false"},
        {"decision_timeout_ms: 0\n", "t.yaml:1:22: 'decision_timeout_ms' must be a whole number from 10 to 60000"},
        {"database: relative.db\n", "t.yaml:1:11: 'database' must be an absolute path, got 'relative.db'"},
        {"state_dir: var/lib\n", "t.yaml:1:12: 'state_dir' must be an absolute path, got 'var/lib'"},
        {"state_dir: ''\n", "t.yaml: 'state_dir' must not be empty"},
        {"watch: [auto, /srv]\n", "t.yaml:1:8: 'watch' is either 'auto' or a list of paths, not both"},
        {"watch: {a: 1}\n", "t.yaml:1:8: 'watch' must be a string or a list of strings"},
        {"- a\n- b\n", "t.yaml:1:1: expected a mapping of keys to values"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.text);
      auto r = parse_config(c.text, "t.yaml");
      REQUIRE_FALSE(r);
      CHECK(r.error().code() == ErrorCode::kInvalidInput);
      CHECK(r.error().message() == c.message);
    }
  }

  TEST_CASE("every error in the file is reported, one per line") {
    auto r = parse_config("mode: x\nsyslog: 2\n", "t.yaml");
    REQUIRE_FALSE(r);
    CHECK(r.error().message() ==
          "t.yaml:1:7: 'mode' must be audit or enforce, got 'x'\nt.yaml:2:9: 'syslog' must be true or false");
  }

  TEST_CASE("an explicitly named missing file is an error; a file on disk is loaded") {
    testing::TempDir dir;
    auto missing = load_config_or_default(dir.file("nope.yaml"), "test");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == ErrorCode::kNotFound);
    testing::write_text(dir.file("c.yaml"), "mode: enforce\n");
    auto c = load_config(dir.file("c.yaml"));
    REQUIRE(c);
    CHECK(c->mode == policy::Mode::kEnforce);
    CHECK(c->path == dir.file("c.yaml"));
  }

  TEST_CASE("the default must_allow: existing candidates, then the existing absolute shells, each once") {
    testing::TempDir dir;
    std::filesystem::create_directory(dir.file("bin"));
    const std::string sshd = dir.file("sshd"), bash = dir.file("bin/bash"), zsh = dir.file("bin/zsh");
    testing::write_text(sshd, "", 0755);
    testing::write_text(bash, "", 0755);
    testing::write_text(zsh, "", 0755);
    testing::write_text(dir.file("sh"), "", 0755);  // exists, but listed only by a relative name
    const std::string shells = dir.file("shells");
    testing::write_text(shells, "# /etc/shells: valid login shells\n" + bash + "\n\n" + dir.file("bin/missing") +
                                    "\nsh\nbin/bash\n#" + zsh + "\n" + zsh + "\n" + bash + "\n" + sshd + "\n");

    CHECK(Config::default_must_allow({sshd, dir.file("systemd"), ""}, shells) ==
          std::vector<std::string>{sshd, bash, zsh});
    // Candidates keep their order and come first; one listed twice is kept once.
    CHECK(Config::default_must_allow({zsh, sshd, zsh}, shells) == std::vector<std::string>{zsh, sshd, bash});
    // No shells file: the existing candidates alone.
    CHECK(Config::default_must_allow({dir.file("systemd"), sshd}, dir.file("no-shells")) ==
          std::vector<std::string>{sshd});
    CHECK(Config::default_must_allow({}, dir.file("no-shells")).empty());
  }

  TEST_CASE("the shipped default config parses") {
    auto c = load_config(testing::source_path("enforcer/tollgate.yaml"));
    REQUIRE_MESSAGE(c, (c ? "" : c.error().message()));
    CHECK(c->mode == policy::Mode::kAudit);
    CHECK_FALSE(c->on_error.has_value());  // the shipped file leaves the fail-closed default in place
    CHECK(c->max_file_size == uint64_t{2} << 30);
  }

  TEST_CASE("full coverage: the coverage keys, with their defaults") {
    auto d = parse_config("", "t.yaml");
    REQUIRE(d);
    CHECK(d->open_rules.script_trust == policy::ScriptTrust::kHashOrSafePath);
    CHECK(d->open_rules.interpreters == policy::OpenRules::default_interpreters());
    CHECK(d->open_rules.library_readers.empty());
    auto c = parse_config(
        "coverage: full\nscript_trust: hash\ninterpreters: [python3*, /opt/app/bin/run]\n"
        "library_readers: /usr/bin/borg\n",
        "t.yaml");
    REQUIRE_MESSAGE(c, (c ? "" : c.error().message()));
    CHECK(c->coverage == Coverage::kFull);
    CHECK(c->open_rules.script_trust == policy::ScriptTrust::kHash);
    CHECK(c->open_rules.interpreters == std::vector<std::string>{"python3*", "/opt/app/bin/run"});
    CHECK(c->open_rules.library_readers == std::vector<std::string>{"/usr/bin/borg"});
  }
}
