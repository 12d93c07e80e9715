#include "enforcer/engine.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include "policy/facts.h"
#include "policy/file_signature.h"

namespace tollgate::enforcer {
namespace {

using Clock = std::chrono::steady_clock;

// The RuleSet in force, with the hash lookup for one digest answered from
// the decision cache.
class PrefetchedRules final : public hashdb::RuleSet {
 public:
  PrefetchedRules(const hashdb::RuleSet& base, const hashdb::Sha256& digest, std::optional<hashdb::HashRule> rule)
      : base_(base), digest_(digest), rule_(std::move(rule)) {}
  Result<std::optional<hashdb::HashRule>> find_hash(const hashdb::Sha256& digest) const override {
    if (digest == digest_) return rule_;
    return base_.find_hash(digest);
  }
  const std::vector<hashdb::PathRule>& path_rules() const override { return base_.path_rules(); }
  const std::vector<hashdb::Signer>& signers() const override { return base_.signers(); }

 private:
  const hashdb::RuleSet& base_;
  hashdb::Sha256 digest_;
  std::optional<hashdb::HashRule> rule_;
};

std::string fd_path(int fd) {
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char buf[4096];
  ssize_t n = ::readlink(link, buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

uint64_t micros_since(Clock::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
}

}  // namespace

std::shared_ptr<const PolicyState> make_policy_state(std::shared_ptr<const hashdb::RuleSet> rules,
                                                     std::shared_ptr<const hashdb::PolicyStore> store,
                                                     uint64_t epoch) {
  auto state = std::make_shared<PolicyState>();
  state->rules = std::move(rules);
  state->store = std::move(store);
  state->epoch = epoch;
  state->signer_keys = policy::signer_keys(*state->rules);
  for (const auto& r : state->rules->path_rules())
    if (r.action == hashdb::Action::kAllow) state->has_path_allow = true;
  return state;
}

std::shared_ptr<const PolicyState> empty_policy_state(uint64_t epoch) {
  return make_policy_state(std::make_shared<hashdb::MemoryRuleSet>(hashdb::PolicyContent{}), nullptr, epoch);
}

Engine::Engine(EventSource& source, EventLog* log, Metrics& metrics, EngineOptions options)
    : source_(source),
      log_(log),
      metrics_(metrics),
      options_(std::move(options)),
      self_pid_(options_.self_pid ? options_.self_pid : ::getpid()),
      cache_(options_.cache_capacity),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  policy_ = empty_policy_state(next_epoch());
  int n = options_.workers < 1 ? 1 : options_.workers;
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(work_mu_);
    workers_stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  // Anything still unanswered (run() never ran to the end): answer it now.
  for (auto& p : pending_) answer(*p, options_.on_error == policy::Verdict::kAllow);
}

void Engine::set_policy(std::shared_ptr<const PolicyState> state) {
  std::lock_guard lock(policy_mu_);
  policy_ = std::move(state);
}

std::shared_ptr<const PolicyState> Engine::policy() const {
  std::lock_guard lock(policy_mu_);
  return policy_;
}

void Engine::stop() {
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
  (void)ignored;
}

void Engine::submit(nlohmann::json event) {
  if (log_) log_->submit(std::move(event));
}

bool Engine::answer(Pending& p, bool allow) {
  bool expected = false;
  if (!p.answered.compare_exchange_strong(expected, true)) return false;
  if (auto st = source_.respond(p.event.fd.get(), allow); !st)
    fmt::print(stderr, "tollgated: {}\n", st.error().message());
  metrics_.queue_depth.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void Engine::finish(Pending& p, const DecisionRecord& record, bool log) {
  const auto& d = record.decision;
  if (d.verdict == policy::Verdict::kAllow) metrics_.allowed.fetch_add(1, std::memory_order_relaxed);
  else metrics_.denied.fetch_add(1, std::memory_order_relaxed);
  if (d.would_deny) metrics_.would_deny.fetch_add(1, std::memory_order_relaxed);
  metrics_.record_latency(micros_since(p.received));
  if (log) submit(decision_event(options_.host, record));
}

void Engine::answer_error(const PendingPtr& p, const std::string& rule, const std::string& reason) {
  bool allow = options_.on_error == policy::Verdict::kAllow;
  // /proc facts first: after an allow the process may already run something else.
  ProcessInfo process = read_process_info(p->event.pid);
  if (!answer(*p, allow)) return;
  metrics_.errors.fetch_add(1, std::memory_order_relaxed);
  if (rule == "error:timeout") metrics_.timeouts.fetch_add(1, std::memory_order_relaxed);
  DecisionRecord r;
  r.ts = std::chrono::system_clock::now();
  r.mode = mode();
  r.decision.verdict = options_.on_error;
  r.decision.rule = rule;
  r.decision.reason = reason + " (on_error: " + std::string(policy::to_string(options_.on_error)) + ")";
  r.path = fd_path(p->event.fd.get());
  r.process = process;
  r.latency_us = micros_since(p->received);
  finish(*p, r, true);
}

bool Engine::process(const PendingPtr& p, bool inline_only) {
  if (p->answered.load()) return true;  // the deadline came first
  const int fd = p->event.fd.get();
  auto state = policy();
  const auto mode = this->mode();

  struct stat st;
  if (::fstat(fd, &st) != 0) {
    if (inline_only) return false;
    answer_error(p, "error:stat", "the file could not be examined");
    return true;
  }
  const FileKey key = key_of(st);
  auto hit = cache_.lookup(key, validators_of(st));
  // The reading thread only decides what needs no hashing and no lookup.
  if (inline_only && (!hit || hit->epoch != state->epoch)) return false;

  policy::FileFacts facts;
  facts.path = fd_path(fd);
  // The ownership chain only matters when a path-allow rule could apply.
  const hashdb::PathRule* path_allow = nullptr;
  if (state->has_path_allow) {
    for (const auto& rule : state->rules->path_rules()) {
      if (rule.action != hashdb::Action::kAllow || !policy::path_matches(rule, facts.path)) continue;
      path_allow = &rule;
      break;
    }
  }
  if (inline_only && path_allow) return false;  // lstat of every parent: not on the reading thread

  std::optional<hashdb::HashRule> hash_rule;
  bool have_rule = false;
  if (hit) {
    metrics_.cache_hits.fetch_add(1, std::memory_order_relaxed);
    facts.sha256 = hit->sha256;
    if (hit->epoch == state->epoch) {
      hash_rule = hit->hash_rule;
      facts.signed_by = hit->signed_by;
      have_rule = true;
    }
  } else {
    metrics_.cache_misses.fetch_add(1, std::memory_order_relaxed);
    if (auto hashed = hashdb::sha256_fd_stable(fd, facts.path)) {
      facts.sha256 = hashed->digest;
      st = hashed->st;  // validators of the content that was hashed
      metrics_.hash_bytes.fetch_add(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
    }
  }
  if (facts.sha256 && !have_rule) {
    auto found = state->rules->find_hash(*facts.sha256);
    if (!found) {
      answer_error(p, "error:lookup", found.error().message());
      return true;
    }
    hash_rule = std::move(*found);
    if (!state->signer_keys.empty())
      facts.signed_by = policy::trusted_signer(fd, facts.path, *facts.sha256, state->signer_keys);
    CacheEntry entry{*facts.sha256, state->epoch, hash_rule, facts.signed_by};
    cache_.store(key, validators_of(st), entry);
  }
  if (path_allow) {
    if (auto chain = policy::ownership_chain(facts.path, st)) facts.chain = std::move(*chain);
  }

  policy::Decision d;
  if (facts.sha256) d = policy::decide(facts, PrefetchedRules(*state->rules, *facts.sha256, hash_rule), mode);
  else d = policy::decide(facts, *state->rules, mode);
  if (d.rule == "error:lookup") {
    answer_error(p, d.rule, d.reason);
    return true;
  }

  const bool log = d.verdict == policy::Verdict::kDeny || d.would_deny || options_.log_allows;
  DecisionRecord r;
  if (log) r.process = read_process_info(p->event.pid);  // before the answer lets the exec proceed
  if (!answer(*p, d.verdict == policy::Verdict::kAllow)) return true;
  r.latency_us = micros_since(p->received);
  r.ts = std::chrono::system_clock::now();
  r.mode = mode;
  r.path = std::move(facts.path);
  r.sha256 = facts.sha256 ? hashdb::to_hex(*facts.sha256) : std::string();
  r.size = static_cast<uint64_t>(st.st_size);
  r.decision = std::move(d);
  finish(*p, r, log);
  return true;
}

void Engine::worker_loop() {
  for (;;) {
    PendingPtr p;
    {
      std::unique_lock lock(work_mu_);
      work_cv_.wait(lock, [&] { return workers_stop_ || !work_.empty(); });
      if (work_.empty()) return;  // stopping
      p = std::move(work_.front());
      work_.pop_front();
    }
    try {
      process(p, false);
    } catch (const std::exception& e) {
      answer_error(p, "error:internal", e.what());
    }
  }
}

void Engine::expire(Clock::time_point now) {
  while (!pending_.empty()) {
    auto& front = pending_.front();
    if (!front->answered.load()) {
      if (front->deadline > now) break;
      answer_error(front, "error:timeout", "no decision within decision_timeout_ms");
    }
    pending_.pop_front();
  }
}

Status Engine::run(const std::function<void()>& tick) {
  const auto timeout = std::chrono::milliseconds(options_.decision_timeout_ms);
  const auto tick_every = std::chrono::milliseconds(options_.tick_ms);
  auto next_tick = Clock::now();
  Status result;
  bool reading = true;
  for (;;) {
    auto now = Clock::now();
    expire(now);
    if (tick && now >= next_tick) {
      tick();
      next_tick = now + tick_every;
    }
    if (stopping_.load()) reading = false;
    if (!reading && pending_.empty()) break;

    auto wait_until = next_tick;
    if (!pending_.empty() && pending_.front()->deadline < wait_until) wait_until = pending_.front()->deadline;
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait_until - now).count() + 1;
    if (!reading) wait_ms = std::min<long long>(wait_ms, 5);  // draining: poll for answers
    pollfd fds[2] = {{reading ? source_.poll_fd() : -1, POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    int rc = ::poll(fds, 2, static_cast<int>(std::max<long long>(wait_ms, 0)));
    if (rc < 0 && errno != EINTR) {
      result = fail_errno(errno, "fanotify", "poll failed");
      reading = false;
      continue;
    }
    if (fds[1].revents & POLLIN) {
      uint64_t v;
      ssize_t ignored = ::read(wake_fd_.get(), &v, sizeof v);
      (void)ignored;
    }
    if (!reading || !(fds[0].revents & (POLLIN | POLLERR))) continue;

    uint64_t overflows = 0;
    auto events = source_.read_events(&overflows);
    if (!events) {
      fmt::print(stderr, "tollgated: {}\n", events.error().message());
      result = std::unexpected(events.error());
      reading = false;
      continue;
    }
    if (overflows) {
      uint64_t total = metrics_.overflows.fetch_add(overflows) + overflows;
      submit(overflow_event(options_.host, total));
    }
    const auto received = Clock::now();
    std::vector<PendingPtr> batch;
    for (auto& ev : *events) {
      if (ev.pid == self_pid_) {
        // Our own exec (we never run anything, but never wait on ourselves).
        if (auto st = source_.respond(ev.fd.get(), true); !st)
          fmt::print(stderr, "tollgated: {}\n", st.error().message());
        metrics_.self_events.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      auto p = std::make_shared<Pending>();
      p->event = std::move(ev);
      p->received = received;
      p->deadline = received + timeout;
      metrics_.queue_depth.fetch_add(1, std::memory_order_relaxed);
      // Warm-cache hits are decided right here: no thread hand-off.
      bool done = false;
      try {
        done = process(p, true);
      } catch (const std::exception&) {
        done = false;  // a worker will try again, or the deadline answers
      }
      if (done) continue;
      pending_.push_back(p);
      batch.push_back(std::move(p));
    }
    if (!batch.empty()) {
      {
        std::lock_guard lock(work_mu_);
        for (auto& p : batch) work_.push_back(std::move(p));
      }
      if (batch.size() == 1) work_cv_.notify_one();
      else work_cv_.notify_all();
    }
  }
  return result;
}

}  // namespace tollgate::enforcer
