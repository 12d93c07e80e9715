#include "enforcer/engine.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/time.h"
#include "enforcer/scan_worker.h"
#include "enforcer/thread_priority.h"
#include "eventlog/builders.h"
#include "policy/facts.h"

namespace tollgate::enforcer {

using eventlog::overflow_event;
using eventlog::read_error_event;

namespace {

using Clock = std::chrono::steady_clock;

// How long reading pauses after a transient read failure (the kernel had no
// fd or memory for the next event): long enough not to spin, short enough
// that waiting execs barely notice.
constexpr auto kReadPause = std::chrono::milliseconds(10);
// At most one stderr/event-log line about read failures per this interval.
constexpr auto kReadFailureLogEvery = std::chrono::seconds(10);

// The decision cache as policy::decide_file's hook: the decision part of
// an entry counts only under the policy epoch it was computed for. Lives on
// the stack for one event; adds no allocation to a lookup (the entry is
// moved out of the copy the cache makes under its lock).
class EpochCache final : public policy::ContentCache {
 public:
  EpochCache(DecisionCache& cache, uint64_t epoch) : cache_(cache), epoch_(epoch) {}
  std::optional<policy::KnownContent> lookup(const struct stat& st) override {
    auto hit = cache_.lookup(key_of(st), validators_of(st));
    if (!hit) return std::nullopt;
    policy::KnownContent known{.sha256 = hit->sha256, .hashed_at_ns = hit->hashed_at_ns};
    if (hit->epoch == epoch_) {
      known.rules_current = true;
      known.hash_rule = std::move(hit->hash_rule);
      known.signed_by = hit->signed_by;
    }
    return known;
  }
  int64_t now_ns() override { return cache_.now_ns(); }
  void store(const struct stat& st, const policy::KnownContent& known) override {
    cache_.store(key_of(st), validators_of(st),
                 {.sha256 = known.sha256,
                  .hashed_at_ns = known.hashed_at_ns,
                  .epoch = epoch_,
                  .hash_rule = known.hash_rule,
                  .signed_by = known.signed_by});
  }

 private:
  DecisionCache& cache_;
  uint64_t epoch_;
};

uint64_t micros_since(Clock::time_point t) {
  auto d = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
}

uint64_t size_of(const struct stat& st) { return st.st_size < 0 ? 0 : static_cast<uint64_t>(st.st_size); }

std::string errno_text(int err) {
  const char* name = ::strerrorname_np(err);
  return fmt::format("{} ({})", name ? name : std::to_string(err), std::strerror(err));
}

}  // namespace

size_t pending_bound_for_fd_limit(uint64_t nofile) {
  const uint64_t reserve = std::min<uint64_t>(128, nofile * 3 / 4);
  return static_cast<size_t>(std::clamp<uint64_t>(nofile - reserve, 8, 16384));
}

std::shared_ptr<const PolicyState> make_policy_state(std::shared_ptr<const hashdb::RuleSet> rules,
                                                     std::shared_ptr<const hashdb::PolicyStore> store, uint64_t epoch) {
  auto state = std::make_shared<PolicyState>();
  state->rules = std::move(rules);
  state->store = std::move(store);
  state->epoch = epoch;
  state->signer_keys = policy::signer_keys(*state->rules);
  state->has_path_allow = policy::has_path_allow(*state->rules);
  state->has_path_deny = policy::has_path_deny(*state->rules);
  state->may_deny_by_hash = state->rules->may_deny_by_hash();
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
      kinds_(options_.cache_capacity, options_.racy),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  policy_ = empty_policy_state(next_epoch());
  if (log_ && options_.coalesce_window.count() > 0)
    coalescer_ = std::make_unique<eventlog::Coalescer>(options_.coalesce_window);
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
  // A worker may have counted a repeat after run() returned.
  flush_repeats(Clock::now(), true);
}

void Engine::set_policy(std::shared_ptr<const PolicyState> state) {
  {
    std::lock_guard lock(policy_mu_);
    policy_ = std::move(state);
  }
  policy_changes_.fetch_add(1, std::memory_order_release);
  if (marks_) marks_->flush("policy change");  // after: a new ticket sees the new policy
  unsafe_chains_.clear();                      // a chain made safe since is looked at again
}

void Engine::set_mode(policy::Mode mode) {
  if (mode_.exchange(mode) != mode && marks_) marks_->flush("mode switch");
}

const PolicyState& Engine::reader_policy() {
  const uint64_t changes = policy_changes_.load(std::memory_order_acquire);
  if (changes != reader_policy_seen_) {
    reader_policy_ = policy();
    reader_policy_seen_ = changes;
  }
  return *reader_policy_;
}

std::shared_ptr<const PolicyState> Engine::policy() const {
  std::lock_guard lock(policy_mu_);
  return policy_;
}

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

Engine::LogPlan Engine::plan_log(pid_t pid, const policy::Decision& d, const std::string& sha256,
                                 const std::string& path, ProcessInfo& process) {
  LogPlan plan;
  if (coalescer_) {
    plan.keyed = true;
    plan.key = {.verdict = d.verdict,
                .would_deny = d.would_deny,
                .rule = d.rule,
                .sha256 = sha256,
                .path = path,
                .ppid = read_ppid(pid)};
    if (coalescer_->repeat(plan.key, Clock::now())) {
      plan.write = false;
      process.pid = pid;
      process.ppid = static_cast<pid_t>(plan.key.ppid);
      return plan;
    }
  }
  process = read_process_info(pid);
  return plan;
}

void Engine::count(policy::Verdict verdict, bool would_deny, uint64_t latency_us) {
  if (verdict == policy::Verdict::kAllow) metrics_.allowed.fetch_add(1, std::memory_order_relaxed);
  else metrics_.denied.fetch_add(1, std::memory_order_relaxed);
  if (would_deny) metrics_.would_deny.fetch_add(1, std::memory_order_relaxed);
  metrics_.record_latency(latency_us);
}

void Engine::finish(const DecisionRecord& record, const LogPlan* plan) {
  count(record.decision.verdict, record.decision.would_deny, record.latency_us);
  if (!plan) return;
  if (!plan->write) {
    metrics_.log_coalesced.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto line = decision_event(options_.host, record);
  if (plan->keyed) coalescer_->first(plan->key, line, Clock::now());
  submit(std::move(line));
}

void Engine::flush_repeats(Clock::time_point now, bool all) {
  if (!coalescer_) return;
  auto lines = all ? coalescer_->take_all() : coalescer_->take_closed(now);
  if (lines.empty()) return;
  const std::string ts = format_rfc3339_us(std::chrono::system_clock::now());  // when the window closed
  for (auto& line : lines) {
    line["ts"] = ts;
    submit(std::move(line));
  }
}

void Engine::answer_error(const PendingPtr& p, policy::Failure failure, const std::string& reason,
                          const policy::FdPath* path) {
  const auto mode = this->mode();
  const auto verdict = error_verdict(mode);
  DecisionRecord r;
  r.mode = mode;
  r.decision = policy::failed(
      failure, reason + (options_.on_error ? fmt::format(" (on_error: {})", policy::to_string(verdict))
                                           : fmt::format(" (on_error default in {} mode: {})", policy::to_string(mode),
                                                         policy::to_string(verdict))));
  r.decision.verdict = verdict;
  r.decision.would_deny = verdict == policy::Verdict::kAllow;  // nothing approved it
  r.decision.access = p->access;
  r.event = p->access;
  r.path = path && !path->display.empty() ? path->display : policy::fd_path(p->event.fd.get(), p->st).display;
  // /proc facts first: after an allow the process may already run something else.
  const LogPlan plan = plan_log(p->event.pid, r.decision, r.sha256, r.path, r.process);
  if (!answer(*p, verdict == policy::Verdict::kAllow)) return;
  metrics_.errors.fetch_add(1, std::memory_order_relaxed);
  switch (failure) {
    case policy::Failure::kTimeout: metrics_.timeouts.fetch_add(1, std::memory_order_relaxed); break;
    case policy::Failure::kTooLarge: metrics_.too_large.fetch_add(1, std::memory_order_relaxed); break;
    case policy::Failure::kOverload: metrics_.overloads.fetch_add(1, std::memory_order_relaxed); break;
    default: break;
  }
  r.ts = std::chrono::system_clock::now();
  r.size = size_of(p->st);
  r.latency_us = micros_since(p->received);
  finish(r, &plan);
}

bool Engine::plain_marks_allowed(const PolicyState& state) const {
  return options_.open_rules.script_trust == policy::ScriptTrust::kHashOrSafePath && !state.has_path_deny &&
         !state.may_deny_by_hash;
}

void Engine::maybe_ignore(int fd, policy::FileDecision& r, uint64_t ticket, IgnoreMarks::Scope scope) {
  const auto& st = r.st;
  if (!may_mark(st)) return;
  if (r.path.display.empty()) r.path = policy::fd_path(fd, st);
  // The chain the decision gathered, else one read now.
  const bool safe = r.facts.chain.empty() ? chain_is_markable(fd, st, r.path) : policy::chain_is_safe(r.facts.chain);
  if (safe) marks_->add(fd, ticket, scope);
  else unsafe_chains_.add(st);
}

bool Engine::may_mark(const struct stat& st) const {
  // The cheap tests first (the fstat in hand): a user's copy stops here,
  // and so does a file whose chain was found unsafe before.
  return marks_->enabled() && S_ISREG(st.st_mode) && st.st_uid == 0 && !(st.st_mode & (S_IWGRP | S_IWOTH)) &&
         !unsafe_chains_.contains(st);
}

bool Engine::chain_is_markable(int fd, const struct stat& st, const policy::FdPath& path) const {
  if (path.path.empty() || path.nameless) return false;
  // Reached through another namespace's mount: its path names something
  // else here, so a chain read from it would vouch for the wrong directories.
  if (options_.local_path && !options_.local_path(fd)) return false;
  auto chain = policy::ownership_chain(path.path, st);
  return chain && policy::chain_is_safe(*chain);
}

void Engine::maybe_ignore_plain(int fd, const struct stat& st, policy::FileKind kind, uint64_t ticket) {
  // Only what no open could be denied: not code (an ELF object may be
  // loaded, and the loader's open must be asked), scripts admitted by
  // safe-path, and no deny rule a hash or path could meet.
  if (kind != policy::FileKind::kOther && kind != policy::FileKind::kNoContent) return;
  if (!may_mark(st) || !plain_marks_allowed(reader_policy())) return;
  // The same chain rule as an exec's mark (maybe_ignore).
  if (chain_is_markable(fd, st, policy::fd_path(fd, st))) marks_->add(fd, ticket, IgnoreMarks::Scope::kPlainOpens);
  else unsafe_chains_.add(st);
}

void Engine::conclude(const PendingPtr& p, policy::FileDecision&& fd, policy::Mode mode, uint64_t ticket) {
  if (fd.decision.failure) {
    answer_error(p, *fd.decision.failure, fd.decision.reason, &fd.path);
    return;
  }
  auto& d = fd.decision;
  const bool log = d.verdict == policy::Verdict::kDeny || d.would_deny || options_.log_allows;
  DecisionRecord r;
  r.sha256 = fd.facts.sha256 ? hashdb::to_hex(*fd.facts.sha256) : std::string();
  LogPlan plan;
  if (log) {
    // The path is part of a repeat's key: read it now when coalescing.
    if (coalescer_ && fd.path.display.empty()) fd.path = policy::fd_path(p->event.fd.get(), fd.st);
    plan = plan_log(p->event.pid, d, r.sha256, fd.path.display, r.process);  // before the answer
  }
  if (!answer(*p, d.verdict == policy::Verdict::kAllow)) return;
  // After the answer: the exec goes on; the mark and the scan can wait. Its
  // scope follows the verdict: every access for one that holds for every
  // access kind; plain opens only for a script admitted by safe-path (a
  // script is not ELF, so its exec is still asked), when no deny rule
  // could meet another open of it.
  if (marks_ && d.verdict == policy::Verdict::kAllow && !d.would_deny) {
    if (policy::allows_every_access(d)) maybe_ignore(p->event.fd.get(), fd, ticket, IgnoreMarks::Scope::kEveryAccess);
    else if (d.rule == "safe-path" && plain_marks_allowed(*policy()))
      maybe_ignore(p->event.fd.get(), fd, ticket, IgnoreMarks::Scope::kPlainOpens);
  }
  const bool offer = scanner_ && fd.facts.sha256 && d.policy_denies();
  // path_on_demand: read only now, for the log or the scan (after the answer).
  if ((log || offer) && fd.path.display.empty()) fd.path = policy::fd_path(p->event.fd.get(), fd.st);
  if (offer) scanner_->offer(p->event.fd.get(), *fd.facts.sha256, fd.path.display, fd.st);
  r.latency_us = micros_since(p->received);  // the one clock read of an unlogged allow
  if (log && plan.write) r.ts = std::chrono::system_clock::now();
  r.mode = mode;
  r.path = std::move(fd.path.display);
  r.size = size_of(p->st);
  r.event = p->access;
  r.decision = std::move(d);
  finish(r, log ? &plan : nullptr);
}

policy::DecideOptions Engine::decide_options(policy::Mode mode, bool may_block, const Pending& p) const {
  // Cancelled by the answer: once the deadline has answered the event, the
  // rest of the file is not worth reading.
  return {.mode = mode,
          .max_file_size = options_.max_file_size,
          .may_block = may_block,
          .cancel = may_block ? &p.answered : nullptr,
          .access = p.access,
          .script_trust = options_.open_rules.script_trust,
          .path_means_here = options_.local_path ? &options_.local_path : nullptr,
          .path_on_demand = true};
}

std::string_view Engine::opener_exe(pid_t pid) {
  char proc[32];
  std::snprintf(proc, sizeof proc, "/proc/%d/exe", static_cast<int>(pid));
  ssize_t n = ::readlink(proc, exe_buf_.data(), exe_buf_.size());
  if (n <= 0 || static_cast<size_t>(n) >= exe_buf_.size()) return {};
  std::string_view exe(exe_buf_.data(), static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (exe.ends_with(kDeleted)) exe.remove_suffix(kDeleted.size());
  return exe;
}

std::optional<policy::AccessKind> Engine::classify_plain_open(const RawEvent& ev, struct stat& st, bool& have_stat) {
  const int fd = ev.fd.get();
  const uint64_t ticket = mark_ticket();  // before the policy it marks under
  have_stat = ::fstat(fd, &st) == 0;
  if (!have_stat) return policy::AccessKind::kOpen;  // triage answers error:stat
  auto kind = kinds_.lookup(st);
  if (!kind) {
    const int64_t learned_at = kinds_.now_ns();  // racy clean: before the first byte
    kind = policy::file_kind_of_fd(fd, st);
    kinds_.store(st, *kind, learned_at);
  }
  const std::string_view exe = opener_exe(ev.pid);
  const auto access = policy::classify_open(*kind, exe, options_.open_rules);
  const std::string* reader = nullptr;
  if (access == policy::AccessKind::kLibrary)
    reader = policy::match_executable(options_.open_rules.library_readers, exe);
  if (access != policy::AccessKind::kOpen && !reader) return access;
  if (auto r = source_.respond(fd, true); !r) fmt::print(stderr, "tollgated: {}\n", r.error().message());
  metrics_.plain_opens.fetch_add(1, std::memory_order_relaxed);
  // After the answer: the open goes on while the mark is placed.
  if (marks_ && !reader) maybe_ignore_plain(fd, st, *kind, ticket);
  if (reader && options_.log_allows) {
    DecisionRecord record;
    record.ts = std::chrono::system_clock::now();
    record.mode = mode();
    record.decision = policy::library_reader_allowed(*reader);
    record.path = policy::fd_path(fd, st).display;
    record.size = size_of(st);
    record.event = access;
    record.process = read_process_info(ev.pid);
    submit(decision_event(options_.host, record));
  }
  return std::nullopt;
}

Engine::Route Engine::triage(const PendingPtr& p) {
  const int fd = p->event.fd.get();
  if (!p->have_stat && ::fstat(fd, &p->st) != 0) {
    answer_error(p, policy::Failure::kStat, fmt::format("the file could not be examined: {}", std::strerror(errno)));
    return Route::kDone;
  }
  const uint64_t ticket = mark_ticket();  // before the policy it marks under
  const PolicyState& state = reader_policy();
  const auto mode = this->mode();
  if (answer_quick(*p, state, mode, ticket)) return Route::kDone;
  EpochCache cache(cache_, state.epoch);
  auto r = policy::decide_file(fd, p->st, state.view(), decide_options(mode, false, *p), &cache);
  if (r.outcome == policy::FileDecision::Outcome::kDeferred) {
    // A hit from an older policy needs a lookup, not a hash: the small lane.
    return r.needs_hash && size_of(p->st) > options_.large_file_bytes ? Route::kLarge : Route::kSmall;
  }
  if (r.cache == policy::FileDecision::CacheUse::kHit) metrics_.cache_hits.fetch_add(1, std::memory_order_relaxed);
  remember_quick(*p, r, state.epoch, mode);
  conclude(p, std::move(r), mode, ticket);
  return Route::kDone;
}

bool Engine::answer_quick(Pending& p, const PolicyState& state, policy::Mode mode, uint64_t ticket) {
  auto it = quick_.find(key_of(p.st));
  if (it == quick_.end()) return false;
  QuickAllow& q = it->second;
  if (!(q.validators == validators_of(p.st)) || q.epoch != state.epoch || q.mode != mode || q.access != p.access)
    return false;
  // Path-deny outranks a content allow: the name this open came by is
  // read and matched every time, as decide_file would (a hard link into a
  // denied place is denied). A match is decided, and logged, the long way.
  if (state.has_path_deny) {
    policy::fd_path(p.event.fd.get(), p.st, quick_path_);
    if (policy::path_rule_matches(*state.rules, quick_path_, hashdb::Action::kDeny)) return false;
  }
  metrics_.cache_hits.fetch_add(1, std::memory_order_relaxed);
  if (!answer(p, true)) return true;
  count(policy::Verdict::kAllow, false, micros_since(p.received));
  if (q.try_mark) {
    // As conclude() would: a mark for a file whose chain was not yet found
    // unsafe (say the mark table was full last time).
    policy::FileDecision r;
    r.st = p.st;
    maybe_ignore(p.event.fd.get(), r, ticket, IgnoreMarks::Scope::kEveryAccess);
    q.try_mark = may_mark(p.st);
  }
  return true;
}

void Engine::remember_quick(const Pending& p, const policy::FileDecision& r, uint64_t epoch, policy::Mode mode) {
  const auto& d = r.decision;
  if (!r.content_allow || r.cache != policy::FileDecision::CacheUse::kHit || options_.log_allows) return;
  if (quick_.size() >= options_.cache_capacity) quick_.clear();
  // try_mark is settled once conclude() has tried (maybe_ignore): see there.
  quick_[key_of(p.st)] = {.validators = validators_of(p.st),
                          .epoch = epoch,
                          .mode = mode,
                          .access = p.access,
                          .try_mark = marks_ && policy::allows_every_access(d)};
}

void Engine::decide(const PendingPtr& p) {
  if (p->claimed.exchange(true)) return;  // the loop answered it and closed its fd
  if (p->answered.load()) return;
  const uint64_t ticket = mark_ticket();  // before the policy it marks under
  auto state = policy();
  const auto mode = this->mode();
  EpochCache cache(cache_, state->epoch);
  auto r = policy::decide_file(p->event.fd.get(), p->st, state->view(), decide_options(mode, true, *p), &cache);
  using CacheUse = policy::FileDecision::CacheUse;
  if (r.cache != CacheUse::kNone)
    (r.cache == CacheUse::kHit ? metrics_.cache_hits : metrics_.cache_misses).fetch_add(1, std::memory_order_relaxed);
  metrics_.hash_bytes.fetch_add(r.hashed_bytes, std::memory_order_relaxed);
  if (r.outcome == policy::FileDecision::Outcome::kCancelled) {
    metrics_.hashes_cancelled.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  conclude(p, std::move(r), mode, ticket);
}

void Engine::worker_loop(Lane& lane) {
  keep_thread_at_most_normal();  // hashing is attacker-driven work: never above the host's
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
      answer_error(p, policy::Failure::kInternal, e.what());
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
    answer_error(p, policy::Failure::kOverload,
                 route == Route::kLarge
                     ? fmt::format("{} large files were already waiting to be hashed (at most {}): not examined",
                                   options_.max_large_queued, options_.max_large_queued)
                     : fmt::format("{} events were already waiting for a decision (at most {}): not examined",
                                   waiting - 1, options_.max_pending));
    return false;  // its fd closes with the last reference, right here
  }
  // A file that must be hashed gets the time hashing it takes at a slow
  // floor rate on top of the base deadline, capped.
  const auto allowance_ms =
      std::min<uint64_t>(size_of(p->st) / std::max<uint64_t>(options_.hash_floor_bytes_per_s / 1000, 1),
                         static_cast<uint64_t>(std::max(options_.max_hash_allowance_ms, 0)));
  p->deadline =
      p->received + std::chrono::milliseconds(options_.decision_timeout_ms) + std::chrono::milliseconds(allowance_ms);
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
      answer_error(p, policy::Failure::kTimeout,
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
  if (options_.reader_nice) {
    if (auto st = set_thread_nice(*options_.reader_nice); !st)
      fmt::print(stderr, "tollgated: warning: {}\n", st.error().message());
  }
  LoopState loop{.next_tick = Clock::now()};
  for (;;) {
    auto now = Clock::now();
    expire(now);
    flush_repeats(now, false);    // a window that closed: its "repeated" line now, not at the next event
    note_read_failures({}, now);  // flushes a held-back count once its interval has passed
    if (tick && now >= loop.next_tick) {
      tick();
      loop.next_tick = now + std::chrono::milliseconds(options_.tick_ms);
    }
    if (stopping_.load()) loop.reading = false;
    if (!loop.reading && deadlines_.empty()) break;
    if (wait_readable(loop, now)) read_and_triage(loop);
  }
  flush_repeats(Clock::now(), true);
  return loop.result;
}

bool Engine::wait_readable(LoopState& loop, Clock::time_point now) {
  const bool paused = loop.reading && now < loop.read_paused_until;
  auto wait_until = loop.next_tick;
  if (!deadlines_.empty() && deadlines_.top().at < wait_until) wait_until = deadlines_.top().at;
  if (coalescer_)
    if (auto close = coalescer_->next_close(); close && *close < wait_until) wait_until = *close;
  if (paused && loop.read_paused_until < wait_until) wait_until = loop.read_paused_until;
  auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait_until - now).count() + 1;
  if (!loop.reading) wait_ms = std::min<long long>(wait_ms, 5);  // draining: poll for answers
  pollfd fds[2] = {{loop.reading && !paused ? source_.poll_fd() : -1, POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
  int rc = ::poll(fds, 2, static_cast<int>(std::max<long long>(wait_ms, 0)));
  if (rc < 0 && errno != EINTR) {
    loop.result = fail_errno(errno, "fanotify", "poll failed");
    loop.reading = false;
    return false;
  }
  if (fds[1].revents & POLLIN) {
    uint64_t v;
    ssize_t ignored = ::read(wake_fd_.get(), &v, sizeof v);
    (void)ignored;
  }
  return loop.reading && !paused && (fds[0].revents & (POLLIN | POLLERR));
}

void Engine::read_and_triage(LoopState& loop) {
  ReadNotes notes;
  read_buf_.clear();
  if (auto st = source_.read_events(read_buf_, notes); !st) {
    fmt::print(stderr, "tollgated: {}\n", st.error().message());
    loop.result = st;
    loop.reading = false;
    for (auto& ev : read_buf_) accept(std::move(ev), Clock::now());  // read before the failure: answer them
    return;
  }
  if (notes.overflows) {
    uint64_t total = metrics_.overflows.fetch_add(notes.overflows) + notes.overflows;
    submit(overflow_event(options_.host, total));
  }
  if (notes.failed_reads) {
    note_read_failures(notes, Clock::now());
    loop.read_paused_until = Clock::now() + kReadPause;
  }
  const auto received = Clock::now();
  for (auto& ev : read_buf_) accept(std::move(ev), received);
  read_buf_.clear();  // their fds are closed or held by their records
}

void Engine::accept(RawEvent&& ev, Clock::time_point received) {
  if (ev.pid == self_pid_) {
    // Our own exec (we never run anything, but never wait on ourselves).
    if (auto st = source_.respond(ev.fd.get(), true); !st) fmt::print(stderr, "tollgated: {}\n", st.error().message());
    metrics_.self_events.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  policy::AccessKind access = policy::AccessKind::kExec;
  struct stat st {};
  bool have_stat = false;
  if (options_.full_coverage && !is_exec_event(ev.mask)) {
    auto kind = classify_plain_open(ev, st, have_stat);
    if (!kind) return;  // answered: not code, nothing allocated
    access = *kind;
  }
  // A cache hit reuses the record of the one before it: no allocation.
  PendingPtr p;
  if (spare_) p = std::exchange(spare_, nullptr);
  else p = std::make_shared<Pending>();
  p->event = std::move(ev);
  p->received = received;
  p->access = access;
  p->st = st;
  p->have_stat = have_stat;
  metrics_.queue_depth.fetch_add(1, std::memory_order_relaxed);
  Route route = Route::kDone;
  try {
    route = triage(p);
  } catch (const std::exception& e) {
    answer_error(p, policy::Failure::kInternal, e.what());
  }
  if (route != Route::kDone) {
    enqueue(p, route);
  } else if (p.use_count() == 1) {  // no lane, no deadline: nobody else can see it
    p->event = {};                  // closes the event's fd now
    p->answered.store(false, std::memory_order_relaxed);
    p->claimed.store(false, std::memory_order_relaxed);
    spare_ = std::move(p);
  }
}

}  // namespace tollgate::enforcer
