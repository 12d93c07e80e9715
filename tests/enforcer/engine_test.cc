// The event loop, driven by a fake EventSource over real files in a temp
// directory: no root, no fanotify.
#include "enforcer/engine.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::enforcer;
using nlohmann::json;

namespace {

class FakeSource final : public EventSource {
 public:
  FakeSource() {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    read_end_.reset(p[0]);
    write_end_.reset(p[1]);
  }
  void push(const std::string& path, pid_t pid) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    {
      std::lock_guard lock(mu_);
      queued_.push_back({UniqueFd(fd), pid, 0});
    }
    char b = 1;
    REQUIRE(::write(write_end_.get(), &b, 1) == 1);
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
  Result<std::vector<RawEvent>> read_events(uint64_t* overflows) override {
    char buf[256];
    while (::read(read_end_.get(), buf, sizeof buf) > 0) {
    }
    std::lock_guard lock(mu_);
    std::vector<RawEvent> out;
    out.swap(queued_);
    *overflows = std::exchange(overflows_, 0);
    return out;
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

 private:
  UniqueFd read_end_, write_end_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RawEvent> queued_;
  uint64_t overflows_ = 0;
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

  explicit Harness(EngineOptions options = {})
      : log({.path = dir.file("events.jsonl")}, metrics),
        engine_slot(std::in_place, source, &log, metrics, with_host(options)),
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
  static EngineOptions with_host(EngineOptions o) {
    o.host = "test";
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
  void rules(const hashdb::PolicyContent& content) {
    auto set = std::make_shared<hashdb::MemoryRuleSet>(content);
    engine.set_policy(make_policy_state(set, nullptr, engine.next_epoch()));
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
    h.source.push(path, ::getppid());
    auto responses = h.source.wait_responses(1);
    REQUIRE(responses.size() == 1);
    CHECK(responses[0] == std::pair<std::string, bool>{path, true});
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
    h.rules(c);
    h.engine.set_mode(policy::Mode::kEnforce);
    h.start();
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
    h.rules(c);
    h.engine.set_mode(policy::Mode::kEnforce);
    h.start();
    h.source.push(path, ::getppid());
    h.source.push(path, ::getppid());
    h.source.wait_responses(2);
    h.source.push(path, ::getppid());
    auto responses = h.source.wait_responses(3);
    REQUIRE(responses.size() == 3);
    CHECK(responses[2].second == true);
    CHECK(h.metrics.cache_misses >= 1);
    CHECK(h.metrics.cache_misses + h.metrics.cache_hits == 3);
    CHECK(h.metrics.hash_bytes == 8 * h.metrics.cache_misses);

    {
      std::ofstream out(path, std::ios::app);
      out << "!";
    }
    h.source.push(path, ::getppid());
    responses = h.source.wait_responses(4);
    REQUIRE(responses.size() == 4);
    CHECK(responses[3].second == false);  // modified in place: new hash, not approved

    // Approve the new content: the reload must take effect though the hash is cached.
    auto misses = h.metrics.cache_misses.load();
    c.hash_rules.push_back(allow_hash("approved!"));
    h.rules(c);
    h.source.push(path, ::getppid());
    responses = h.source.wait_responses(5);
    REQUIRE(responses.size() == 5);
    CHECK(responses[4].second == true);
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
        h.engine.set_policy(make_policy_state(rules, nullptr, h.engine.next_epoch()));
        h.engine.set_mode(policy::Mode::kEnforce);
        h.start();
        auto path = h.file("slow", "slow");
        h.source.push(path, ::getppid());
        rules->wait_entered();
        auto responses = h.source.wait_responses(1);
        REQUIRE(responses.size() == 1);
        CHECK(responses[0].second == (on_error == policy::Verdict::kAllow));
        // Our own pid is answered at once, even with every worker stuck.
        h.source.push(path, ::getpid());
        responses = h.source.wait_responses(2);
        REQUIRE(responses.size() == 2);
        CHECK(responses[1].second == true);
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
