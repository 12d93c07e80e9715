// The event loop, driven by a fake EventSource over real files in a temp
// directory: no root, no fanotify.
#include "enforcer/engine.h"

#include <doctest/doctest.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "enforcer/scan_worker.h"
#include "hashdb/writer.h"
#include "policy/facts.h"
#include "policy/file_signature.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::enforcer;
using nlohmann::json;

extern char** environ;

namespace {

class FakeSource final : public EventSource {
 public:
  FakeSource() {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    read_end_.reset(p[0]);
    write_end_.reset(p[1]);
  }
  // `mask` 0: a plain open, which is an exec for an engine without full coverage.
  void push(const std::string& path, pid_t pid, uint64_t mask = 0) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    REQUIRE(fd >= 0);
    push_fd(UniqueFd(fd), pid, mask);
  }
  // An event for a file already open (e.g. since deleted).
  void push_fd(UniqueFd fd, pid_t pid, uint64_t mask = 0) {
    {
      std::lock_guard lock(mu_);
      queued_.push_back({std::move(fd), pid, mask});
      ++pushed_;
    }
    char b = 1;
    REQUIRE(::write(write_end_.get(), &b, 1) == 1);
  }
  // The next read fails once with `err`, as the kernel's read does when it
  // has no fd or memory for an event (it denies that event itself).
  void push_read_failure(int err) {
    {
      std::lock_guard lock(mu_);
      read_failures_.push_back(err);
    }
    char b = 1;
    REQUIRE(::write(write_end_.get(), &b, 1) == 1);
  }
  size_t reads_attempted() {
    std::lock_guard lock(mu_);
    return reads_;
  }
  void push_overflow(uint64_t n) {
    {
      std::lock_guard lock(mu_);
      overflows_ += n;
    }
    char b = 1;
    REQUIRE(::write(write_end_.get(), &b, 1) == 1);
  }
  int poll_fd() const override { return read_end_.get(); }
  Status read_events(std::vector<RawEvent>& out, ReadNotes& notes) override {
    std::lock_guard lock(mu_);
    ++reads_;
    if (!read_failures_.empty()) {
      // Fails for one read, and stays readable: the reader must come back.
      notes.failed_reads += 1;
      notes.last_errno = read_failures_.front();
      read_failures_.erase(read_failures_.begin());
      return {};
    }
    char buf[256];
    while (::read(read_end_.get(), buf, sizeof buf) > 0) {
    }
    for (auto& ev : queued_) out.push_back(std::move(ev));
    queued_.clear();
    notes.overflows += std::exchange(overflows_, 0);
    return {};
  }
  Status respond(int event_fd, bool allow) override {
    char link[64], target[PATH_MAX];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", event_fd);
    ssize_t n = ::readlink(link, target, sizeof target - 1);
    std::lock_guard lock(mu_);
    responses_.push_back({n > 0 ? std::string(target, static_cast<size_t>(n)) : "?", allow});
    cv_.notify_all();
    return {};
  }
  // Bounded wait for `n` responses in total.
  std::vector<std::pair<std::string, bool>> wait_responses(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return responses_.size() >= n; });
    return responses_;
  }
  size_t response_count() {
    std::lock_guard lock(mu_);
    return responses_.size();
  }
  // Events pushed so far (push and push_fd).
  size_t pushed() {
    std::lock_guard lock(mu_);
    return pushed_;
  }

 private:
  UniqueFd read_end_, write_end_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RawEvent> queued_;
  uint64_t overflows_ = 0;
  std::vector<int> read_failures_;
  size_t reads_ = 0;
  size_t pushed_ = 0;
  std::vector<std::pair<std::string, bool>> responses_;
};

// A rule set whose hash lookups block until released: a stuck decision.
class BlockingRules final : public hashdb::RuleSet {
 public:
  BlockingRules() = default;
  // Blocks only lookups of `digest`; others find nothing at once.
  explicit BlockingRules(const hashdb::Sha256& digest) : only_(digest) {}
  Result<std::optional<hashdb::HashRule>> find_hash(const hashdb::Sha256& digest) const override {
    if (only_ && digest != *only_) return std::optional<hashdb::HashRule>();
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return released_; });
    return std::optional<hashdb::HashRule>();
  }
  const std::vector<hashdb::PathRule>& path_rules() const override { return paths_; }
  const std::vector<hashdb::Signer>& signers() const override { return signers_; }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  void wait_entered() const {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return entered_ > 0; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable int entered_ = 0;
  bool released_ = false;
  std::optional<hashdb::Sha256> only_;
  std::vector<hashdb::PathRule> paths_;
  std::vector<hashdb::Signer> signers_;
};

std::string real(const std::string& p) {
  char buf[PATH_MAX];
  REQUIRE(::realpath(p.c_str(), buf));
  return buf;
}

struct Harness {
  testing::TempDir dir;
  FakeSource source;
  Metrics metrics;
  EventLog log;
  std::optional<Engine> engine_slot;
  Engine& engine;
  std::thread loop;

  // Files here are written a moment before their first event, which the
  // racy-clean rule would hash again at the next one; tests of that rule
  // pass racy_clean = true (and usually their own clock).
  explicit Harness(EngineOptions options = {}, bool racy_clean = false)
      : log({.path = dir.file("events.jsonl")}, metrics.log_dropped),
        engine_slot(std::in_place, source, &log, metrics, with_host(options, racy_clean)),
        engine(*engine_slot) {
    log.start();
  }
  // Stops the loop and joins the workers, so every counter and log line is final.
  void settle() {
    if (!engine_slot) return;
    engine.stop();
    if (loop.joinable()) loop.join();
    engine_slot.reset();
    log.flush();
  }
  static EngineOptions with_host(EngineOptions o, bool racy_clean) {
    o.host = "test";
    if (!racy_clean) o.racy.granularity_ns = 0;
    return o;
  }
  void start() {
    loop = std::thread([this] { CHECK(engine.run()); });
  }
  ~Harness() { settle(); }
  std::string file(const std::string& name, const std::string& content) {
    testing::write_text(dir.file(name), content, 0755);
    return real(dir.file(name));
  }
  // A sparse file of `size` bytes (all zeros, costs no disk).
  std::string sparse(const std::string& name, off_t size) {
    UniqueFd fd(::open(dir.file(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755));
    REQUIRE(fd);
    REQUIRE(::ftruncate(fd.get(), size) == 0);
    return real(dir.file(name));
  }
  // Puts `rules` in force in `mode` and starts the loop.
  void start_with(std::shared_ptr<const hashdb::RuleSet> rules, policy::Mode mode) {
    engine.set_policy(make_policy_state(std::move(rules), nullptr, engine.next_epoch()));
    engine.set_mode(mode);
    start();
  }
  void rules(const hashdb::PolicyContent& content) {
    auto set = std::make_shared<hashdb::MemoryRuleSet>(content);
    engine.set_policy(make_policy_state(set, nullptr, engine.next_epoch()));
  }
  // Pushes one event for `path` (opened by `pid`, with `mask`) once every
  // earlier one is answered, waits (bounded) for its answer and returns it:
  // true = allowed.
  bool allowed(const std::string& path, pid_t pid = ::getppid(), uint64_t mask = 0) {
    const size_t n = source.pushed() + 1;
    REQUIRE_MESSAGE(source.response_count() == n - 1, "an earlier event is still unanswered");
    source.push(path, pid, mask);
    auto responses = source.wait_responses(n);
    REQUIRE(responses.size() == n);
    CHECK(responses.back().first == path);
    return responses.back().second;
  }
  // `rules` in force, enforce mode, the loop running.
  void start_enforcing(const hashdb::PolicyContent& content = {}) {
    rules(content);
    engine.set_mode(policy::Mode::kEnforce);
    start();
  }
  std::vector<json> events() {
    settle();
    std::vector<json> out;
    std::istringstream in(testing::read_text(dir.file("events.jsonl")));
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }
};

hashdb::HashRule allow_hash(const std::string& content) {
  hashdb::HashRule r;
  r.sha256 = hashdb::sha256_bytes(content);
  r.action = hashdb::Action::kAllow;
  return r;
}

}  // namespace

TEST_SUITE("enforcer.engine") {
  TEST_CASE("audit mode allows everything and logs each would-deny") {
    Harness h;
    h.start();
    auto path = h.file("unknown", "#!/bin/sh\necho x\n");
    CHECK(h.allowed(path));
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "decision");
    CHECK(events[0]["would_deny"] == true);
    CHECK(events[0]["decision"] == "allow");
    CHECK(events[0]["rule"] == "default-deny");
    CHECK(events[0]["path"] == path);
    CHECK(events[0]["pid"] == ::getppid());
    CHECK(events[0]["sha256"] == hashdb::to_hex(hashdb::sha256_bytes(std::string("#!/bin/sh\necho x\n"))));
    CHECK(h.metrics.would_deny == 1);
  }

  TEST_CASE("enforce mode: approved hash allowed, unknown denied, path deny beats hash allow") {
    Harness h;
    auto ok = h.file("ok", "approved");
    auto bad = h.file("bad", "unapproved");
    auto blocked = h.file("blocked", "approved");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    c.path_rules.push_back({blocked, hashdb::PathMatch::kExact, hashdb::Action::kDeny, "", {}});
    h.start_enforcing(c);
    h.source.push(ok, ::getppid());
    h.source.push(bad, ::getppid());
    h.source.push(blocked, ::getppid());
    auto responses = h.source.wait_responses(3);
    REQUIRE(responses.size() == 3);
    std::map<std::string, bool> by_path(responses.begin(), responses.end());
    CHECK(by_path[ok] == true);
    CHECK(by_path[bad] == false);
    CHECK(by_path[blocked] == false);
    auto events = h.events();  // allows are not logged by default
    REQUIRE(events.size() == 2);
    for (const auto& e : events) {
      CHECK(e["decision"] == "deny");
      CHECK(e["would_deny"] == false);
      CHECK(e["rule"] == (e["path"] == bad ? "default-deny" : "path-deny:" + blocked));
    }
    CHECK(h.metrics.denied == 2);
    CHECK(h.metrics.allowed == 1);
  }

  TEST_CASE("a file is hashed once; a change in place is seen; a reload keeps the hash but not the decision") {
    Harness h;
    auto path = h.file("tool", "approved");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    h.start_enforcing(c);
    h.source.push(path, ::getppid());
    h.source.push(path, ::getppid());
    h.source.wait_responses(2);
    CHECK(h.allowed(path));
    CHECK(h.metrics.cache_misses >= 1);
    CHECK(h.metrics.cache_misses + h.metrics.cache_hits == 3);
    CHECK(h.metrics.hash_bytes == 8 * h.metrics.cache_misses);

    {
      std::ofstream out(path, std::ios::app);
      out << "!";
    }
    CHECK_FALSE(h.allowed(path));  // modified in place: new hash, not approved

    // Approve the new content: the reload must take effect though the hash is cached.
    auto misses = h.metrics.cache_misses.load();
    c.hash_rules.push_back(allow_hash("approved!"));
    h.rules(c);
    CHECK(h.allowed(path));
    CHECK(h.metrics.cache_misses == misses);  // not hashed again
  }

  TEST_CASE("log_allows logs allows too") {
    Harness h({.log_allows = true});
    auto path = h.file("ok", "approved");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    h.rules(c);
    h.start();
    h.source.push(path, ::getppid());
    h.source.wait_responses(1);
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["decision"] == "allow");
    CHECK(events[0]["would_deny"] == false);
    CHECK(events[0]["rule"].get<std::string>().starts_with("hash-allow:"));
  }

  TEST_CASE("a stuck decision is answered with on_error at the deadline, exactly once") {
    for (auto on_error : {policy::Verdict::kAllow, policy::Verdict::kDeny}) {
      CAPTURE(policy::to_string(on_error));
      auto rules = std::make_shared<BlockingRules>();
      {
        Harness h({.workers = 1, .decision_timeout_ms = 50, .on_error = on_error});
        h.start_with(rules, policy::Mode::kEnforce);
        auto path = h.file("slow", "slow");
        h.source.push(path, ::getppid());
        rules->wait_entered();
        auto responses = h.source.wait_responses(1);
        REQUIRE(responses.size() == 1);
        CHECK(responses[0].second == (on_error == policy::Verdict::kAllow));
        // Our own pid is answered at once, even with every worker stuck.
        CHECK(h.allowed(path, ::getpid()));
        rules->release();  // the late worker must not answer again
        auto events = h.events();
        REQUIRE(events.size() == 1);
        CHECK(events[0]["rule"] == "error:timeout");
        CHECK(events[0]["decision"] == policy::to_string(on_error));
        CHECK(h.metrics.timeouts == 1);
        CHECK(h.metrics.errors == 1);
        CHECK(h.metrics.self_events == 1);
      }
    }
  }

  TEST_CASE("warm-cache hits are answered on the reading thread even while every worker is stuck") {
    auto rules = std::make_shared<BlockingRules>(hashdb::sha256_bytes(std::string("slow")));
    Harness h({.workers = 1, .decision_timeout_ms = 20000});
    h.engine.set_policy(make_policy_state(rules, nullptr, h.engine.next_epoch()));
    h.start();
    auto fast = h.file("fast", "fast");
    auto slow = h.file("slow", "slow");
    h.source.push(fast, ::getppid());  // cold: hashed by the worker, then cached
    REQUIRE(h.source.wait_responses(1).size() == 1);
    h.source.push(slow, ::getppid());  // the only worker is now stuck in a lookup
    rules->wait_entered();
    h.source.push(fast, ::getppid());  // warm: must not wait for a worker
    auto responses = h.source.wait_responses(2);
    REQUIRE(responses.size() == 2);
    CHECK(responses[1].first == fast);
    CHECK(responses[1].second == true);
    rules->release();
    CHECK(h.source.wait_responses(3).size() == 3);
  }

  TEST_CASE("stop answers every event already read before returning") {
    auto rules = std::make_shared<BlockingRules>();
    Harness h({.workers = 1, .decision_timeout_ms = 200});
    h.engine.set_policy(make_policy_state(rules, nullptr, h.engine.next_epoch()));
    h.start();
    auto a = h.file("a", "a");
    auto b = h.file("b", "b");
    h.source.push(a, ::getppid());
    h.source.push(b, ::getppid());
    rules->wait_entered();
    h.engine.stop();
    h.loop.join();
    CHECK(h.source.response_count() == 2);
    CHECK(h.metrics.queue_depth == 0);
    rules->release();
  }

  TEST_CASE("identical would-denies within the window are one line plus a repeated line, written when it closes") {
    Harness h(EngineOptions{.coalesce_window = std::chrono::milliseconds(300)});
    h.start();
    const auto path = h.file("unknown", "#!/bin/sh\necho x\n");
    const auto other = h.file("other", "#!/bin/sh\necho y\n");
    constexpr size_t kRepeats = 50;
    for (size_t i = 0; i < kRepeats; ++i) h.source.push(path, ::getppid());  // not our own pid: that is never logged
    h.source.push(other, ::getppid());
    REQUIRE(h.source.wait_responses(kRepeats + 1).size() == kRepeats + 1);  // every one answered
    // No further event: the loop itself writes the summary once the window closes.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool summary_seen = false;
    while (!summary_seen && std::chrono::steady_clock::now() < deadline) {
      h.log.flush();
      summary_seen = testing::read_text(h.dir.file("events.jsonl")).find("\"repeated\"") != std::string::npos;
      if (!summary_seen) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(summary_seen);
    auto events = h.events();
    uint64_t total = 0, lines = 0, full_lines = 0;
    for (const auto& e : events) {
      if (e["path"] != path) continue;
      ++lines;
      if (!e.contains("repeated")) ++full_lines;
      total += e.value("repeated", uint64_t{1});
      CHECK(e["ppid"] == read_ppid(::getppid()));
      CHECK(e["rule"] == "default-deny");
    }
    CHECK(total == kRepeats);
    CHECK(lines < kRepeats / 5);
    CHECK(std::count_if(events.begin(), events.end(), [&](const json& e) { return e["path"] == other; }) == 1);
    CHECK(h.metrics.would_deny == kRepeats + 1);  // counted as always
    CHECK(h.metrics.log_coalesced == kRepeats - full_lines);
  }

  TEST_CASE("coalescing off: every decision is its own line") {
    Harness h(EngineOptions{.coalesce_window = std::chrono::milliseconds(0)});
    h.start();
    const auto path = h.file("unknown", "#!/bin/sh\necho x\n");
    for (int i = 0; i < 5; ++i) h.source.push(path, ::getppid());
    REQUIRE(h.source.wait_responses(5).size() == 5);
    auto events = h.events();
    CHECK(events.size() == 5);
    for (const auto& e : events) CHECK_FALSE(e.contains("repeated"));
    CHECK(h.metrics.log_coalesced == 0);
  }

  TEST_CASE("a kernel queue overflow is counted and logged") {
    Harness h;
    h.start();
    h.source.push_overflow(1);
    auto path = h.file("x", "x");
    h.source.push(path, ::getppid());
    h.source.wait_responses(1);
    auto events = h.events();
    CHECK(h.metrics.overflows == 1);
    REQUIRE(events.size() >= 1);
    CHECK(events[0]["type"] == "overflow");
    CHECK(events[0]["count"] == 1);
  }

  TEST_CASE("metrics render as Prometheus text with a latency histogram") {
    Metrics m;
    m.allowed = 3;
    m.record_latency(20);
    m.record_latency(20);
    m.record_latency(700);
    CHECK(m.latency_percentile_us(0.5) == 25);
    CHECK(m.latency_percentile_us(0.99) == 1000);
    auto text = m.prometheus_text();
    CHECK(text.find("tollgate_decisions_total{verdict=\"allow\"} 3\n") != std::string::npos);
    CHECK(text.find("tollgate_decision_latency_seconds_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
    CHECK(text.find("tollgate_decision_latency_seconds_count 3\n") != std::string::npos);
  }
}

// Issue 8: decisions under pressure. Every case runs with the default
// on_error (unset: deny in enforce, allow in audit) unless it says otherwise.
namespace {

// Open fds of this process that point at `path` (the engine's event fds).
int open_fds_to(const std::string& path) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    char target[PATH_MAX];
    ssize_t len = ::readlink(entry.path().c_str(), target, sizeof target - 1);
    if (len > 0 && std::string(target, static_cast<size_t>(len)) == path) ++n;
  }
  return n;
}

// Polls `done` every 5 ms for up to 10 s.
bool eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

json only_decision(const std::vector<json>& events, const std::string& path) {
  for (const auto& e : events)
    if (e["type"] == "decision" && e["path"] == path) return e;
  FAIL("no decision logged for " << path);
  return {};
}

}  // namespace

TEST_SUITE("enforcer.engine.pressure") {
  TEST_CASE("a missed deadline is denied in enforce and allowed in audit, following the mode at that moment") {
    auto rules = std::make_shared<BlockingRules>();
    Harness h({.workers = 1, .decision_timeout_ms = 50});
    h.start_with(rules, policy::Mode::kEnforce);
    auto a = h.file("a", "a");
    auto b = h.file("b", "b");
    CHECK_FALSE(h.allowed(a));
    h.engine.set_mode(policy::Mode::kAudit);  // switched at runtime
    CHECK(h.allowed(b));
    rules->release();
    auto events = h.events();
    auto ea = only_decision(events, a), eb = only_decision(events, b);
    CHECK(ea["rule"] == "error:timeout");
    CHECK(ea["decision"] == "deny");
    CHECK(ea["mode"] == "enforce");
    CHECK(ea["would_deny"] == false);
    CHECK(ea["reason"].get<std::string>().find("(on_error default in enforce mode: deny)") != std::string::npos);
    CHECK(eb["rule"] == "error:timeout");
    CHECK(eb["decision"] == "allow");
    CHECK(eb["would_deny"] == true);
    CHECK(h.metrics.timeouts == 2);
    CHECK(h.metrics.errors == 2);
  }

  TEST_CASE("a file over max_file_size is never hashed: error:too-large in enforce, would-deny in audit") {
    // Every hash lookup would block: the answer must come without one.
    auto rules = std::make_shared<BlockingRules>();
    Harness h({.workers = 1, .decision_timeout_ms = 20000, .max_file_size = 1 * kMiB});
    h.start_with(rules, policy::Mode::kEnforce);
    auto big = h.sparse("big", 2 * kMiB);
    CHECK_FALSE(h.allowed(big));
    h.engine.set_mode(policy::Mode::kAudit);
    CHECK(h.allowed(big));
    auto events = h.events();
    REQUIRE(events.size() == 2);
    CHECK(events[0]["rule"] == "error:too-large");
    CHECK(events[0]["decision"] == "deny");
    CHECK(events[0]["size"] == 2 * kMiB);
    CHECK(events[0]["sha256"] == "");
    CHECK(events[1]["rule"] == "error:too-large");
    CHECK(events[1]["decision"] == "allow");
    CHECK(events[1]["would_deny"] == true);
    CHECK(h.metrics.too_large == 2);
    CHECK(h.metrics.hash_bytes == 0);
    CHECK(h.metrics.cache_misses == 0);
  }

  TEST_CASE("a 40 GiB sparse file is denied at once with the default max_file_size") {
    Harness h;
    h.engine.set_mode(policy::Mode::kEnforce);
    h.start();
    auto giant = h.sparse("giant", off_t{40} << 30);
    auto started = std::chrono::steady_clock::now();
    CHECK_FALSE(h.allowed(giant));
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));  // far below any hash of 40 GiB
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["rule"] == "error:too-large");
    CHECK(h.metrics.hash_bytes == 0);
  }

  TEST_CASE("a file over max_file_size is still decided by a path-deny rule") {
    Harness h({.max_file_size = 1 * kMiB});
    auto big = h.sparse("big", 2 * kMiB);
    hashdb::PolicyContent c;
    c.path_rules.push_back({real(h.dir.path()) + "/", hashdb::PathMatch::kPrefix, hashdb::Action::kDeny, "", {}});
    h.start_enforcing(c);
    h.source.push(big, ::getppid());
    REQUIRE(h.source.wait_responses(1).size() == 1);
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["decision"] == "deny");
    CHECK(events[0]["rule"] == "path-deny:" + real(h.dir.path()) + "/");
    CHECK(events[0]["reason"].get<std::string>().find("not hashed") != std::string::npos);
    CHECK(h.metrics.too_large == 0);
  }

  TEST_CASE("a large file under the cap gets the time hashing it takes, beyond decision_timeout_ms") {
    // 512 MiB of zeros: hashing takes about half a second on an idle
    // machine, far beyond the 10 ms base deadline; the size allowance covers
    // it. The floor is set low (32 s for this file) so that a loaded CI
    // machine measures the allowance, not its own speed.
    Harness h({.decision_timeout_ms = 10, .hash_floor_bytes_per_s = 16 * kMiB});
    auto big = h.sparse("big", off_t{512} << 20);
    auto digest = hashdb::sha256_path(big);
    REQUIRE(digest);
    hashdb::PolicyContent c;
    c.hash_rules.push_back({.sha256 = *digest, .action = hashdb::Action::kAllow});
    h.start_enforcing(c);
    CHECK(h.allowed(big));
    CHECK(h.metrics.timeouts == 0);
    CHECK(h.metrics.hash_bytes == 512 * kMiB);
  }

  TEST_CASE("a hash whose event was answered stops, and its worker is free again") {
    // 16 GiB of zeros would take many seconds; the deadline (50 ms, no size
    // allowance here) answers it and must cancel the hash.
    Harness h({.workers = 1,
               .large_workers = 1,
               .decision_timeout_ms = 50,
               .max_file_size = uint64_t{32} << 30,
               .max_hash_allowance_ms = 0});
    h.engine.set_mode(policy::Mode::kEnforce);
    h.start();
    auto huge = h.sparse("huge", off_t{16} << 30);
    auto small = h.file("small", "small");
    h.source.push(huge, ::getppid());
    REQUIRE(h.source.wait_responses(1).size() == 1);
    CHECK(eventually([&] { return h.metrics.hashes_cancelled == 1; }));
    h.source.push(huge, ::getppid());  // the large lane's only worker is free again
    auto responses = h.source.wait_responses(2);
    REQUIRE(responses.size() == 2);
    CHECK(eventually([&] { return h.metrics.hashes_cancelled == 2; }));
    CHECK_FALSE(h.allowed(small));
    CHECK(h.metrics.timeouts == 2);
  }

  TEST_CASE("lanes: small files and cache hits are decided while every large-lane worker is stuck") {
    const std::string big_content(4096, 'B');
    auto rules = std::make_shared<BlockingRules>(hashdb::sha256_bytes(big_content));
    Harness h({.workers = 1, .large_workers = 1, .decision_timeout_ms = 20000, .large_file_bytes = 1024});
    h.start_with(rules, policy::Mode::kEnforce);
    auto warm = h.file("warm", "warm");
    auto big = h.file("big", big_content);
    auto big2 = h.file("big2", big_content + "2");
    auto small = h.file("small", "small");
    h.source.push(warm, ::getppid());  // cached
    REQUIRE(h.source.wait_responses(1).size() == 1);
    h.source.push(big, ::getppid());  // the large lane's only worker is stuck on it
    rules->wait_entered();
    h.source.push(big2, ::getppid());  // waits in the large lane
    h.source.push(small, ::getppid());
    h.source.push(warm, ::getppid());
    auto responses = h.source.wait_responses(3);
    REQUIRE(responses.size() == 3);
    std::map<std::string, bool> answered(responses.begin() + 1, responses.end());
    CHECK(answered.contains(small));
    CHECK(answered.contains(warm));
    CHECK_FALSE(answered.contains(big));
    CHECK_FALSE(answered.contains(big2));  // at most large_workers large hashes at once
    rules->release();
    CHECK(h.source.wait_responses(5).size() == 5);
  }

  TEST_CASE("overload: past max_pending unanswered events a new one is denied at once; a cache hit is still decided") {
    auto rules = std::make_shared<BlockingRules>(hashdb::sha256_bytes(std::string("stuck")));
    Harness h({.workers = 1, .decision_timeout_ms = 20000, .max_pending = 1});
    h.start_with(rules, policy::Mode::kEnforce);
    auto warm = h.file("warm", "warm");
    auto stuck = h.file("stuck", "stuck");
    auto extra = h.file("extra", "extra");
    h.source.push(warm, ::getppid());
    REQUIRE(h.source.wait_responses(1).size() == 1);
    h.source.push(stuck, ::getppid());
    rules->wait_entered();
    h.source.push(extra, ::getppid());
    h.source.push(warm, ::getppid());
    auto responses = h.source.wait_responses(3);
    REQUIRE(responses.size() == 3);
    std::map<std::string, bool> answered(responses.begin() + 1, responses.end());
    REQUIRE(answered.contains(extra));
    CHECK(answered[extra] == false);
    CHECK(answered.contains(warm));  // the warm path takes no slot
    rules->release();
    REQUIRE(h.source.wait_responses(4).size() == 4);
    auto e = only_decision(h.events(), extra);
    CHECK(e["rule"] == "error:overload");
    CHECK(e["decision"] == "deny");
    CHECK(h.metrics.overloads == 1);
  }

  TEST_CASE("overload: the large lane holds at most max_large_queued waiting files") {
    const std::string big_content(4096, 'B');
    auto rules = std::make_shared<BlockingRules>(hashdb::sha256_bytes(big_content));
    Harness h({.large_workers = 1, .decision_timeout_ms = 20000, .large_file_bytes = 1024, .max_large_queued = 1});
    h.start_with(rules, policy::Mode::kAudit);
    auto big = h.file("big", big_content);
    auto queued = h.file("queued", big_content + "q");
    auto refused = h.file("refused", big_content + "r");
    h.source.push(big, ::getppid());
    rules->wait_entered();
    h.source.push(queued, ::getppid());
    h.source.push(refused, ::getppid());
    auto responses = h.source.wait_responses(1);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0] == std::pair<std::string, bool>{refused, true});  // audit: allowed, logged
    rules->release();
    REQUIRE(h.source.wait_responses(3).size() == 3);
    auto e = only_decision(h.events(), refused);
    CHECK(e["rule"] == "error:overload");
    CHECK(e["would_deny"] == true);
  }

  TEST_CASE("a timed-out event still waiting for a worker has its fd closed at once") {
    auto rules = std::make_shared<BlockingRules>(hashdb::sha256_bytes(std::string("stuck")));
    Harness h({.workers = 1, .decision_timeout_ms = 100});
    h.start_with(rules, policy::Mode::kEnforce);
    auto stuck = h.file("stuck", "stuck");
    auto waiting = h.file("waiting", "waiting");
    h.source.push(stuck, ::getppid());
    rules->wait_entered();
    h.source.push(waiting, ::getppid());              // queued behind the stuck one
    REQUIRE(h.source.wait_responses(2).size() == 2);  // both time out
    // The only worker is still stuck, yet the waiting event's fd is gone.
    CHECK(eventually([&] { return open_fds_to(waiting) == 0; }));
    CHECK(open_fds_to(stuck) == 1);  // held by the worker that reads it
    rules->release();
    CHECK(eventually([&] { return open_fds_to(stuck) == 0; }));
  }

  TEST_CASE("a failed fanotify read is counted, logged once per interval, and reading goes on") {
    Harness h;
    h.engine.set_mode(policy::Mode::kEnforce);
    h.start();
    h.source.push_read_failure(EMFILE);
    h.source.push_read_failure(ENOMEM);
    auto path = h.file("x", "x");
    CHECK_FALSE(h.allowed(path));
    CHECK(h.metrics.read_errors == 2);
    CHECK(h.source.reads_attempted() >= 3);
    auto events = h.events();
    std::vector<json> read_errors;
    for (const auto& e : events)
      if (e["type"] == "read_error") read_errors.push_back(e);
    REQUIRE(read_errors.size() == 1);  // the second is held back for 10 s
    CHECK(read_errors[0]["count"] == 1);
    CHECK(read_errors[0]["error"].get<std::string>().starts_with("EMFILE"));
  }

  TEST_CASE("a deleted file is decided under its last name by path-deny rules, never by path-allow") {
    Harness h;
    auto tool = h.file("tool", "approved");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    c.path_rules.push_back({tool, hashdb::PathMatch::kExact, hashdb::Action::kDeny, "", {}});
    h.start_enforcing(c);
    UniqueFd fd(::open(tool.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    REQUIRE(::unlink(tool.c_str()) == 0);
    h.source.push_fd(std::move(fd), ::getppid());  // fexecve of a deleted file
    auto responses = h.source.wait_responses(1);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].second == false);
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["rule"] == "path-deny:" + tool);
    CHECK(events[0]["path"] == tool + " (deleted)");
  }

  TEST_CASE("racy clean: a file hashed within a tick of its change is hashed again at its next event") {
    std::atomic<int64_t> now{0};  // hashing "began" at the epoch: long before any ctime, so racy
    Harness h({.racy = {.granularity_ns = 4'000'000, .now_ns = [&] { return now.load(); }}}, true);
    auto path = h.file("tool", "approved");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    h.rules(c);
    h.start();
    h.source.push(path, ::getppid());
    REQUIRE(h.source.wait_responses(1).size() == 1);
    h.source.push(path, ::getppid());
    REQUIRE(h.source.wait_responses(2).size() == 2);
    CHECK(h.metrics.cache_misses == 2);  // racy: re-validated, not trusted
    now = RacyClock::realtime_ns() + 1'000'000'000;
    h.source.push(path, ::getppid());
    REQUIRE(h.source.wait_responses(3).size() == 3);
    CHECK(h.metrics.cache_misses == 3);  // the stored entry was still racy: hashed once more...
    h.source.push(path, ::getppid());
    auto responses = h.source.wait_responses(4);
    REQUIRE(responses.size() == 4);
    CHECK(h.metrics.cache_misses == 3);  // ...and now trusted
    CHECK(h.metrics.cache_hits == 1);
    for (const auto& r : responses) CHECK(r.second == true);
    // Two racy events, each looked up by the reading thread and again by the worker.
    CHECK(h.engine.cache().stats().racy == 4);
  }

  TEST_CASE(
      "a path-allow rule vouches only for files reached through the daemon's own mounts (a filesystem "
      "mark also sees execs in other namespaces, whose paths name something else here)") {
    // /usr/bin/true: a root-owned, non-writable chain, so path-allow applies when the path means what it says.
    const std::string tool = real("/usr/bin/true");
    hashdb::PolicyContent c;
    c.path_rules.push_back({tool, hashdb::PathMatch::kExact, hashdb::Action::kAllow, "", {}});
    for (bool local : {true, false}) {
      CAPTURE(local);
      int asked = 0;
      Harness h({.local_path = [&](int) {
        ++asked;
        return local;
      }});
      h.start_enforcing(c);
      CHECK(h.allowed(tool) == local);
      auto events = h.events();
      CHECK(asked == 1);
      if (!local) {
        REQUIRE(events.size() == 1);
        CHECK(events[0]["rule"] == "default-deny");
      }
    }
  }

  TEST_CASE("max_pending leaves a reserve of the fd limit for the daemon's own files") {
    struct Case {
      uint64_t nofile;
      size_t bound;
    };
    for (auto c : {Case{64, 16}, Case{1024, 896}, Case{524288, 16384}, Case{8, 8}, Case{0, 8}}) {
      CAPTURE(c.nofile);
      CHECK(pending_bound_for_fd_limit(c.nofile) == c.bound);
    }
  }
}

TEST_SUITE("enforcer.engine.scan") {
  TEST_CASE("denied files are offered to the content scan after the answer, once per content") {
    Harness h;
    ScanWorker scans({.host = "test", .idle_priority = false}, &h.log, h.metrics);
    h.engine.set_scanner(&scans);
    h.start();
    auto miner = h.file("miner", "#!/bin/sh\n# {\"donate-level\": 1, \"url\": \"stratum+tcp://pool\"}\nexit 0\n");
    // A retry loop, answered while the scanner is not even running: the
    // answer never waits for a scan.
    for (int i = 0; i < 5; ++i) h.source.push(miner, ::getppid());
    auto responses = h.source.wait_responses(5);
    REQUIRE(responses.size() == 5);
    CHECK(h.metrics.scans == 0);
    scans.start();
    REQUIRE(scans.flush(std::chrono::seconds(20)));
    auto events = h.events();  // the loop has stopped: every offer was made
    scans.stop();
    CHECK(h.metrics.scans_cached == 4);
    CHECK(h.metrics.scans == 1);
    size_t decisions = 0;
    std::vector<json> scan_events;
    for (const auto& e : events) {
      if (e["type"] == "decision") decisions += e.value("repeated", size_t{1});  // a retry loop is coalesced
      if (e["type"] == "scan") scan_events.push_back(e);
    }
    CHECK(decisions == 5);
    REQUIRE(scan_events.size() == 1);
    CHECK(scan_events[0]["sha256"] == events[0]["sha256"]);
    CHECK(scan_events[0]["path"] == miner);
    CHECK(scan_events[0]["miner"]["suspect"] == true);
    CHECK(scan_events[0]["hits"].size() == 2);
  }
}

// What `tollgate check` says is what the daemon does: the CLI binary and the
// engine decide each file of a table through policy::decide_file, and must
// agree on the verdict and the rule.
TEST_SUITE("enforcer.check_parity") {
  TEST_CASE("tollgate check and the engine reach the same verdict and rule for each kind of decision") {
    Harness h({.log_allows = true, .max_file_size = 1 * kMiB});
    const std::string base = real(h.dir.path());
    // A directory anyone may write to: files in it fail the ownership rule
    // whatever TMPDIR is.
    std::filesystem::create_directory(base + "/drop");
    REQUIRE(::chmod((base + "/drop").c_str(), 0777) == 0);

    auto approved = h.file("approved", "#!/bin/sh\necho approved\n");
    auto blocked = h.file("blocked", "#!/bin/sh\necho approved\n");  // same content, path-denied
    auto unknown = h.file("unknown", "#!/bin/sh\necho unknown\n");
    auto writable = h.file("drop/tool", "#!/bin/sh\necho tool\n");
    auto big = h.sparse("big", 2 * kMiB);
    auto big_blocked = h.sparse("big-blocked", 2 * kMiB);
    auto signed_file = h.file("signed", "#!/bin/sh\necho signed\n");
    // A system binary on a root-owned, non-writable chain.
    const std::string system = real("/bin/true");
    struct stat sst {};
    REQUIRE(::stat(system.c_str(), &sst) == 0);
    auto chain = policy::ownership_chain(system, sst);
    REQUIRE(chain);
    std::string why;
    REQUIRE_MESSAGE(policy::chain_is_safe(*chain, &why),
                    (std::string("the safe-chain case needs ") + system + ": " + why));

    auto keys = hashdb::generate_keypair();
    REQUIRE(keys);
    auto sig = policy::sign_digest(keys->private_key, hashdb::sha256_bytes(std::string("#!/bin/sh\necho signed\n")));
    REQUIRE(sig);
    REQUIRE(policy::write_sidecar_signature(signed_file, *sig));

    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("#!/bin/sh\necho approved\n"));
    c.path_rules.push_back({blocked, hashdb::PathMatch::kExact, hashdb::Action::kDeny, "", {}});
    c.path_rules.push_back({big_blocked, hashdb::PathMatch::kExact, hashdb::Action::kDeny, "", {}});
    c.path_rules.push_back({system, hashdb::PathMatch::kExact, hashdb::Action::kAllow, "", {}});
    c.path_rules.push_back({base + "/drop/", hashdb::PathMatch::kPrefix, hashdb::Action::kAllow, "", {}});
    c.signers.push_back({keys->public_key.key_id, keys->public_key.pem, "builds", {}});
    REQUIRE(hashdb::write_database(h.dir.file("policy.db"), c, {}));
    testing::write_text(h.dir.file("tollgate.yaml"), "database: " + h.dir.file("policy.db") + "\nmax_file_size: 1M\n");

    struct Case {
      std::string what, path, verdict, rule;
    };
    const std::string signer = "signer:" + hashdb::to_hex(keys->public_key.key_id).substr(0, 16);
    const std::vector<Case> cases = {
        {"hash allow", approved, "allow", "hash-allow:" + hashdb::to_hex(c.hash_rules[0].sha256).substr(0, 16)},
        {"path allow, safe chain", system, "allow", "path-allow:" + system},
        {"path allow, unsafe chain", writable, "deny", "default-deny"},
        {"path deny beats hash allow", blocked, "deny", "path-deny:" + blocked},
        {"too large", big, "deny", "error:too-large"},
        {"too large, path deny", big_blocked, "deny", "path-deny:" + big_blocked},
        {"trusted signer", signed_file, "allow", signer},
        {"no rule", unknown, "deny", "default-deny"},
    };

    h.start_enforcing(c);
    for (size_t i = 0; i < cases.size(); ++i) {
      h.source.push(cases[i].path, ::getppid());
      REQUIRE(h.source.wait_responses(i + 1).size() == i + 1);
    }
    std::map<std::string, json> by_path;  // the log is written after the answer, in any order
    for (auto& e : h.events()) by_path[e["path"].get<std::string>()] = e;
    REQUIRE(by_path.size() == cases.size());

    for (const auto& want : cases) {
      CAPTURE(want.what);
      const auto& daemon = by_path[want.path];
      CHECK(daemon["decision"] == want.verdict);
      CHECK(daemon["rule"] == want.rule);

      auto check = testing::run(
          {testing::built_binary("tollgate"), "check", "--json", "--config", h.dir.file("tollgate.yaml"), want.path});
      CAPTURE(check.err);
      CHECK(check.exit_code == (want.verdict == "allow" ? 0 : 1));
      auto out = json::parse(check.out);
      REQUIRE(out.size() == 1);
      CHECK(out[0]["path"] == want.path);
      CHECK(out[0]["verdict"] == daemon["decision"]);
      CHECK(out[0]["rule"] == daemon["rule"]);
    }
  }
}

namespace {

// A minimal ELF shared object header (ET_DYN, no DF_1_PIE): a library to
// the classifier, whatever else it lacks.
std::string shared_object_bytes(const std::string& tail) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_DYN;
  eh.e_machine = EM_X86_64;
  return std::string(reinterpret_cast<const char*>(&eh), sizeof eh) + tail;
}

// A child process running `argv` (argv[0] an absolute path), the opener of
// the events a test pushes (the engine allows its own pid without asking);
// killed by pid.
struct ChildProcess {
  pid_t pid = -1;
  std::string exe;  // /proc/PID/exe once it runs argv[0]
  explicit ChildProcess(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    REQUIRE(::posix_spawn(&pid, argv[0].c_str(), nullptr, nullptr, args.data(), environ) == 0);
    // Bounded wait until the child runs argv[0] (its exe is no longer ours).
    const std::string want = real(argv[0]);
    const std::string link = "/proc/" + std::to_string(pid) + "/exe";
    for (int i = 0; i < 500 && exe != want; ++i) {
      char buf[PATH_MAX] = {};
      if (::readlink(link.c_str(), buf, sizeof buf - 1) > 0) exe = buf;
      if (exe != want) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(exe == want);
  }
  ~ChildProcess() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

// /bin/sh: an interpreter. /bin/sleep: not one.
ChildProcess shell() { return ChildProcess({"/bin/sh", "-c", "sleep 30; :"}); }
ChildProcess sleeper() { return ChildProcess({"/bin/sleep", "30"}); }

EngineOptions full_coverage(policy::OpenRules rules = {}) {
  return {.full_coverage = true, .open_rules = std::move(rules)};
}

}  // namespace

TEST_SUITE("enforcer.engine.coverage") {
  TEST_CASE("full coverage: a plain open of data is allowed on the reading thread, unhashed and unlogged") {
    auto opener = sleeper();
    Harness h(full_coverage());
    h.start_enforcing();
    auto data = h.file("data.txt", "just text\n");
    CHECK(h.allowed(data, opener.pid));
    CHECK(h.events().empty());
    CHECK(h.metrics.plain_opens == 1);
    CHECK(h.metrics.cache_misses == 0);
    CHECK(h.metrics.hash_bytes == 0);
  }

  TEST_CASE("full coverage: the exec open of the same file is still decided as an exec") {
    auto opener = sleeper();
    Harness h(full_coverage());
    h.start_enforcing();
    auto data = h.file("tool", "just text\n");
    CHECK_FALSE(h.allowed(data, opener.pid, FAN_OPEN_EXEC_PERM));
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["event"] == "exec");
    CHECK(events[0]["rule"] == "default-deny");
  }

  TEST_CASE("full coverage: an unapproved shared object is denied as a library, an approved one allowed") {
    auto opener = sleeper();
    Harness h(full_coverage());
    auto evil = h.file("evil.so", shared_object_bytes("evil"));
    auto good = h.file("good.so", shared_object_bytes("good"));
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash(shared_object_bytes("good")));
    h.start_enforcing(c);
    h.source.push(evil, opener.pid);
    h.source.push(good, opener.pid);
    auto responses = h.source.wait_responses(2);
    REQUIRE(responses.size() == 2);
    std::map<std::string, bool> by_path(responses.begin(), responses.end());
    CHECK(by_path[evil] == false);
    CHECK(by_path[good] == true);
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["path"] == evil);
    CHECK(events[0]["event"] == "library");
    CHECK(events[0]["rule"] == "default-deny");
    CHECK(events[0]["pid"] == opener.pid);
    CHECK(events[0]["exe"] == opener.exe);
  }

  TEST_CASE("full coverage: an exempt reader opens an unapproved library without a decision") {
    auto reader = sleeper();
    policy::OpenRules rules;
    rules.library_readers = {reader.exe};
    Harness h(full_coverage(rules));
    h.start_enforcing();
    auto evil = h.file("evil.so", shared_object_bytes("evil"));
    CHECK(h.allowed(evil, reader.pid));
    CHECK(h.events().empty());  // settles: the counters are final
    CHECK(h.metrics.plain_opens == 1);
  }

  TEST_CASE("full coverage: what an interpreter opens is a script; in audit a would-deny names the kind") {
    auto sh = shell();
    auto other = sleeper();
    Harness h(full_coverage());
    auto script = h.file("x.sh", "echo hi\n");
    auto approved = h.file("ok.sh", "echo ok\n");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("echo ok\n"));
    h.rules(c);
    h.engine.set_mode(policy::Mode::kAudit);
    h.start();
    h.source.push(script, sh.pid);
    h.source.push(approved, sh.pid);
    h.source.push(script, other.pid);  // the same file read by a non-interpreter: a plain open
    auto responses = h.source.wait_responses(3);
    REQUIRE(responses.size() == 3);
    for (const auto& r : responses) CHECK(r.second == true);
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["path"] == script);
    CHECK(events[0]["event"] == "script");
    CHECK(events[0]["would_deny"] == true);
    CHECK(events[0]["pid"] == sh.pid);
    // The temp dir is not a safe chain: that is why hash_or_safe_path did not admit it.
    CHECK(events[0]["reason"].get<std::string>().find("not a safe path for a script") != std::string::npos);
    CHECK(h.metrics.plain_opens == 1);
  }

  TEST_CASE("full coverage: a FIFO is never opened for reading by the classifier and is allowed") {
    auto sh = shell();
    Harness h(full_coverage());
    h.start_enforcing();
    REQUIRE(::mkfifo(h.dir.file("fifo").c_str(), 0600) == 0);
    CHECK(h.allowed(real(h.dir.file("fifo")), sh.pid));
    h.settle();
    CHECK(h.metrics.plain_opens == 1);
  }

  TEST_CASE("without full coverage every event is an exec, whatever its mask") {
    auto opener = sleeper();
    Harness h;
    h.start_enforcing();
    auto data = h.file("data.txt", "just text\n");
    CHECK_FALSE(h.allowed(data, opener.pid));
    auto events = h.events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["event"] == "exec");
    CHECK(h.metrics.plain_opens == 0);
  }
}

namespace {

// Records the inode marks the engine asks for (by the fd's path).
class RecordingMarks final : public InodeMarkApi {
 public:
  int add_inode_mark(unsigned, uint64_t mask, int fd) override {
    char link[64], target[PATH_MAX];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = ::readlink(link, target, sizeof target - 1);
    std::lock_guard lock(mu_);
    marked_.push_back(n > 0 ? std::string(target, static_cast<size_t>(n)) : "?");
    masks_.push_back(mask);
    return 0;
  }
  int flush_inode_marks() override {
    std::lock_guard lock(mu_);
    ++flushes_;
    return 0;
  }
  std::vector<std::string> marked() {
    std::lock_guard lock(mu_);
    return marked_;
  }
  // The files marked with exactly `mask`, in order.
  std::vector<std::string> marked_with(uint64_t mask) {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (size_t i = 0; i < marked_.size(); ++i)
      if (masks_[i] == mask) out.push_back(marked_[i]);
    return out;
  }
  int flushes() {
    std::lock_guard lock(mu_);
    return flushes_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> marked_;
  std::vector<uint64_t> masks_;
  int flushes_ = 0;
};

// A root-owned binary in root-owned, non-writable directories on every host.
std::string safe_binary() {
  for (const char* p : {"/usr/bin/true", "/bin/true"}) {
    char resolved[PATH_MAX];
    if (::realpath(p, resolved)) return resolved;
  }
  FAIL("no /usr/bin/true");
  return {};
}

hashdb::HashRule allow_file(const std::string& path) {
  hashdb::HashRule r;
  r.sha256 = *hashdb::sha256_path(path);
  r.action = hashdb::Action::kAllow;
  return r;
}

// A Harness whose ignore marks a fake kernel records.
struct RecordingHarness {
  Harness h;
  RecordingMarks kernel;
  IgnoreMarks marks{kernel, h.metrics, {.max_marks = 100}};

  explicit RecordingHarness(EngineOptions options = {}) : h(std::move(options)) { h.engine.set_ignore_marks(&marks); }
};

// A Harness with ignore marks recorded by a fake kernel, enforcing a policy
// that approves the safe binary (plus `extra` rules).
struct MarkingHarness {
  const std::string safe = safe_binary();
  Harness h;
  RecordingMarks kernel;
  IgnoreMarks marks{kernel, h.metrics, {.max_marks = 100}};

  explicit MarkingHarness(hashdb::PolicyContent extra = {}, EngineOptions options = {}) : h(std::move(options)) {
    h.engine.set_ignore_marks(&marks);
    extra.hash_rules.push_back(allow_file(safe));
    h.start_with(std::make_shared<hashdb::MemoryRuleSet>(extra), policy::Mode::kEnforce);
  }
};

}  // namespace

TEST_SUITE("enforcer.engine.ignore_marks") {
  TEST_CASE("an allowed file on a safe chain is marked once answered; a copy under /tmp and a would-deny never are") {
    const std::string safe = safe_binary();
    RecordingHarness m;
    auto& [h, kernel, marks] = m;
    const std::string copy = h.dir.file("true-copy");
    std::filesystem::copy_file(safe, copy);
    ::chmod(copy.c_str(), 0755);
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_file(safe));
    h.start_with(std::make_shared<hashdb::MemoryRuleSet>(c), policy::Mode::kEnforce);
    const int flushes_at_start = kernel.flushes();
    h.source.push(safe, ::getppid());        // hashed on a worker, allowed, marked
    h.source.push(real(copy), ::getppid());  // same content, writable chain: allowed, never marked
    auto responses = h.source.wait_responses(2);
    REQUIRE(responses.size() == 2);
    CHECK(responses[0].second);
    CHECK(responses[1].second);
    h.source.push(real(copy), ::getppid());  // a cache hit on the reading thread: still not marked
    REQUIRE(h.source.wait_responses(3).size() == 3);
    h.engine.set_mode(policy::Mode::kAudit);     // a switch flushes
    const std::string unknown = "/usr/bin/env";  // root-owned, safe chain, not approved: a would-deny
    h.source.push(std::filesystem::canonical(unknown), ::getppid());
    REQUIRE(h.source.wait_responses(4).size() == 4);
    h.settle();
    CHECK(kernel.marked() == std::vector<std::string>{safe});
    CHECK(kernel.flushes() == flushes_at_start + 1);
    CHECK(h.metrics.ignore_marks == 0);
    CHECK(h.metrics.ignore_marks_added == 1);
  }

  TEST_CASE("a reload flushes the marks; a file marked under the old policy is decided by the new one") {
    MarkingHarness m;
    auto& [safe, h, kernel, marks] = m;
    h.source.push(safe, ::getppid());
    REQUIRE(h.source.wait_responses(1).size() == 1);
    // Wait (bounded) for the mark: it follows the answer.
    for (int i = 0; i < 500 && kernel.marked().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(kernel.marked().size() == 1);
    const int flushes = kernel.flushes();
    h.rules(hashdb::PolicyContent{});  // revoked
    CHECK(kernel.flushes() == flushes + 1);
    CHECK(h.metrics.ignore_marks == 0);
    CHECK_FALSE(h.allowed(safe));  // the kernel asks again: denied now
    h.settle();
    CHECK(kernel.marked().size() == 1);
  }

  TEST_CASE("a safe file reached through another namespace's mount: allowed by its hash, never marked") {
    EngineOptions foreign;
    foreign.local_path = [](int) { return false; };  // what the mount watcher says of another namespace's mount
    MarkingHarness m({}, std::move(foreign));
    auto& [safe, h, kernel, marks] = m;
    CHECK(h.allowed(safe));
    h.settle();
    CHECK(kernel.marked().empty());
    CHECK(h.metrics.ignore_marks_added == 0);
  }

  TEST_CASE("a path-deny rule over a safe file: denied, never marked") {
    hashdb::PolicyContent deny;
    deny.path_rules.push_back({safe_binary(), hashdb::PathMatch::kExact, hashdb::Action::kDeny, "", {}});
    MarkingHarness m(deny);
    auto& [safe, h, kernel, marks] = m;
    CHECK_FALSE(h.allowed(safe));
    h.settle();
    CHECK(kernel.marked().empty());
  }
}

TEST_SUITE("enforcer.engine.ignore_marks") {
  TEST_CASE(
      "full coverage: a script admitted only by safe-path gets a plain-opens mark (its exec is still asked), "
      "a hash-approved one a mark for every access; a cache hit still reads the path the safe-path rule needs") {
    auto sh = shell();
    RecordingHarness m(full_coverage());
    auto& [h, kernel, marks] = m;
    // Root-owned, not writable, in root-owned directories; not ELF; opened by an interpreter: scripts.
    const std::string safe_only = real("/etc/passwd");
    const std::string approved = real("/etc/group");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_file(approved));
    h.start_with(std::make_shared<hashdb::MemoryRuleSet>(c), policy::Mode::kEnforce);
    h.source.push(safe_only, sh.pid);  // hashed on a worker: no rule, allowed by safe-path
    REQUIRE(h.source.wait_responses(1).size() == 1);
    h.source.push(safe_only, sh.pid);  // a cache hit on the reading thread (path_on_demand)
    h.source.push(approved, sh.pid);
    auto responses = h.source.wait_responses(3);
    REQUIRE(responses.size() == 3);
    for (const auto& r : responses) CHECK(r.second == true);
    h.settle();
    CHECK(h.metrics.cache_hits >= 1);
    // A mark for every access would also let an exec of the safe-path script through unasked.
    CHECK(kernel.marked_with(FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM) == std::vector<std::string>{approved});
    const auto plain = kernel.marked_with(FAN_OPEN_PERM);
    CHECK_FALSE(plain.empty());
    for (const auto& p : plain) CHECK(p == safe_only);
  }

  TEST_CASE(
      "full coverage: a plain open of a file that is not code, on a safe chain, gets a plain-opens mark; "
      "an ELF and a file under /tmp never do") {
    auto opener = sleeper();
    RecordingHarness m(full_coverage());
    auto& [h, kernel, marks] = m;
    h.start_enforcing();
    const std::string data = real("/etc/passwd");                   // root-owned, 0644, in /etc and /: not code
    const std::string elf = safe_binary();                          // may be loaded: its loader open must be asked
    const std::string scratch = h.file("data.txt", "just text\n");  // under /tmp: anyone may replace it
    for (const auto& p : {data, elf, scratch, scratch}) h.source.push(p, opener.pid);
    auto responses = h.source.wait_responses(4);
    REQUIRE(responses.size() == 4);
    for (const auto& r : responses) CHECK(r.second);
    h.settle();
    CHECK(kernel.marked() == std::vector<std::string>{data});
    CHECK(kernel.marked_with(FAN_OPEN_PERM) == std::vector<std::string>{data});
    CHECK(h.metrics.ignore_marks_added == 1);
  }

  TEST_CASE(
      "full coverage: no plain-opens mark where another open could be denied: a hash-deny or path-deny "
      "rule anywhere, or script_trust: hash") {
    auto opener = sleeper();
    hashdb::PolicyContent hash_deny;
    hash_deny.hash_rules.push_back(allow_file(safe_binary()));
    hash_deny.hash_rules.back().action = hashdb::Action::kDeny;
    hashdb::PolicyContent path_deny;
    path_deny.path_rules.push_back({"/nonexistent/", hashdb::PathMatch::kPrefix, hashdb::Action::kDeny, "", {}});
    policy::OpenRules hash_only;
    hash_only.script_trust = policy::ScriptTrust::kHash;
    struct Case {
      const char* name;
      hashdb::PolicyContent rules;
      policy::OpenRules open_rules;
    };
    for (auto& c : {Case{"hash-deny", hash_deny, {}}, Case{"path-deny", path_deny, {}},
                    Case{"script_trust: hash", {}, hash_only}}) {
      CAPTURE(c.name);
      RecordingHarness m(full_coverage(c.open_rules));
      auto& [h, kernel, marks] = m;
      h.start_enforcing(c.rules);
      CHECK(h.allowed(real("/etc/passwd"), opener.pid));
      h.settle();
      CHECK(kernel.marked().empty());
    }
  }
}

namespace {

// MemoryRuleSet, counting how often a decision reads the path rules: every
// decision rebuilt by policy::decide reads them once; a repeat answered
// from the engine's quick path reads nothing.
class CountingRules final : public hashdb::RuleSet {
 public:
  explicit CountingRules(const hashdb::PolicyContent& content) : base_(content) {}
  Result<std::optional<hashdb::HashRule>> find_hash(const hashdb::Sha256& digest) const override {
    return base_.find_hash(digest);
  }
  const std::vector<hashdb::PathRule>& path_rules() const override {
    ++reads_;
    return base_.path_rules();
  }
  const std::vector<hashdb::Signer>& signers() const override { return base_.signers(); }
  bool may_deny_by_hash() const override { return base_.may_deny_by_hash(); }
  int reads() const { return reads_.load(); }

 private:
  hashdb::MemoryRuleSet base_;
  mutable std::atomic<int> reads_{0};
};

}  // namespace

TEST_SUITE("enforcer.engine.quick") {
  TEST_CASE("an approved file decided every time: repeats skip the rules until a reload or a change in place") {
    Harness h;
    auto path = h.file("tool", "approved");  // under /tmp: no ignore mark may cover it
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    auto counted = std::make_shared<CountingRules>(c);
    h.engine.set_policy(make_policy_state(counted, nullptr, h.engine.next_epoch()));
    h.engine.set_mode(policy::Mode::kEnforce);
    h.start();
    CHECK(h.allowed(path));  // hashed on a worker
    CHECK(h.allowed(path));  // a cache hit, decided on the reading thread
    const int reads = counted->reads();
    for (int i = 0; i < 5; ++i) CHECK(h.allowed(path));
    CHECK(counted->reads() == reads);  // answered from the quick path

    h.rules({});  // revoked
    CHECK_FALSE(h.allowed(path));
    CHECK_FALSE(h.allowed(path));

    h.rules(c);  // approved again, then changed in place
    CHECK(h.allowed(path));
    CHECK(h.allowed(path));
    {
      std::ofstream out(path, std::ios::app);
      out << "!";
    }
    CHECK_FALSE(h.allowed(path));
    CHECK_FALSE(h.allowed(path));
    h.settle();  // counted after the answer: final once the loop has stopped
    CHECK(h.metrics.allowed == 9);
    CHECK(h.metrics.denied == 4);
  }

  TEST_CASE("a hard link of an approved file into a path-deny place is denied though its inode was just allowed") {
    Harness h;
    auto path = h.file("tool", "approved");
    REQUIRE(::mkdir(h.dir.file("denied").c_str(), 0755) == 0);
    const std::string denied_dir = real(h.dir.file("denied"));
    const std::string link = denied_dir + "/tool";
    REQUIRE(::link(path.c_str(), link.c_str()) == 0);
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    c.path_rules.push_back({denied_dir + "/", hashdb::PathMatch::kPrefix, hashdb::Action::kDeny, "", {}});
    h.start_enforcing(c);
    for (int i = 0; i < 3; ++i) CHECK(h.allowed(path));
    CHECK_FALSE(h.allowed(link));
    CHECK(h.allowed(path));
    CHECK_FALSE(h.allowed(link));
    auto events = h.events();
    REQUIRE(events.size() >= 1);
    CHECK(events[0]["rule"] == "path-deny:" + denied_dir + "/");
  }

  TEST_CASE("log_allows: every repeat is decided and logged, never answered from the quick path") {
    EngineOptions o;
    o.log_allows = true;
    o.coalesce_window = std::chrono::milliseconds(0);
    Harness h(o);
    auto path = h.file("tool", "approved");
    hashdb::PolicyContent c;
    c.hash_rules.push_back(allow_hash("approved"));
    h.start_enforcing(c);
    for (int i = 0; i < 4; ++i) CHECK(h.allowed(path));
    auto events = h.events();
    CHECK(events.size() == 4);
    const std::string rule =
        "hash-allow:" + hashdb::to_hex(hashdb::sha256_bytes(std::string("approved"))).substr(0, 16);
    for (const auto& e : events) CHECK(e["rule"] == rule);
  }
}
