// IgnoreMarks: inode ignore marks, so that an allowed file that no
// unprivileged user can change never raises another permission event until
// it changes or the policy does (issue 13). One mechanism for every kind of
// permission event: exec (FAN_OPEN_EXEC_PERM) and, with full coverage,
// plain opens (FAN_OPEN_PERM); the caller says which (Scope).
//
//   IgnoreMarks marks(*source, metrics, {.max_marks = config.max_ignore_marks});
//   if (auto why = ignore_marks_precondition(config.log_allows, config.max_ignore_marks, sysctl_text); !why.empty())
//     marks.disable(why);
//   uint64_t ticket = marks.ticket();          // BEFORE reading the policy/mode in force
//   ... decide, answer allow ...
//   if (eligible) marks.add(event_fd, ticket); // refused when a flush happened since the ticket
//   marks.flush("policy reload");              // AFTER the new policy/mode is in force
//
// Exactly as safe as asking every time, because:
// - Which files: the caller marks only files the policy allowed (never a
//   would-deny, never an on_error allow) whose file and every parent are
//   root-owned and neither group- nor world-writable (policy::chain_is_safe).
//   A plain-opens mark (Scope::kPlainOpens) goes only on such a file that is
//   not code (not ELF) when no open of it could be denied: scripts are
//   admitted by safe-path (script_trust: hash_or_safe_path) and the policy
//   has no hash-deny and no path-deny rule (Engine::maybe_ignore_plain).
//   The kernel clears an ignore mask when the file is written or truncated
//   (the mark is added without FAN_MARK_IGNORED_SURV_MODIFY), so changed
//   content is decided again; only root can write such a file at all.
// - Other names of the same inode: a path-deny rule elsewhere could be
//   dodged by a hard link; with fs.protected_hardlinks=1 an unprivileged
//   user cannot link a root-owned file, so the daemon requires it.
// - Policy and mode: every inode mark of the group is flushed
//   (FAN_MARK_FLUSH without FAN_MARK_MOUNT/FILESYSTEM removes inode marks
//   only; mount and filesystem marks stay) on every reload, mode switch and
//   unmark. A decision that began before a flush cannot add a mark after it:
//   add() compares its ticket with the flush count under one mutex.
// - Bounded: at most max_marks are added between flushes; the one that
//   would exceed it flushes them all first (counted). Marks are evictable
//   where the kernel has FAN_MARK_EVICTABLE (5.19), so they never pin
//   inodes in memory; an evicted mark only means the file is decided again.
// - Logging: with log_allows the marks are off (allowed execs of a marked
//   file would never be seen, so never logged).
//
// Kernel flavours, detected at the first add: FAN_MARK_IGNORE (6.0) with
// FAN_MARK_EVICTABLE, else FAN_MARK_IGNORED_MASK with FAN_MARK_EVICTABLE,
// else FAN_MARK_IGNORED_MASK alone. A kernel refusing all three turns the
// marks off (disabled_reason says so).
//
// Thread-safety: every member may be called from any thread. add() and
// flush() serialize on one mutex (add runs once per file, flush per policy
// change: neither is on the per-event path); ticket() and the counters are
// lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "enforcer/metrics.h"

namespace tollgate::enforcer {

// The kernel side, so the engine is tested with a fake (tests/enforcer).
class InodeMarkApi {
 public:
  virtual ~InodeMarkApi() = default;
  // fanotify_mark(group, FAN_MARK_ADD | flags, mask, fd, NULL): 0 or an errno.
  virtual int add_inode_mark(unsigned flags, uint64_t mask, int fd) = 0;
  // fanotify_mark(group, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL): removes the
  // group's inode marks only. 0 or an errno.
  virtual int flush_inode_marks() = 0;
};

// Why ignore marks cannot be used, "" when they can: log_allows on, a bound
// of 0, or fs.protected_hardlinks (the text of /proc/sys/fs/protected_hardlinks;
// nullopt = unreadable) not 1.
std::string ignore_marks_precondition(bool log_allows, uint64_t max_marks,
                                      const std::optional<std::string>& protected_hardlinks);

class IgnoreMarks {
 public:
  struct Options {
    uint64_t max_marks = 16384;
  };
  // What a mark silences: every access (FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM,
  // after an allow that holds for every access kind), or plain opens only
  // (FAN_OPEN_PERM, for a file that is not code: its exec is still asked).
  enum class Scope { kEveryAccess, kPlainOpens };
  IgnoreMarks(InodeMarkApi& api, Metrics& metrics, Options options);

  void disable(std::string reason);
  bool enabled() const { return enabled_.load(std::memory_order_acquire); }
  std::string disabled_reason() const;
  // "ignore+evictable", "ignored-mask+evictable", "ignored-mask", or "" before the first add.
  std::string flavour() const;
  uint64_t max_marks() const { return options_.max_marks; }

  // Take it before reading the policy and mode a decision is made under.
  uint64_t ticket() const { return flushes_.load(std::memory_order_acquire); }
  // Adds an ignore mark of `scope` on the inode open on `fd`. False when
  // disabled, when a flush happened after `ticket`, or when the kernel refused.
  bool add(int fd, uint64_t ticket, Scope scope = Scope::kEveryAccess);
  // Removes every inode mark (after the policy or mode changed); `why` is
  // for stderr when the kernel refuses.
  void flush(std::string_view why);

 private:
  bool try_add(int fd, uint64_t mask);  // mu_ held
  void flush_locked(std::string_view why);

  InodeMarkApi& api_;
  Metrics& metrics_;
  const Options options_;
  std::atomic<bool> enabled_;
  std::atomic<uint64_t> flushes_{0};
  mutable std::mutex mu_;
  std::string reason_;  // guarded by mu_
  int flavour_ = -1;    // guarded by mu_: index into the candidate flags, -1 = not detected
  uint64_t count_ = 0;  // guarded by mu_: added since the last flush
};

}  // namespace tollgate::enforcer
