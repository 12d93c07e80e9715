#include "enforcer/engine.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cstring>

#include "policy/facts.h"
#include "policy/file_signature.h"

namespace tollgate::enforcer {
namespace {

using Clock = std::chrono::steady_clock;

// How long reading pauses after a transient read failure (the kernel had no
// fd or memory for the next event): long enough not to spin, short enough
// that waiting execs barely notice.
constexpr auto kReadPause = std::chrono::milliseconds(10);
// At most one stderr/event-log line about read failures per this interval.
constexpr auto kReadFailureLogEvery = std::chrono::seconds(10);

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

uint64_t micros_since(Clock::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
}

uint64_t size_of(const struct stat& st) { return st.st_size < 0 ? 0 : static_cast<uint64_t>(st.st_size); }

// The first path rule with `action` that matches; never one for an unknown
// path, and no path-allow for a file without a name (fd_path.h).
const hashdb::PathRule* find_path_rule(const hashdb::RuleSet& rules, const FdPath& path, hashdb::Action action) {
  if (path.path.empty() || (action == hashdb::Action::kAllow && path.nameless)) return nullptr;
  for (const auto& rule : rules.path_rules())
    if (rule.action == action && policy::path_matches(rule, path.path)) return &rule;
  return nullptr;
}

const hashdb::PathRule* find_path_allow(const PolicyState& state, const FdPath& path) {
  return state.has_path_allow ? find_path_rule(*state.rules, path, hashdb::Action::kAllow) : nullptr;
}

std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);
  return fmt::format("{} ({})", name ? name : std::to_string(err), std::strerror(err));
}

}  // namespace

std::string_view rule_id(Failure failure) {
  switch (failure) {
    case Failure::kTimeout: return "error:timeout";
    case Failure::kTooLarge: return "error:too-large";
    case Failure::kOverload: return "error:overload";
    case Failure::kStat: return "error:stat";
    case Failure::kLookup: return "error:lookup";
    case Failure::kInternal: return "error:internal";
  }
  return "error:internal";
}

size_t pending_bound_for_fd_limit(uint64_t nofile) {
  const uint64_t reserve = std::min<uint64_t>(128, nofile * 3 / 4);
  return static_cast<size_t>(std::clamp<uint64_t>(nofile - reserve, 8, 16384));
}

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
      cache_(options_.cache_capacity, options_.racy),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  policy_ = empty_policy_state(next_epoch());
  for (int i = 0; i < std::max(options_.workers, 1); ++i) small_.threads.emplace_back([this] { worker_loop(small_); });
  for (int i = 0; i < std::max(options_.large_workers, 1); ++i)
    large_.threads.emplace_back([this] { worker_loop(large_); });
}

Engine::~Engine() {
  for (Lane* lane : {&small_, &large_}) {
    {
      std::lock_guard lock(lane->mu);
      lane->stop = true;
    }
    lane->cv.notify_all();
    for (auto& t : lane->threads)
      if (t.joinable()) t.join();
  }
  // Anything still unanswered (run() never ran to the end): answer it now.
  const bool allow = error_verdict(mode()) == policy::Verdict::kAllow;
  for (; !deadlines_.empty(); deadlines_.pop())
    if (auto p = deadlines_.top().pending.lock()) answer(*p, allow);
}

void Engine::set_policy(std::shared_ptr<const PolicyState> state) {
  std::lock_guard lock(policy_mu_);
  policy_ = std::move(state);
}

std::shared_ptr<const PolicyState> Engine::policy() const {
  std::lock_guard lock(policy_mu_);
  return policy_;
}

bool Engine::is_local(int fd) const { return !options_.local_path || options_.local_path(fd); }

policy::Verdict Engine::error_verdict(policy::Mode mode) const {
  if (options_.on_error) return *options_.on_error;
  return mode == policy::Mode::kEnforce ? policy::Verdict::kDeny : policy::Verdict::kAllow;
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
  // Before the kernel hears it: whoever the answer wakes sees the slot free.
  metrics_.queue_depth.fetch_sub(1, std::memory_order_relaxed);
  if (auto st = source_.respond(p.event.fd.get(), allow); !st)
    fmt::print(stderr, "tollgated: {}\n", st.error().message());
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

void Engine::answer_error(const PendingPtr& p, Failure failure, const std::string& reason, const FdPath* path) {
  const auto mode = this->mode();
  const auto verdict = error_verdict(mode);
  // /proc facts first: after an allow the process may already run something else.
  ProcessInfo process = read_process_info(p->event.pid);
  if (!answer(*p, verdict == policy::Verdict::kAllow)) return;
  metrics_.errors.fetch_add(1, std::memory_order_relaxed);
  switch (failure) {
    case Failure::kTimeout: metrics_.timeouts.fetch_add(1, std::memory_order_relaxed); break;
    case Failure::kTooLarge: metrics_.too_large.fetch_add(1, std::memory_order_relaxed); break;
    case Failure::kOverload: metrics_.overloads.fetch_add(1, std::memory_order_relaxed); break;
    default: break;
  }
  DecisionRecord r;
  r.ts = std::chrono::system_clock::now();
  r.mode = mode;
  r.decision.verdict = verdict;
  r.decision.would_deny = verdict == policy::Verdict::kAllow;  // nothing approved it
  r.decision.rule = std::string(rule_id(failure));
  r.decision.reason = reason + (options_.on_error ? fmt::format(" (on_error: {})", policy::to_string(verdict))
                                                  : fmt::format(" (on_error default in {} mode: {})",
                                                                policy::to_string(mode), policy::to_string(verdict)));
  r.path = path ? path->display : fd_path(p->event.fd.get(), p->st).display;
  r.size = size_of(p->st);
  r.process = process;
  r.latency_us = micros_since(p->received);
  finish(*p, r, true);
}

void Engine::conclude(const PendingPtr& p, policy::Decision d, const FdPath& path, const policy::FileFacts& facts,
                      policy::Mode mode) {
  const bool log = d.verdict == policy::Verdict::kDeny || d.would_deny || options_.log_allows;
  DecisionRecord r;
  if (log) r.process = read_process_info(p->event.pid);  // before the answer lets the exec proceed
  if (!answer(*p, d.verdict == policy::Verdict::kAllow)) return;
  r.latency_us = micros_since(p->received);
  r.ts = std::chrono::system_clock::now();
  r.mode = mode;
  r.path = path.display;
  r.sha256 = facts.sha256 ? hashdb::to_hex(*facts.sha256) : std::string();
  r.size = size_of(p->st);
  r.decision = std::move(d);
  finish(*p, r, log);
}

void Engine::decide_too_large(const PendingPtr& p, const std::shared_ptr<const PolicyState>& state,
                              const FdPath& path, bool chain) {
  // Never hashed, so hash-deny, hash-allow and signers cannot apply. A
  // path-deny still denies it; a path-allow on a root-owned chain still
  // admits it (only root could have put it there, as for any file the
  // daemon cannot hash). Anything else is error:too-large.
  const auto mode = this->mode();
  policy::FileFacts facts;
  facts.path = path.path;
  if (chain && is_local(p->event.fd.get())) {
    if (auto c = policy::ownership_chain(path.path, p->st)) facts.chain = std::move(*c);
  }
  policy::Decision d = policy::decide(facts, *state->rules, mode);  // no sha256: no database lookup
  if (find_path_rule(*state->rules, path, hashdb::Action::kDeny) || !d.policy_denies()) {
    d.reason += fmt::format("; not hashed: {} bytes is over max_file_size", size_of(p->st));
    conclude(p, std::move(d), path, facts, mode);
    return;
  }
  answer_error(p, Failure::kTooLarge,
               fmt::format("{} bytes is over max_file_size ({} bytes): not hashed, and no path rule decides it",
                           size_of(p->st), options_.max_file_size),
               &path);
}

Engine::Route Engine::triage(const PendingPtr& p) {
  const int fd = p->event.fd.get();
  if (::fstat(fd, &p->st) != 0) {
    answer_error(p, Failure::kStat, fmt::format("the file could not be examined: {}", std::strerror(errno)));
    return Route::kDone;
  }
  const auto& st = p->st;
  const bool too_large = size_of(st) > options_.max_file_size;
  auto state = policy();
  auto hit = too_large ? std::nullopt : cache_.lookup(key_of(st), validators_of(st));
  const bool warm = hit && hit->epoch == state->epoch;
  if (!warm && !too_large) {
    // A hit from an older policy needs a lookup, not a hash: the small lane.
    return !hit && size_of(st) > options_.large_file_bytes ? Route::kLarge : Route::kSmall;
  }

  FdPath path = fd_path(fd, st);
  // The ownership chain (an lstat per parent) is not for the reading thread.
  if (find_path_allow(*state, path)) return Route::kSmall;
  if (too_large) {
    decide_too_large(p, state, path, false);
    return Route::kDone;
  }
  metrics_.cache_hits.fetch_add(1, std::memory_order_relaxed);
  const auto mode = this->mode();
  policy::FileFacts facts;
  facts.path = path.path;
  facts.sha256 = hit->sha256;
  facts.signed_by = hit->signed_by;
  auto d = policy::decide(facts, PrefetchedRules(*state->rules, hit->sha256, hit->hash_rule), mode);
  conclude(p, std::move(d), path, facts, mode);
  return Route::kDone;
}

void Engine::decide(const PendingPtr& p) {
  if (p->claimed.exchange(true)) return;  // the loop answered it and closed its fd
  if (p->answered.load()) return;
  const int fd = p->event.fd.get();
  auto state = policy();
  const auto mode = this->mode();
  struct stat st = p->st;
  const FileKey key = key_of(st);
  const FdPath path = fd_path(fd, st);
  const hashdb::PathRule* path_allow = find_path_allow(*state, path);
  if (size_of(st) > options_.max_file_size) {
    decide_too_large(p, state, path, path_allow != nullptr);
    return;
  }

  policy::FileFacts facts;
  facts.path = path.path;
  std::optional<hashdb::HashRule> hash_rule;
  bool have_rule = false;
  int64_t hashed_at = 0;
  if (auto hit = cache_.lookup(key, validators_of(st))) {
    metrics_.cache_hits.fetch_add(1, std::memory_order_relaxed);
    facts.sha256 = hit->sha256;
    hashed_at = hit->hashed_at_ns;
    if (hit->epoch == state->epoch) {
      hash_rule = hit->hash_rule;
      facts.signed_by = hit->signed_by;
      have_rule = true;
    }
  } else {
    metrics_.cache_misses.fetch_add(1, std::memory_order_relaxed);
    hashed_at = cache_.now_ns();  // racy clean: before the stat and the first byte
    // Cancelled by the answer: once the deadline has answered the event, the
    // rest of the file is not worth reading.
    if (auto hashed = hashdb::sha256_fd_stable(fd, path.display, &p->answered)) {
      facts.sha256 = hashed->digest;
      st = hashed->st;  // validators of the content that was hashed
      metrics_.hash_bytes.fetch_add(size_of(st), std::memory_order_relaxed);
    } else if (p->answered.load()) {
      metrics_.hashes_cancelled.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  if (facts.sha256 && !have_rule) {
    auto found = state->rules->find_hash(*facts.sha256);
    if (!found) {
      answer_error(p, Failure::kLookup, found.error().message(), &path);
      return;
    }
    hash_rule = std::move(*found);
    if (!state->signer_keys.empty())
      facts.signed_by = policy::trusted_signer(fd, path.path, *facts.sha256, state->signer_keys);
    cache_.store(key, validators_of(st),
                 {.sha256 = *facts.sha256,
                  .hashed_at_ns = hashed_at,
                  .epoch = state->epoch,
                  .hash_rule = hash_rule,
                  .signed_by = facts.signed_by});
  }
  if (path_allow && is_local(fd)) {
    if (auto chain = policy::ownership_chain(path.path, st)) facts.chain = std::move(*chain);
  }

  policy::Decision d = facts.sha256
                           ? policy::decide(facts, PrefetchedRules(*state->rules, *facts.sha256, hash_rule), mode)
                           : policy::decide(facts, *state->rules, mode);  // no sha256: no database lookup
  conclude(p, std::move(d), path, facts, mode);
}

void Engine::worker_loop(Lane& lane) {
  for (;;) {
    PendingPtr p;
    {
      std::unique_lock lock(lane.mu);
      lane.cv.wait(lock, [&] { return lane.stop || !lane.queue.empty(); });
      if (lane.queue.empty()) return;  // stopping
      p = std::move(lane.queue.front());
      lane.queue.pop_front();
    }
    try {
      decide(p);
    } catch (const std::exception& e) {
      answer_error(p, Failure::kInternal, e.what());
    }
  }
}

bool Engine::enqueue(const PendingPtr& p, Route route) {
  Lane& lane = route == Route::kLarge ? large_ : small_;
  // queue_depth counts this event too.
  const auto waiting = static_cast<uint64_t>(std::max<int64_t>(metrics_.queue_depth.load(), 0));
  bool full = waiting > options_.max_pending;
  if (!full && route == Route::kLarge) {
    std::lock_guard lock(lane.mu);
    full = lane.queue.size() >= options_.max_large_queued;
  }
  if (full) {
    answer_error(p, Failure::kOverload,
                 route == Route::kLarge
                     ? fmt::format("{} large files were already waiting to be hashed (at most {}): not examined",
                                   options_.max_large_queued, options_.max_large_queued)
                     : fmt::format("{} events were already waiting for a decision (at most {}): not examined",
                                   waiting - 1, options_.max_pending));
    return false;  // its fd closes with the last reference, right here
  }
  // A file that must be hashed gets the time hashing it takes at a slow
  // floor rate on top of the base deadline, capped.
  const auto allowance_ms = std::min<uint64_t>(
      size_of(p->st) / std::max<uint64_t>(options_.hash_floor_bytes_per_s / 1000, 1),
      static_cast<uint64_t>(std::max(options_.max_hash_allowance_ms, 0)));
  p->deadline = p->received + std::chrono::milliseconds(options_.decision_timeout_ms) +
                std::chrono::milliseconds(allowance_ms);
  deadlines_.push({p->deadline, p});
  {
    std::lock_guard lock(lane.mu);
    lane.queue.push_back(p);
  }
  lane.cv.notify_one();
  return true;
}

void Engine::expire(Clock::time_point now) {
  while (!deadlines_.empty()) {
    const auto& top = deadlines_.top();
    if (auto p = top.pending.lock(); p && !p->answered.load()) {
      if (top.at > now) break;
      answer_error(p, Failure::kTimeout,
                   fmt::format("no decision within its deadline ({} ms)",
                               std::chrono::duration_cast<std::chrono::milliseconds>(top.at - p->received).count()));
      // Release the fd now unless a worker holds it; that worker sees the
      // answer (its hash is cancelled) and lets go within one chunk.
      if (!p->claimed.exchange(true)) p->event.fd.reset();
    }
    deadlines_.pop();
  }
}

void Engine::note_read_failures(const ReadNotes& notes, Clock::time_point now) {
  if (notes.failed_reads) {
    metrics_.read_errors.fetch_add(notes.failed_reads, std::memory_order_relaxed);
    unlogged_read_failures_ += notes.failed_reads;
    last_read_errno_ = notes.last_errno;
  }
  if (!unlogged_read_failures_) return;
  if (read_failure_logged_ != Clock::time_point{} && now - read_failure_logged_ < kReadFailureLogEvery) return;
  const std::string what = errno_text(last_read_errno_);
  fmt::print(stderr, "tollgated: fanotify read failed {} times, last: {}; the kernel denied those events; reading on\n",
             unlogged_read_failures_, what);
  submit(read_error_event(options_.host, what, unlogged_read_failures_));
  unlogged_read_failures_ = 0;
  read_failure_logged_ = now;
}

Status Engine::run(const std::function<void()>& tick) {
  const auto tick_every = std::chrono::milliseconds(options_.tick_ms);
  auto next_tick = Clock::now();
  Clock::time_point read_paused_until{};
  Status result;
  bool reading = true;
  for (;;) {
    auto now = Clock::now();
    expire(now);
    note_read_failures({}, now);  // flushes a held-back count once its interval has passed
    if (tick && now >= next_tick) {
      tick();
      next_tick = now + tick_every;
    }
    if (stopping_.load()) reading = false;
    if (!reading && deadlines_.empty()) break;

    const bool paused = reading && now < read_paused_until;
    auto wait_until = next_tick;
    if (!deadlines_.empty() && deadlines_.top().at < wait_until) wait_until = deadlines_.top().at;
    if (paused && read_paused_until < wait_until) wait_until = read_paused_until;
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait_until - now).count() + 1;
    if (!reading) wait_ms = std::min<long long>(wait_ms, 5);  // draining: poll for answers
    pollfd fds[2] = {{reading && !paused ? source_.poll_fd() : -1, POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
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
    if (!reading || paused || !(fds[0].revents & (POLLIN | POLLERR))) continue;

    ReadNotes notes;
    auto events = source_.read_events(notes);
    if (!events) {
      fmt::print(stderr, "tollgated: {}\n", events.error().message());
      result = std::unexpected(events.error());
      reading = false;
      continue;
    }
    if (notes.overflows) {
      uint64_t total = metrics_.overflows.fetch_add(notes.overflows) + notes.overflows;
      submit(overflow_event(options_.host, total));
    }
    if (notes.failed_reads) {
      note_read_failures(notes, Clock::now());
      read_paused_until = Clock::now() + kReadPause;
    }
    const auto received = Clock::now();
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
      metrics_.queue_depth.fetch_add(1, std::memory_order_relaxed);
      Route route = Route::kDone;
      try {
        route = triage(p);
      } catch (const std::exception& e) {
        answer_error(p, Failure::kInternal, e.what());
      }
      if (route != Route::kDone) enqueue(p, route);
    }
  }
  return result;
}

}  // namespace tollgate::enforcer
