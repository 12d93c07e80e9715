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
// Bounded: when `capacity` entries are held, the cache is cleared before the
// next insert (simple, O(1), and re-hashing a working set is cheap).
// Thread-safe: one mutex, held only for map operations.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "hashdb/rules.h"
#include "hashdb/sha256.h"

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
Validators validators_of(const struct stat& st);

struct CacheEntry {
  hashdb::Sha256 sha256{};
  // Decision part, valid when epoch equals the policy epoch in force.
  uint64_t epoch = 0;  // 0 = no decision part
  std::optional<hashdb::HashRule> hash_rule;
  std::optional<hashdb::Sha256> signed_by;
};

struct CacheStats {
  uint64_t entries = 0;
  uint64_t clears = 0;
};

class DecisionCache {
 public:
  explicit DecisionCache(size_t capacity = 65536) : capacity_(capacity ? capacity : 1) {}

  // The entry for `key` when its validators equal `v`; nullopt otherwise.
  std::optional<CacheEntry> lookup(const FileKey& key, const Validators& v) const;
  // Inserts or replaces.
  void store(const FileKey& key, const Validators& v, const CacheEntry& entry);
  void clear();
  CacheStats stats() const;

 private:
  struct Hash {
    size_t operator()(const FileKey& k) const { return std::hash<uint64_t>()(k.ino * 0x9e3779b97f4a7c15ULL ^ k.dev); }
  };
  struct Slot {
    Validators validators;
    CacheEntry entry;
  };
  size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<FileKey, Slot, Hash> map_;  // guarded by mu_
  uint64_t clears_ = 0;                          // guarded by mu_
};

}  // namespace tollgate::enforcer
