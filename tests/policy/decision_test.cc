#include "policy/decision.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

using namespace tollgate;
using namespace tollgate::policy;
using hashdb::Action;
using hashdb::PathMatch;

namespace {

const hashdb::Sha256 kApproved = hashdb::sha256_bytes(std::string("approved"));
const hashdb::Sha256 kMiner = hashdb::sha256_bytes(std::string("miner"));
const hashdb::Sha256 kUnknown = hashdb::sha256_bytes(std::string("unknown"));
const hashdb::Sha256 kSignerKey = hashdb::sha256_bytes(std::string("signer"));

hashdb::MemoryRuleSet rules() {
  hashdb::PolicyContent c;
  c.hash_rules.push_back({kApproved, Action::kAllow, "coreutils", "/usr/bin/ls", {"base.yaml", 4}, "", ""});
  c.hash_rules.push_back({kMiner, Action::kDeny, "xmrig", "", {"block.yaml", 2}, "", ""});
  c.path_rules.push_back({"/tmp/", PathMatch::kPrefix, Action::kDeny, "", {"base.yaml", 9}});
  c.path_rules.push_back({"/opt/app/", PathMatch::kPrefix, Action::kAllow, "", {"base.yaml", 10}});
  c.path_rules.push_back({"/opt/app/bin/tool", PathMatch::kExact, Action::kAllow, "", {"base.yaml", 11}});
  c.signers.push_back({kSignerKey, "PEM", "vendor", {"base.yaml", 12}});
  return hashdb::MemoryRuleSet(c);
}

std::vector<PathElement> root_chain(const std::string& path, mode_t file_mode = 0755) {
  return {{path, 0, S_IFREG | file_mode},
          {"/opt/app", 0, S_IFDIR | 0755},
          {"/opt", 0, S_IFDIR | 0755},
          {"/", 0, S_IFDIR | 0755}};
}

}  // namespace

TEST_SUITE("policy.decision") {
  TEST_CASE("precedence follows the design, every verdict names its rule") {
    struct Case {
      const char* name;
      FileFacts facts;
      Mode mode;
      Verdict verdict;
      bool would_deny;
      std::string rule;
    };
    const auto safe = root_chain("/opt/app/x");
    const Case cases[] = {
        {"hash deny beats hash allow path",
         {"/opt/app/x", kMiner, safe, kSignerKey},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "hash-deny:" + hashdb::to_hex(kMiner).substr(0, 16)},
        {"path deny beats hash allow",
         {"/tmp/ls", kApproved, {}, {}},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "path-deny:/tmp/"},
        {"path deny beats signer",
         {"/tmp/signed", kUnknown, {}, kSignerKey},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "path-deny:/tmp/"},
        {"hash allow",
         {"/home/u/ls", kApproved, {}, {}},
         Mode::kEnforce,
         Verdict::kAllow,
         false,
         "hash-allow:" + hashdb::to_hex(kApproved).substr(0, 16)},
        {"trusted signer",
         {"/home/u/tool", kUnknown, {}, kSignerKey},
         Mode::kEnforce,
         Verdict::kAllow,
         false,
         "signer:" + hashdb::to_hex(kSignerKey).substr(0, 16)},
        {"unknown signer is no signer",
         {"/home/u/tool", kUnknown, {}, kUnknown},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "default-deny"},
        {"path allow on a root-owned chain",
         {"/opt/app/x", kUnknown, safe, {}},
         Mode::kEnforce,
         Verdict::kAllow,
         false,
         "path-allow:/opt/app/"},
        {"the most specific path rule names the verdict",
         {"/opt/app/bin/tool", kUnknown, root_chain("/opt/app/bin/tool"), {}},
         Mode::kEnforce,
         Verdict::kAllow,
         false,
         "path-allow:/opt/app/bin/tool"},
        {"path allow refused for a world-writable file",
         {"/opt/app/x", kUnknown, root_chain("/opt/app/x", 0757), {}},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "default-deny"},
        {"path allow refused without ownership facts",
         {"/opt/app/x", kUnknown, {}, {}},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "default-deny"},
        {"default deny in enforce",
         {"/home/u/a.out", kUnknown, {}, {}},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "default-deny"},
        {"audit allows and flags would-deny",
         {"/home/u/a.out", kUnknown, {}, {}},
         Mode::kAudit,
         Verdict::kAllow,
         true,
         "default-deny"},
        {"audit answers allow on a hash deny and flags it",
         {"/home/u/xmrig", kMiner, {}, {}},
         Mode::kAudit,
         Verdict::kAllow,
         true,
         "hash-deny:" + hashdb::to_hex(kMiner).substr(0, 16)},
        {"unhashable file falls through to default",
         {"/home/u/x", std::nullopt, {}, {}},
         Mode::kEnforce,
         Verdict::kDeny,
         false,
         "default-deny"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      auto set = rules();
      Decision d = decide(c.facts, set, c.mode);
      CHECK(d.rule == c.rule);
      CHECK(d.verdict == c.verdict);
      CHECK(d.would_deny == c.would_deny);
      CHECK_FALSE(d.reason.empty());
    }
  }

  TEST_CASE("a rule's manifest file and line travel with the decision") {
    auto set = rules();
    Decision d = decide({"/usr/bin/ls", kApproved, {}, {}}, set, Mode::kEnforce);
    CHECK(d.source.file == "base.yaml");
    CHECK(d.source.line == 4);
    CHECK(d.label == "coreutils");
    CHECK(d.reason.find("base.yaml:4") != std::string::npos);
  }

  TEST_CASE("path rules match exactly or by a directory prefix") {
    hashdb::PathRule prefix{"/usr/local/bin/", PathMatch::kPrefix, Action::kAllow, "", {}};
    CHECK(path_matches(prefix, "/usr/local/bin/x"));
    CHECK_FALSE(path_matches(prefix, "/usr/local/binx/x"));
    CHECK_FALSE(path_matches(prefix, "/usr/local/bin"));
    hashdb::PathRule exact{"/usr/bin/ls", PathMatch::kExact, Action::kAllow, "", {}};
    CHECK(path_matches(exact, "/usr/bin/ls"));
    CHECK_FALSE(path_matches(exact, "/usr/bin/ls2"));
    // An unknown path (too long, unresolvable: empty) matches no rule at all.
    for (const auto& rule : {prefix, exact, hashdb::PathRule{"", PathMatch::kExact, Action::kDeny, "", {}},
                             hashdb::PathRule{"/", PathMatch::kPrefix, Action::kDeny, "", {}}})
      CHECK_FALSE(path_matches(rule, ""));
  }

  TEST_CASE("a chain is safe only when every element is root-owned and not group/world-writable") {
    std::string why;
    CHECK(chain_is_safe(root_chain("/opt/app/x"), &why));
    auto user_dir = root_chain("/opt/app/x");
    user_dir[1].uid = 1000;
    CHECK_FALSE(chain_is_safe(user_dir, &why));
    CHECK(why.find("/opt/app") != std::string::npos);
    auto group_writable = root_chain("/opt/app/x");
    group_writable[2].mode |= S_IWGRP;
    CHECK_FALSE(chain_is_safe(group_writable, &why));
    CHECK_FALSE(chain_is_safe({}, &why));
  }

  TEST_CASE("a failed hash lookup is a failure, never a policy verdict, in either mode") {
    class FailingRules final : public hashdb::RuleSet {
     public:
      Result<std::optional<hashdb::HashRule>> find_hash(const hashdb::Sha256&) const override {
        return fail(ErrorCode::kIo, "policy.db: disk I/O error");
      }
      const std::vector<hashdb::PathRule>& path_rules() const override { return paths_; }
      const std::vector<hashdb::Signer>& signers() const override { return signers_; }

     private:
      std::vector<hashdb::PathRule> paths_;
      std::vector<hashdb::Signer> signers_;
    } failing;
    for (Mode mode : {Mode::kEnforce, Mode::kAudit}) {
      CAPTURE(to_string(mode));
      Decision d = decide({"/usr/bin/x", kUnknown, {}, {}}, failing, mode);
      REQUIRE(d.failure);
      CHECK(*d.failure == Failure::kLookup);
      CHECK(d.rule == "error:lookup");
      CHECK(d.verdict == Verdict::kDeny);  // the caller applies on_error; audit does not turn it into allow
      CHECK_FALSE(d.would_deny);
      CHECK(d.reason == "policy.db: disk I/O error");
    }
    // Every failure has its stable rule id.
    CHECK(rule_id(Failure::kTimeout) == "error:timeout");
    CHECK(rule_id(Failure::kTooLarge) == "error:too-large");
    CHECK(rule_id(Failure::kOverload) == "error:overload");
    CHECK(rule_id(Failure::kStat) == "error:stat");
    CHECK(rule_id(Failure::kInternal) == "error:internal");
    // A policy decision is no failure.
    CHECK_FALSE(decide({"/home/u/x", kUnknown, {}, {}}, rules(), Mode::kAudit).failure);
  }
}

TEST_SUITE("policy.decision.coverage") {
  TEST_CASE("scripts: hash_or_safe_path admits a safe chain, hash does not; every decision names its access kind") {
    const hashdb::MemoryRuleSet r = rules();
    const std::vector<PathElement> safe = {{"/usr/lib/python3/x.py", 0, S_IFREG | 0644},
                                           {"/usr/lib/python3", 0, S_IFDIR | 0755},
                                           {"/usr/lib", 0, S_IFDIR | 0755},
                                           {"/usr", 0, S_IFDIR | 0755},
                                           {"/", 0, S_IFDIR | 0755}};
    std::vector<PathElement> sticky = safe;
    sticky[1] = {"/usr/lib/python3", 0, S_IFDIR | 01777};
    std::vector<PathElement> owned = safe;
    owned[0].uid = 65534;
    struct Case {
      const char* name;
      AccessKind access;
      std::vector<PathElement> chain;
      hashdb::Sha256 sha256;
      ScriptTrust trust;
      Verdict verdict;
      std::string rule;
    };
    const Case cases[] = {
        {"script, safe chain, hash_or_safe_path", AccessKind::kScript, safe, kUnknown, ScriptTrust::kHashOrSafePath,
         Verdict::kAllow, "safe-path"},
        {"script, safe chain, hash", AccessKind::kScript, safe, kUnknown, ScriptTrust::kHash, Verdict::kDeny,
         "default-deny"},
        {"script, world-writable parent", AccessKind::kScript, sticky, kUnknown, ScriptTrust::kHashOrSafePath,
         Verdict::kDeny, "default-deny"},
        {"script owned by nobody", AccessKind::kScript, owned, kUnknown, ScriptTrust::kHashOrSafePath, Verdict::kDeny,
         "default-deny"},
        {"script on no known chain",
         AccessKind::kScript,
         {},
         kUnknown,
         ScriptTrust::kHashOrSafePath,
         Verdict::kDeny,
         "default-deny"},
        {"hash deny beats a safe chain", AccessKind::kScript, safe, kMiner, ScriptTrust::kHashOrSafePath,
         Verdict::kDeny, "hash-deny:" + hashdb::to_hex(kMiner).substr(0, 16)},
        {"approved script anywhere", AccessKind::kScript, owned, kApproved, ScriptTrust::kHash, Verdict::kAllow,
         "hash-allow:" + hashdb::to_hex(kApproved).substr(0, 16)},
        {"a library on a safe chain still needs a rule", AccessKind::kLibrary, safe, kUnknown,
         ScriptTrust::kHashOrSafePath, Verdict::kDeny, "default-deny"},
        {"the loader's object on a safe chain still needs a rule", AccessKind::kLoader, safe, kUnknown,
         ScriptTrust::kHashOrSafePath, Verdict::kDeny, "default-deny"},
        {"an exec on a safe chain still needs a rule", AccessKind::kExec, safe, kUnknown, ScriptTrust::kHashOrSafePath,
         Verdict::kDeny, "default-deny"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      FileFacts facts{.path = "/usr/lib/python3/x.py", .sha256 = c.sha256, .chain = c.chain, .access = c.access};
      Decision d = decide(facts, r, Mode::kEnforce, c.trust);
      CHECK(d.verdict == c.verdict);
      CHECK(d.rule == c.rule);
      CHECK(d.access == c.access);
      Decision audit = decide(facts, r, Mode::kAudit, c.trust);
      CHECK(audit.verdict == Verdict::kAllow);
      CHECK(audit.would_deny == (c.verdict == Verdict::kDeny));
      CHECK(audit.access == c.access);
    }
  }

  TEST_CASE("a path deny names what was denied") {
    FileFacts facts{.path = "/tmp/evil.so", .sha256 = kUnknown, .access = AccessKind::kLibrary};
    Decision d = decide(facts, rules(), Mode::kEnforce);
    CHECK(d.rule == "path-deny:/tmp/");
    CHECK(d.reason.find("loading a library from /tmp/") != std::string::npos);
  }

  TEST_CASE("an exempt library reader is allowed by its own rule") {
    Decision d = library_reader_allowed("/usr/bin/borg");
    CHECK(d.verdict == Verdict::kAllow);
    CHECK(d.rule == "library-reader:/usr/bin/borg");
    CHECK(d.access == AccessKind::kLibrary);
  }
}
