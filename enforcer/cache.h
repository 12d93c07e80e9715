// DecisionCache: what the enforcer remembers about executables it has seen,
// so a file is hashed once until it changes.
//
//   FileKey key{st.st_dev, st.st_ino};
//   Validators v = validators_of(st);
//   if (auto hit = cache.lookup(key, v)) ... hit->sha256 ...
//   cache.store(key, v, entry);
//
// Key: inode identity (dev, ino). Validators: size and ctime (mtime alone is
// not enough: a file's owner can set it back; any write or chmod/chown moves
// ctime). An entry whose validators differ is a miss and is replaced.
//
// Each entry has two parts: the content part (SHA-256), valid as long as the
// validators hold, and the decision part (the hash rule found for it and the
// trusted signer), valid only for the policy epoch it was computed under.
// A reload bumps the epoch, which empties every decision part at once while
// the content part survives (content does not change with policy).
//
// Racy clean (git's rule, for kernels whose ctime is a jiffy coarse, like
// Debian 12's 6.1): a rewrite of the same size within one timestamp tick of
// the change before it leaves size and ctime equal, so validators alone
// cannot tell the content hashed from the content now. Each entry therefore
// records when hashing began (`hashed_at_ns`, CLOCK_REALTIME, the clock
// ctime is stamped from). An entry whose ctime is not at least one
// granularity older than that moment is "racy": lookup() does not trust it
// and the caller hashes again; the re-hash begins later, so a file is
// hashed at most a few times while it is younger than the granularity.
// The granularity is the kernel's timestamp tick (twice
// clock_getres(CLOCK_REALTIME_COARSE)), and 2 s for a ctime with no
// sub-second part (whole-second filesystems: ext3, FAT). Tests inject it and
// the clock through RacyClock.
//
// Bounded: when `capacity` entries are held, the cache is cleared before the
// next insert (simple, O(1), and re-hashing a working set is cheap).
// Thread-safe: one mutex, held only for map operations.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "hashdb/rules.h"
#include "hashdb/sha256.h"
#include "policy/access.h"

namespace tollgate::enforcer {

struct FileKey {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileKey&) const = default;
};

struct Validators {
  uint64_t size = 0;
  int64_t ctime_ns = 0;
  bool operator==(const Validators&) const = default;
};

FileKey key_of(const struct stat& st);

// The one hash of a FileKey, for every per-inode map below.
struct FileKeyHash {
  size_t operator()(const FileKey& k) const { return std::hash<uint64_t>()(k.ino * 0x9e3779b97f4a7c15ULL ^ k.dev); }
};
Validators validators_of(const struct stat& st);

struct CacheEntry {
  hashdb::Sha256 sha256{};
  int64_t hashed_at_ns = 0;  // RacyClock::now_ns() when hashing began
  // Decision part, valid when epoch equals the policy epoch in force.
  uint64_t epoch = 0;  // 0 = no decision part
  std::optional<hashdb::HashRule> hash_rule;
  std::optional<hashdb::Sha256> signed_by;
};

struct CacheStats {
  uint64_t entries = 0;
  uint64_t clears = 0;
  uint64_t racy = 0;  // lookups refused because the entry was racy
};

// The clock and timestamp granularity of the racy-clean rule.
struct RacyClock {
  int64_t granularity_ns = default_ctime_granularity_ns();
  std::function<int64_t()> now_ns = realtime_ns;  // CLOCK_REALTIME

  static int64_t realtime_ns();
  static int64_t default_ctime_granularity_ns();
  // The granularity that applies to `ctime_ns`: 2 s when it has no
  // sub-second part, else `granularity_ns`.
  int64_t granularity_for(int64_t ctime_ns) const;
  // Whether content with ctime `ctime_ns`, hashed from `hashed_at_ns` on, is
  // racy (not to be trusted without hashing again).
  bool racy(int64_t ctime_ns, int64_t hashed_at_ns) const;
};

class DecisionCache {
 public:
  explicit DecisionCache(size_t capacity = 65536, RacyClock clock = {})
      : capacity_(capacity ? capacity : 1), clock_(std::move(clock)) {}

  // The entry for `key` when its validators equal `v` and it is not racy;
  // nullopt otherwise (hash again, then store()).
  std::optional<CacheEntry> lookup(const FileKey& key, const Validators& v) const;
  // Inserts or replaces. entry.hashed_at_ns must be now_ns() read before the
  // content was hashed (or the value of the entry the hash came from).
  void store(const FileKey& key, const Validators& v, const CacheEntry& entry);
  void clear();
  CacheStats stats() const;
  // The racy-clean clock: read it just before hashing begins.
  int64_t now_ns() const { return clock_.now_ns(); }

 private:
  struct Slot {
    Validators validators;
    CacheEntry entry;
  };
  size_t capacity_;
  RacyClock clock_;
  mutable std::mutex mu_;
  std::unordered_map<FileKey, Slot, FileKeyHash> map_;  // guarded by mu_
  uint64_t clears_ = 0;                                 // guarded by mu_
  mutable uint64_t racy_ = 0;                           // guarded by mu_
};

// FileKindCache: what the first bytes of a file said it is (policy/access.h),
// for `coverage: full`, so a plain open of a known inode is decided from
// memory without reading the file. Same key and validators as the
// DecisionCache, same racy-clean rule (a rewrite within one ctime tick keeps
// the validators: such an entry is read again, which costs one pread).
// Bounded like the DecisionCache (cleared when full).
// Thread-safety: none; the event loop thread alone uses it.
class FileKindCache {
 public:
  explicit FileKindCache(size_t capacity = 65536, RacyClock clock = {})
      : capacity_(capacity ? capacity : 1), clock_(std::move(clock)) {}

  // The kind learnt for `st`'s inode while its validators equal st's.
  std::optional<policy::FileKind> lookup(const struct stat& st) const;
  // `learned_at_ns`: now_ns() read before the bytes were.
  void store(const struct stat& st, policy::FileKind kind, int64_t learned_at_ns);
  int64_t now_ns() const { return clock_.now_ns(); }
  size_t size() const { return map_.size(); }

 private:
  struct Slot {
    Validators validators;
    int64_t learned_at_ns = 0;
    policy::FileKind kind = policy::FileKind::kOther;
  };
  size_t capacity_;
  RacyClock clock_;
  std::unordered_map<FileKey, Slot, FileKeyHash> map_;
};

// UnsafeChains: files found on a directory chain that is not safe for an
// ignore mark (enforcer/ignore_marks.h), so that an exec or open of them
// does not read the path and lstat every parent again each time: a user's
// binary in /tmp is decided at every exec, and that must stay cheap. An
// entry holds while the file's validators do (a changed file is looked at
// again); the set is cleared on every policy change, so a chain an admin
// has since made safe is looked at again then, and when full. Only ever
// withholds a mark, so a stale entry costs speed, never safety.
// Thread-safe: one mutex, held only for the map operation.
class UnsafeChains {
 public:
  explicit UnsafeChains(size_t capacity = 65536) : capacity_(capacity ? capacity : 1) {}
  bool contains(const struct stat& st) const;
  void add(const struct stat& st);
  void clear();

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<FileKey, Validators, FileKeyHash> map_;  // guarded by mu_
};

}  // namespace tollgate::enforcer
