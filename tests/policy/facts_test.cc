// policy::decide_file: the one routine the engine and `tollgate check`
// decide through, with a fake cache hook (no root, no fanotify).
#include "policy/facts.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;
using Outcome = FileDecision::Outcome;

namespace {

class FakeCache final : public ContentCache {
 public:
  std::optional<KnownContent> entry;
  int lookups = 0;
  std::vector<KnownContent> stored;
  std::optional<KnownContent> lookup(const struct stat&) override {
    ++lookups;
    return entry;
  }
  int64_t now_ns() override { return 42; }
  void store(const struct stat&, const KnownContent& known) override { stored.push_back(known); }
};

std::string real(const std::string& p) {
  char buf[PATH_MAX];
  REQUIRE(::realpath(p.c_str(), buf));
  return buf;
}

const std::string kContent = "#!/bin/sh\necho ok\n";

// One file in a temp dir, open as an event's fd would be, the rules it is
// decided against and a fake cache.
struct Setup {
  testing::TempDir dir;
  std::string path;
  UniqueFd fd;
  struct stat st {};
  std::unique_ptr<hashdb::MemoryRuleSet> rules = std::make_unique<hashdb::MemoryRuleSet>(hashdb::PolicyContent{});
  const std::vector<hashdb::PublicKey> keys;
  FakeCache cache;

  explicit Setup(const std::string& content = kContent) {
    testing::write_text(dir.file("f"), content, 0755);
    path = real(dir.file("f"));
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    REQUIRE(::fstat(fd.get(), &st) == 0);
  }
  void use(const hashdb::PolicyContent& content) { rules = std::make_unique<hashdb::MemoryRuleSet>(content); }
  FileDecision decide(const DecideOptions& options) {
    return decide_file(fd.get(), st, {*rules, keys, has_path_allow(*rules), has_path_deny(*rules)}, options, &cache);
  }
  bool unread() const { return ::lseek(fd.get(), 0, SEEK_CUR) == 0; }
};

}  // namespace

TEST_SUITE("policy.facts") {
  TEST_CASE("without the right to block, a file the cache does not know is deferred, unread") {
    Setup f;
    auto r = f.decide({.may_block = false});
    CHECK(r.outcome == Outcome::kDeferred);
    CHECK(r.needs_hash);
    CHECK(r.cache == FileDecision::CacheUse::kMiss);
    CHECK(r.hashed_bytes == 0);
    CHECK(f.unread());
  }

  TEST_CASE("a cache entry for the rules in force decides without reading the file") {
    Setup f;  // no hash rule: only the cache says it is allowed
    const auto digest = hashdb::sha256_bytes(kContent);
    hashdb::HashRule allow{.sha256 = digest, .action = hashdb::Action::kAllow};
    f.cache.entry = KnownContent{.sha256 = digest, .rules_current = true, .hash_rule = allow};
    auto r = f.decide({.may_block = false});
    REQUIRE(r.outcome == Outcome::kDecided);
    CHECK(r.decision.verdict == Verdict::kAllow);
    CHECK(r.decision.rule.starts_with("hash-allow:"));
    CHECK(r.facts.path == f.path);
    CHECK(r.hashed_bytes == 0);
    CHECK(f.cache.stored.empty());
    CHECK(f.unread());
  }

  TEST_CASE(
      "path_on_demand: the path is read only when a path rule could change the decision; same verdict; "
      "content_allow only for an allow by the content's own rule") {
    const auto digest = hashdb::sha256_bytes(kContent);
    using hashdb::Action;
    struct Case {
      const char* name;
      std::optional<Action> hash;       // the cached hash rule
      std::optional<Action> path_rule;  // a rule on the file's directory
      bool path_read;
      Verdict verdict;
      const char* rule;
      bool content_allow;
      bool rule_elsewhere = false;  // the path rule is on another directory
    };
    for (const Case& c : {
             Case{"hash allow, no path rules", Action::kAllow, std::nullopt, false, Verdict::kAllow,
                  "hash-allow:", true},
             Case{"hash allow, a path-deny exists", Action::kAllow, Action::kDeny, true, Verdict::kDeny,
                  "path-deny:", false},
             Case{"hash allow, a path-deny elsewhere", Action::kAllow, Action::kDeny, true, Verdict::kAllow,
                  "hash-allow:", true, true},
             Case{"hash allow, only path-allow rules", Action::kAllow, Action::kAllow, false, Verdict::kAllow,
                  "hash-allow:", true},
             Case{"hash deny outranks every path rule", Action::kDeny, Action::kDeny, false, Verdict::kDeny,
                  "hash-deny:", false},
             Case{"no hash rule, a path-allow could apply", std::nullopt, Action::kAllow, true, Verdict::kDeny,
                  "default-deny", false},  // the temp dir's chain is not safe
             Case{"no hash rule, no path rule", std::nullopt, std::nullopt, false, Verdict::kDeny, "default-deny",
                  false},
         }) {
      CAPTURE(c.name);
      Setup f;
      hashdb::PolicyContent content;
      const std::string dir = c.rule_elsewhere ? "/nonexistent/" : f.path.substr(0, f.path.rfind('/') + 1);
      if (c.path_rule) content.path_rules.push_back({dir, hashdb::PathMatch::kPrefix, *c.path_rule, "", {}});
      f.use(content);
      std::optional<hashdb::HashRule> rule;
      if (c.hash) rule = hashdb::HashRule{.sha256 = digest, .action = *c.hash};
      f.cache.entry = KnownContent{.sha256 = digest, .rules_current = true, .hash_rule = rule};
      auto lazy = f.decide({.may_block = true, .path_on_demand = true});
      auto eager = f.decide({.may_block = true});
      REQUIRE(lazy.outcome == Outcome::kDecided);
      CHECK(lazy.decision.verdict == c.verdict);
      CHECK(lazy.decision.rule.starts_with(c.rule));
      CHECK(lazy.decision.verdict == eager.decision.verdict);
      CHECK(lazy.decision.rule == eager.decision.rule);
      CHECK(lazy.path.display.empty() == !c.path_read);
      CHECK(eager.path.display == f.path);
      CHECK(lazy.content_allow == c.content_allow);
      CHECK(eager.content_allow == c.content_allow);
    }
  }

  TEST_CASE("an entry from older rules is looked up again, not hashed, and stored for the rules in force") {
    Setup f;
    const auto digest = hashdb::sha256_bytes(kContent);
    hashdb::PolicyContent c;
    c.hash_rules.push_back({.sha256 = digest, .action = hashdb::Action::kDeny, .label = "miner"});
    f.use(c);
    f.cache.entry = KnownContent{.sha256 = digest, .hashed_at_ns = 7};
    auto deferred = f.decide({.may_block = false});
    CHECK(deferred.outcome == Outcome::kDeferred);
    CHECK_FALSE(deferred.needs_hash);  // a lookup, not a hash: the small lane
    auto r = f.decide({});
    REQUIRE(r.outcome == Outcome::kDecided);
    CHECK(r.decision.rule.starts_with("hash-deny:"));
    CHECK(r.hashed_bytes == 0);
    REQUIRE(f.cache.stored.size() == 1);
    CHECK(f.cache.stored[0].rules_current);
    CHECK(f.cache.stored[0].hashed_at_ns == 7);  // when the content was hashed, not now
    CHECK(f.cache.stored[0].hash_rule->label == "miner");
  }

  TEST_CASE("a miss is hashed once, with the clock read before, and remembered") {
    Setup f;
    auto r = f.decide({.mode = Mode::kAudit});
    REQUIRE(r.outcome == Outcome::kDecided);
    CHECK(r.decision.rule == "default-deny");
    CHECK(r.decision.would_deny);
    CHECK(r.facts.sha256 == hashdb::sha256_bytes(kContent));
    CHECK(r.hashed_bytes == kContent.size());
    REQUIRE(f.cache.stored.size() == 1);
    CHECK(f.cache.stored[0].hashed_at_ns == 42);
    CHECK(f.cache.stored[0].sha256 == hashdb::sha256_bytes(kContent));
  }

  TEST_CASE("a path-allow needs the ownership chain: deferred on the reading thread, gathered on a worker") {
    Setup f;
    hashdb::PolicyContent c;
    c.path_rules.push_back({f.path, hashdb::PathMatch::kExact, hashdb::Action::kAllow, "", {}});
    f.use(c);
    f.cache.entry = KnownContent{.sha256 = hashdb::sha256_bytes(kContent), .rules_current = true};
    auto deferred = f.decide({.may_block = false});
    CHECK(deferred.outcome == Outcome::kDeferred);
    CHECK_FALSE(deferred.needs_hash);
    auto r = f.decide({});
    REQUIRE(r.outcome == Outcome::kDecided);
    REQUIRE(r.facts.chain.size() >= 2);
    CHECK(r.facts.chain.front().path == f.path);
    CHECK(r.facts.chain.back().path == "/");
    // A temp dir's chain is never safe (not root-owned, or under /tmp).
    CHECK(r.decision.rule == "default-deny");
    CHECK(r.decision.reason.find("path rule " + f.path + " does not apply") != std::string::npos);
  }

  TEST_CASE("a file reached through another namespace's mount gets no ownership chain: path_means_here says no") {
    Setup f;
    hashdb::PolicyContent c;
    c.path_rules.push_back({f.path, hashdb::PathMatch::kExact, hashdb::Action::kAllow, "", {}});
    f.use(c);
    int asked = 0;
    const std::function<bool(int)> foreign = [&](int fd) {
      ++asked;
      CHECK(fd == f.fd.get());
      return false;
    };
    auto r = f.decide({.path_means_here = &foreign});
    REQUIRE(r.outcome == Outcome::kDecided);
    CHECK(asked == 1);
    CHECK(r.facts.chain.empty());
    CHECK(r.decision.rule == "default-deny");
    const std::function<bool(int)> ours = [](int) { return true; };
    CHECK_FALSE(f.decide({.path_means_here = &ours}).facts.chain.empty());
  }

  TEST_CASE("over max_file_size: not hashed, not looked up; a path-deny decides it, else error:too-large") {
    Setup f(std::string(4096, 'x'));
    auto r = f.decide({.max_file_size = 1024, .may_block = false});
    REQUIRE(r.outcome == Outcome::kDecided);
    REQUIRE(r.decision.failure);
    CHECK(*r.decision.failure == Failure::kTooLarge);
    CHECK(r.decision.rule == "error:too-large");
    CHECK(r.decision.reason ==
          "4096 bytes is over max_file_size (1024 bytes): not hashed, and no path rule decides it");
    CHECK(f.cache.lookups == 0);
    hashdb::PolicyContent c;
    c.path_rules.push_back({f.path, hashdb::PathMatch::kExact, hashdb::Action::kDeny, "", {}});
    f.use(c);
    auto denied = f.decide({.max_file_size = 1024});
    CHECK_FALSE(denied.decision.failure);
    CHECK(denied.decision.rule == "path-deny:" + f.path);
    CHECK(denied.decision.reason.find("not hashed: 4096 bytes is over max_file_size") != std::string::npos);
    CHECK(f.unread());
  }

  TEST_CASE("a hash cancelled by its flag comes back cancelled, with nothing stored") {
    Setup f;
    std::atomic<bool> answered{true};
    auto r = f.decide({.cancel = &answered});
    CHECK(r.outcome == Outcome::kCancelled);
    CHECK(f.cache.stored.empty());
  }

  TEST_CASE("decide_path refuses what is not a regular file and names it") {
    testing::TempDir dir;
    REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0644) == 0);
    hashdb::MemoryRuleSet rules(hashdb::PolicyContent{});
    const std::vector<hashdb::PublicKey> keys;
    auto r = decide_path(dir.file("fifo"), {rules, keys, false});
    REQUIRE_FALSE(r);
    CHECK(r.error().message().find("fifo: not a regular file") != std::string::npos);
    auto missing = decide_path(dir.file("missing"), {rules, keys, false});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == ErrorCode::kNotFound);
  }

  TEST_CASE("a script under hash_or_safe_path needs its chain, unless a hash rule decides first") {
    Setup f;
    f.cache.entry = KnownContent{.sha256 = hashdb::sha256_bytes(kContent), .rules_current = true};
    auto deferred = f.decide({.may_block = false, .access = AccessKind::kScript});
    CHECK(deferred.outcome == Outcome::kDeferred);
    auto r = f.decide({.access = AccessKind::kScript});
    REQUIRE(r.outcome == Outcome::kDecided);
    CHECK(r.facts.chain.size() >= 2);  // gathered: a safe chain would have admitted it
    CHECK(r.decision.rule == "default-deny");
    CHECK(r.decision.access == AccessKind::kScript);
    CHECK(r.decision.reason.find("not a safe path for a script because") != std::string::npos);
    // script_trust: hash never reads the chain
    auto strict = f.decide({.access = AccessKind::kScript, .script_trust = ScriptTrust::kHash});
    CHECK(strict.facts.chain.empty());
    CHECK(strict.decision.rule == "default-deny");
    // a hash allow decides on the reading thread, no chain needed
    hashdb::HashRule allow{.sha256 = hashdb::sha256_bytes(kContent), .action = hashdb::Action::kAllow};
    f.cache.entry->hash_rule = allow;
    auto warm = f.decide({.may_block = false, .access = AccessKind::kScript});
    REQUIRE(warm.outcome == Outcome::kDecided);
    CHECK(warm.decision.rule.starts_with("hash-allow:"));
    CHECK(warm.facts.chain.empty());
  }

  TEST_CASE("the access kind travels with failures too") {
    Setup f(std::string(4096, 'x'));
    auto r = f.decide({.max_file_size = 1024, .access = AccessKind::kLibrary});
    REQUIRE(r.decision.failure);
    CHECK(r.decision.access == AccessKind::kLibrary);
  }
}
