// Engine: the event loop that answers every permission event.
//
//   Engine engine(source, &event_log, metrics, {.workers = 2, .decision_timeout_ms = 2000, .host = "web1"});
//   engine.set_policy(make_policy_state(store, engine.next_epoch()));
//   engine.set_mode(policy::Mode::kEnforce);
//   std::thread loop([&] { engine.run([] { sd_notify(0, "WATCHDOG=1"); }); });
//   ...
//   engine.stop(); loop.join();        // answers everything pending first
//
// Threads: run() reads events on the calling thread. An event whose file is
// in the decision cache for the policy in force (the warm, common case) is
// decided right there: fstat, a cache lookup, readlink and the in-memory
// path rules, no hashing and no database lookup, and no thread hand-off.
// Every other event goes to a pool of workers that gather facts
// (policy/facts.h, through the decision cache) and call policy::decide(). Every event has a deadline (decision_timeout_ms
// from when it was read); the loop thread answers any event still unanswered
// at its deadline with `on_error` and logs "error:timeout". An atomic flag per
// event makes sure it is answered exactly once, by whoever comes first; the
// event fd stays open until both the loop and the worker are done with it.
// Events from the daemon's own pid are allowed at once on the loop thread.
// The kernel is answered before anything that can block (logging, metrics).
//
// set_policy/set_mode/policy/mode/stop are safe from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "enforcer/cache.h"
#include "enforcer/events.h"
#include "enforcer/fanotify.h"
#include "enforcer/metrics.h"
#include "hashdb/keys.h"
#include "hashdb/rule_set.h"
#include "hashdb/store.h"
#include "policy/decision.h"

namespace tollgate::enforcer {

// The policy in force. Immutable once built; swapped whole on reload.
struct PolicyState {
  std::shared_ptr<const hashdb::PolicyStore> store;  // null = no database
  std::shared_ptr<const hashdb::RuleSet> rules;      // never null (empty without a database)
  std::vector<hashdb::PublicKey> signer_keys;        // parsed from rules->signers()
  uint64_t epoch = 0;                                // cache epoch, unique per load
  bool has_path_allow = false;

  uint64_t generation() const { return store ? store->generation() : 0; }
  std::string database() const { return store ? store->path() : std::string(); }
};

// `rules` may be any RuleSet (tests use MemoryRuleSet); `store` when it is a database.
std::shared_ptr<const PolicyState> make_policy_state(std::shared_ptr<const hashdb::RuleSet> rules,
                                                     std::shared_ptr<const hashdb::PolicyStore> store, uint64_t epoch);
// No database: every file is default-deny (so run in audit mode).
std::shared_ptr<const PolicyState> empty_policy_state(uint64_t epoch);

struct EngineOptions {
  int workers = 2;
  int decision_timeout_ms = 2000;
  policy::Verdict on_error = policy::Verdict::kAllow;
  bool log_allows = false;
  std::string host;
  int tick_ms = 1000;
  size_t cache_capacity = 65536;
  pid_t self_pid = 0;  // 0 = getpid()
};

class Engine {
 public:
  // `log` may be null (no event log). source, log and metrics must outlive the engine.
  Engine(EventSource& source, EventLog* log, Metrics& metrics, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void set_policy(std::shared_ptr<const PolicyState> state);
  std::shared_ptr<const PolicyState> policy() const;
  void set_mode(policy::Mode mode) { mode_.store(mode); }
  policy::Mode mode() const { return mode_.load(); }
  uint64_t next_epoch() { return ++epoch_counter_; }
  const DecisionCache& cache() const { return cache_; }

  // The event loop; returns when stop() was called and every event read has
  // been answered, or with an error when the event source fails (pending
  // events are answered first). `tick` runs at least every tick_ms.
  Status run(const std::function<void()>& tick = {});
  void stop();

 private:
  struct Pending {
    RawEvent event;
    std::chrono::steady_clock::time_point received;
    std::chrono::steady_clock::time_point deadline;
    std::atomic<bool> answered{false};
  };
  using PendingPtr = std::shared_ptr<Pending>;

  void worker_loop();
  // Decides and answers `p`. With inline_only (the reading thread), gives up
  // and returns false before anything that may be slow: hashing, a database
  // lookup, the ownership chain; a worker then does the whole job.
  bool process(const PendingPtr& p, bool inline_only);
  bool answer(Pending& p, bool allow);
  void answer_error(const PendingPtr& p, const std::string& rule, const std::string& reason);
  void expire(std::chrono::steady_clock::time_point now);
  void submit(nlohmann::json event);
  void finish(Pending& p, const DecisionRecord& record, bool log);

  EventSource& source_;
  EventLog* log_;
  Metrics& metrics_;
  EngineOptions options_;
  pid_t self_pid_;
  DecisionCache cache_;
  std::atomic<policy::Mode> mode_{policy::Mode::kAudit};
  std::atomic<uint64_t> epoch_counter_{0};

  mutable std::mutex policy_mu_;
  std::shared_ptr<const PolicyState> policy_;  // guarded by policy_mu_

  std::mutex work_mu_;
  std::condition_variable work_cv_;
  std::deque<PendingPtr> work_;  // guarded by work_mu_
  bool workers_stop_ = false;    // guarded by work_mu_
  std::vector<std::thread> workers_;

  std::deque<PendingPtr> pending_;  // loop thread only, in deadline order
  UniqueFd wake_fd_;                // eventfd written by stop()
  std::atomic<bool> stopping_{false};
};

}  // namespace tollgate::enforcer
