// Engine: the event loop that answers every permission event.
//
//   Engine engine(source, &event_log, metrics, {.workers = 2, .decision_timeout_ms = 2000, .host = "web1"});
//   engine.set_policy(make_policy_state(store, engine.next_epoch()));
//   engine.set_mode(policy::Mode::kEnforce);
//   std::thread loop([&] { engine.run([] { sd_notify(0, "WATCHDOG=1"); }); });
//   ...
//   engine.stop(); loop.join();        // answers everything pending first
//
// Principle: in enforce mode a file runs only after the engine has decided
// that it may. A deadline, a size, a flood or an internal error is answered
// by `on_error` (default: deny in enforce, allow in audit, per the mode in
// force when it happens) and logged with its reason (policy::Failure,
// "error:...").
//
// Every file is decided by policy::decide_file (policy/facts.h), the routine
// `tollgate check` uses too; the engine hands it the decision cache as its
// cache hook and says whether it may block (workers) or not (the reading
// thread).
//
// Threads and lanes (docs/architecture.md, "Decisions under pressure"):
// - run() reads events on the calling thread and triages each one there:
//   a file in the decision cache for the policy in force (the warm, common
//   case) is decided right away (fstat, a cache lookup, readlink and the
//   in-memory path rules; no hashing, no database, no hand-off). So is a
//   file over max_file_size (never hashed; only path rules can decide it,
//   else error:too-large), and our own pid (allowed).
// - Quick allows: a file whose last such decision was an allow by its
//   content's own rule (hash-allow or trusted signer:
//   policy::FileDecision::content_allow) and was not logged is remembered
//   per inode, with its validators, the policy epoch, the mode and the
//   access kind. Its next event with all four the same, opened by a name no
//   path-deny rule matches (read and matched only when the policy has one),
//   is answered allow from that memo: no decision is rebuilt and nothing is
//   allocated. This is the approved binary in a user-writable place, which
//   no ignore mark may cover and which is therefore decided at every exec.
// - Everything else goes to a lane: files up to large_file_bytes to the
//   small lane (`workers` threads), bigger ones to the large lane
//   (`large_workers` threads: the cap on concurrent large hashes). A small
//   file or a cache hit therefore never waits behind a large hash.
// - Bounded: when max_pending events are unanswered, or max_large_queued
//   wait in the large lane, a new event that needs a lane is answered at
//   once with error:overload instead of waiting.
// - Deadline: decision_timeout_ms from when it was read, plus the time a
//   file of its size takes to hash at a slow floor (hash_floor_bytes_per_s,
//   at most max_hash_allowance_ms), so a large approved file under the cap
//   gets the time it needs. The loop thread answers any event still
//   unanswered at its deadline with error:timeout, and closes its fd at
//   once when no worker holds it yet.
// - Exactly once: an atomic flag per event; whoever sets it answers. The
//   same flag cancels hashing (hashdb::sha256_fd), so a worker whose event
//   was answered stops within one 1 MiB chunk. A second flag, `claimed`,
//   gives the fd to one user: a worker claims it when it starts, the loop
//   claims it to close a timed-out event's fd; the fd is never closed while
//   a worker may read it.
// - The kernel is answered before anything that can block (logging,
//   metrics), and /proc facts are read before an allow lets the exec go on.
//
// - Full coverage (`coverage: full`, options.full_coverage): the marks add
//   FAN_OPEN_PERM. A plain open is classified on the reading thread before
//   anything is allocated for it: fstat, the file's kind from the
//   FileKindCache (read once per inode through the event fd: a 64-byte
//   header, for ELF the program headers and dynamic section), the opener's
//   executable (one readlink of /proc/PID/exe into a fixed buffer) and
//   policy::classify_open. An `open` (not code, or an executable being
//   read) and a library opened by an exempt reader are answered allow right
//   there, never hashed. A `loader`, `library` or `script` open is decided
//   like an exec, through decide_file with its access kind (and
//   script_trust), and logged with it.
//
// - Content scan (scan_worker.h): once a deny or would-deny of a hashed
//   file is answered, the file is offered to the scanner (a lookup and, the
//   first time per sha256, a dup of the fd onto a bounded queue); the scan
//   itself runs on the scanner's own idle-priority thread.
//
// - Ignore marks (ignore_marks.h): after answering a policy allow (not a
//   would-deny, not an on_error allow) of a root-owned file that no group
//   or other may write, whose parents are all root-owned and not group- or
//   world-writable (the ownership chain, read once, after the answer), the
//   engine asks for an inode ignore mark: that file's execs then stay in
//   the kernel until it is written or the policy or mode changes.
//   set_policy() and a set_mode() that changes the mode flush every inode
//   mark after the change is in force; a decision that read the old policy
//   cannot mark after the flush (its ticket is stale).
//
// - Repeated events (eventlog/coalescer.h, docs/events.md): a logged
//   decision identical to one written less than coalesce_window ago (same
//   answer, rule, sha256, path and parent pid) is answered and counted as always,
//   but not written: it reads only its parent pid (/proc/PID/stat), not the
//   full /proc facts, and is counted into the first line's window. The loop
//   writes the window's `"repeated": N` line as soon as it closes (it wakes
//   for it), and every open one when it stops.
//
// set_policy/set_mode/policy/mode/stop are safe from any thread; set_scanner
// and set_ignore_marks only before run().
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "enforcer/cache.h"
#include "enforcer/fanotify.h"
#include "enforcer/ignore_marks.h"
#include "enforcer/metrics.h"
#include "enforcer/process_info.h"
#include "eventlog/builders.h"
#include "eventlog/coalescer.h"
#include "eventlog/writer.h"
#include "hashdb/keys.h"
#include "hashdb/rule_set.h"
#include "hashdb/store.h"
#include "policy/access.h"
#include "policy/decision.h"
#include "policy/facts.h"

namespace tollgate::enforcer {

// The event log (eventlog/) the engine writes its decisions to.
using eventlog::DecisionRecord;
using eventlog::EventLog;

class ScanWorker;

// The policy in force. Immutable once built; swapped whole on reload.
struct PolicyState {
  std::shared_ptr<const hashdb::PolicyStore> store;  // null = no database
  std::shared_ptr<const hashdb::RuleSet> rules;      // never null (empty without a database)
  std::vector<hashdb::PublicKey> signer_keys;        // parsed from rules->signers()
  uint64_t epoch = 0;                                // cache epoch, unique per load
  bool has_path_allow = false;
  bool has_path_deny = false;
  bool may_deny_by_hash = true;  // rules->may_deny_by_hash()

  policy::RuleView view() const { return {*rules, signer_keys, has_path_allow, has_path_deny}; }

  uint64_t generation() const { return store ? store->generation() : 0; }
  std::string database() const { return store ? store->path() : std::string(); }
};

// `rules` may be any RuleSet (tests use MemoryRuleSet); `store` when it is a database.
std::shared_ptr<const PolicyState> make_policy_state(std::shared_ptr<const hashdb::RuleSet> rules,
                                                     std::shared_ptr<const hashdb::PolicyStore> store, uint64_t epoch);
// No database: every file is default-deny (so run in audit mode).
std::shared_ptr<const PolicyState> empty_policy_state(uint64_t epoch);

inline constexpr uint64_t kMiB = uint64_t{1} << 20;

struct EngineOptions {
  int workers = 2;        // small lane
  int large_workers = 1;  // large lane: at most this many large hashes at once
  int decision_timeout_ms = 2000;
  // The answer when no decision is reached; nullopt = deny in enforce, allow
  // in audit (the mode in force when it happens).
  std::optional<policy::Verdict> on_error;
  bool log_allows = false;
  std::string host;
  int tick_ms = 1000;
  size_t cache_capacity = 65536;
  pid_t self_pid = 0;                            // 0 = getpid()
  uint64_t max_file_size = 2048 * kMiB;          // larger: never hashed (error:too-large)
  uint64_t large_file_bytes = 16 * kMiB;         // larger: the large lane
  size_t max_pending = 4096;                     // unanswered events; beyond: error:overload
  size_t max_large_queued = 16;                  // waiting in the large lane; beyond: error:overload
  uint64_t hash_floor_bytes_per_s = 128 * kMiB;  // deadline allowance per byte to hash
  int max_hash_allowance_ms = 60000;
  RacyClock racy;  // the decision cache's racy-clean clock (tests inject one)
  // Whether the file open on an event fd was reached through a mount of the
  // daemon's namespace (enforcer/mount_watcher.h). A filesystem mark also
  // sees execs through other namespaces' mounts, whose paths name something
  // else here: such a file gets no ownership chain, so no path-allow
  // (policy::DecideOptions::path_means_here). Null: all are.
  std::function<bool(int fd)> local_path;
  // `coverage: full`: plain opens (FAN_OPEN_PERM) are classified and, when
  // they are code, decided; false: every event is an exec.
  bool full_coverage = false;
  policy::OpenRules open_rules;  // interpreters, script_trust, library_readers
  // Nice value run() gives its own thread (the one that reads and answers);
  // nullopt = leave it. Workers never run above normal priority.
  std::optional<int> reader_nice;
  // Identical logged decisions within this window of the first are written
  // as one `"repeated": N` line (eventlog/coalescer.h); 0 = every one its own line.
  std::chrono::milliseconds coalesce_window = eventlog::Coalescer::kDefaultWindow;
};

// max_pending for a process whose RLIMIT_NOFILE soft limit is `nofile`:
// every pending event holds one fd, and the daemon keeps a reserve for its
// own files (database, log, sockets, /proc reads).
size_t pending_bound_for_fd_limit(uint64_t nofile);

class Engine {
 public:
  // `log` may be null (no event log). source, log and metrics must outlive the engine.
  Engine(EventSource& source, EventLog* log, Metrics& metrics, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void set_policy(std::shared_ptr<const PolicyState> state);
  std::shared_ptr<const PolicyState> policy() const;
  // A change of mode flushes the ignore marks.
  void set_mode(policy::Mode mode);
  policy::Mode mode() const { return mode_.load(); }
  uint64_t next_epoch() { return ++epoch_counter_; }
  const DecisionCache& cache() const { return cache_; }
  // Offer denied/would-deny files to `scanner` (null: no content scan); it must outlive run().
  void set_scanner(ScanWorker* scanner) { scanner_ = scanner; }
  // Mark allowed files on a safe chain (null: never); it must outlive the engine.
  void set_ignore_marks(IgnoreMarks* marks) { marks_ = marks; }
  IgnoreMarks* ignore_marks() const { return marks_; }

  // The event loop; returns when stop() was called and every event read has
  // been answered, or with an error when the event source fails (pending
  // events are answered first). Transient read failures (EMFILE...) are
  // counted, logged at most every 10 s, and reading resumes after a short
  // pause. `tick` runs at least every tick_ms.
  Status run(const std::function<void()>& tick = {});
  void stop();
  // The answer for a policy::Failure under `mode`: on_error, or by mode when unset.
  policy::Verdict error_verdict(policy::Mode mode) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    RawEvent event;
    Clock::time_point received;
    Clock::time_point deadline;
    struct stat st {};       // the reading thread's fstat
    bool have_stat = false;  // st was taken while classifying a plain open
    policy::AccessKind access = policy::AccessKind::kExec;
    std::atomic<bool> answered{false};  // also the hash's cancel flag
    std::atomic<bool> claimed{false};   // a worker (or the loop, to close the fd) has the fd
  };
  using PendingPtr = std::shared_ptr<Pending>;
  enum class Route { kDone, kSmall, kLarge };
  struct Lane {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<PendingPtr> queue;  // guarded by mu
    bool stop = false;             // guarded by mu
    std::vector<std::thread> threads;
  };
  struct Deadline {
    Clock::time_point at;
    std::weak_ptr<Pending> pending;
    bool operator>(const Deadline& o) const { return at > o.at; }
  };

  void worker_loop(Lane& lane);
  // Reading thread: decides what needs no hashing, no database lookup and
  // no ownership chain (policy::decide_file with may_block false);
  // otherwise says which lane gets the event.
  Route triage(const PendingPtr& p);
  // Reading thread: answers an event allow from quick_ when the file's
  // last decision under this policy, mode and access kind was a
  // content-only, unlogged allow (QuickAllow); false: decide it.
  bool answer_quick(Pending& p, const PolicyState& state, policy::Mode mode, uint64_t ticket);
  // After `d` was answered for `p` on the reading thread: remembers it in
  // quick_ when it qualifies.
  void remember_quick(const Pending& p, const policy::FileDecision& d, uint64_t epoch, policy::Mode mode);
  // A worker: the whole decision, hashing through the cache.
  void decide(const PendingPtr& p);
  policy::DecideOptions decide_options(policy::Mode mode, bool may_block, const Pending& p) const;
  // Full coverage, a plain open, on the reading thread: its access kind, or
  // nullopt when it was answered here (allowed: not code, or an exempt
  // library reader). Fills `st` (have_stat says whether fstat worked).
  std::optional<policy::AccessKind> classify_plain_open(const RawEvent& ev, struct stat& st, bool& have_stat);
  // The opener's executable, read into exe_buf_ (empty when unknown).
  std::string_view opener_exe(pid_t pid);
  // Answers, logs and counts what decide_file reached.
  void conclude(const PendingPtr& p, policy::FileDecision&& r, policy::Mode mode, uint64_t ticket);
  // After an allow: an ignore mark when the file and its chain are safe.
  void maybe_ignore(int fd, policy::FileDecision& r, uint64_t ticket, IgnoreMarks::Scope scope);
  // Marks on, and `st` a root-owned regular file nobody else may write whose
  // chain was not found unsafe before: the tests before any path is read.
  bool may_mark(const struct stat& st) const;
  // Whether the file's path names it here and its chain is safe for a mark.
  bool chain_is_markable(int fd, const struct stat& st, const policy::FdPath& path) const;
  // Whether a plain-opens mark is safe under `state` (ignore_marks.h).
  bool plain_marks_allowed(const PolicyState& state) const;
  uint64_t mark_ticket() const { return marks_ ? marks_->ticket() : 0; }
  // A plain open of a file that is not code, just allowed: an ignore mark
  // for plain opens when no open of it could be denied (ignore_marks.h).
  void maybe_ignore_plain(int fd, const struct stat& st, policy::FileKind kind, uint64_t ticket);
  bool answer(Pending& p, bool allow);
  void answer_error(const PendingPtr& p, policy::Failure failure, const std::string& reason,
                    const policy::FdPath* path = nullptr);
  bool enqueue(const PendingPtr& p, Route route);
  void expire(Clock::time_point now);
  void submit(nlohmann::json event);
  // How a logged decision is written; plan_log fills `process` before the
  // answer: the full /proc facts, or for a repeat only its pid and ppid.
  struct LogPlan {
    bool write = true;   // false: a repeat, counted into an open window
    bool keyed = false;  // key is set: a written line opens a window
    eventlog::RepeatKey key;
  };
  LogPlan plan_log(pid_t pid, const policy::Decision& d, const std::string& sha256, const std::string& path,
                   ProcessInfo& process);
  // Counts the decision; writes it when `plan` is given (null: not logged).
  void finish(const DecisionRecord& record, const LogPlan* plan);
  void count(policy::Verdict verdict, bool would_deny, uint64_t latency_us);
  // Writes the summary lines of closed windows (every window when `all`).
  void flush_repeats(Clock::time_point now, bool all);
  void note_read_failures(const ReadNotes& notes, Clock::time_point now);
  // run()'s steps (loop thread only).
  struct LoopState {
    Clock::time_point next_tick;
    Clock::time_point read_paused_until{};
    bool reading = true;
    Status result;
  };
  // Polls until the next tick, deadline or pause end; true when events can be read.
  bool wait_readable(LoopState& loop, Clock::time_point now);
  void read_and_triage(LoopState& loop);
  // One event just read: ours is allowed at once, others triaged.
  void accept(RawEvent&& ev, Clock::time_point received);

  EventSource& source_;
  EventLog* log_;
  ScanWorker* scanner_ = nullptr;
  IgnoreMarks* marks_ = nullptr;
  Metrics& metrics_;
  EngineOptions options_;
  pid_t self_pid_;
  DecisionCache cache_;
  FileKindCache kinds_;               // loop thread only
  UnsafeChains unsafe_chains_;        // files whose chain refused a mark
  std::array<char, 4096> exe_buf_{};  // loop thread only: opener_exe()
  std::atomic<policy::Mode> mode_{policy::Mode::kAudit};
  std::atomic<uint64_t> epoch_counter_{0};

  mutable std::mutex policy_mu_;
  std::shared_ptr<const PolicyState> policy_;  // guarded by policy_mu_
  std::atomic<uint64_t> policy_changes_{0};    // bumped after each set_policy
  // The reading thread's copy of policy_, refreshed when policy_changes_
  // moves: a cache hit takes no lock and touches no shared reference count.
  std::shared_ptr<const PolicyState> reader_policy_;
  uint64_t reader_policy_seen_ = ~uint64_t{0};
  std::unique_ptr<eventlog::Coalescer> coalescer_;  // null: no log, or coalescing off
  std::vector<RawEvent> read_buf_;                  // reading thread only: what one read returned
  PendingPtr spare_;                                // reading thread only: the last decided record, for reuse
  // Reading thread only: the files whose last decision on this thread was
  // an allow by their content's own rule (policy::FileDecision::
  // content_allow: only a path-deny could have changed it) and not logged:
  // an approved binary in a user-writable place, which no ignore mark may
  // cover. Its next exec under the same policy epoch, mode and access kind,
  // with the same validators and by a name no path-deny rule matches, gets
  // the same answer without the decision being rebuilt (no rule, reason or
  // hash copied, nothing allocated). An entry comes only from a decision
  // cache hit, which is never racy (cache.h), and the racy test depends
  // only on the validators and when hashing began, so it stays not racy
  // while the validators hold. Bounded like the decision cache (cleared
  // when full).
  struct QuickAllow {
    Validators validators;
    uint64_t epoch = 0;
    policy::Mode mode = policy::Mode::kEnforce;
    policy::AccessKind access = policy::AccessKind::kExec;
    bool try_mark = false;  // an ignore mark may still be placed (maybe_ignore)
  };
  std::unordered_map<FileKey, QuickAllow, FileKeyHash> quick_;
  policy::FdPath quick_path_;  // reading thread only: the name a quick allow came by (its buffers reused)
  const PolicyState& reader_policy();

  Lane small_, large_;

  // Loop thread only: every event handed to a lane, earliest deadline first.
  std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> deadlines_;
  UniqueFd wake_fd_;  // eventfd written by stop()
  std::atomic<bool> stopping_{false};
  // Loop thread only: transient read failures not yet logged, and when the last line was written.
  uint64_t unlogged_read_failures_ = 0;
  int last_read_errno_ = 0;
  Clock::time_point read_failure_logged_{};
};

}  // namespace tollgate::enforcer
