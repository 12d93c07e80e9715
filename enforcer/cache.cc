#include "enforcer/cache.h"

#include <time.h>

#include <algorithm>

namespace tollgate::enforcer {

int64_t RacyClock::realtime_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

int64_t RacyClock::default_ctime_granularity_ns() {
  // ctime is stamped from the coarse clock: one tick (a jiffy) at most
  // behind the fine clock. Twice that, and never under 10 ms, leaves room for
  // a tick that is late.
  timespec res{};
  int64_t tick = 10'000'000;
  if (::clock_getres(CLOCK_REALTIME_COARSE, &res) == 0)
    tick = static_cast<int64_t>(res.tv_sec) * 1'000'000'000 + res.tv_nsec;
  return std::max<int64_t>(2 * tick, 10'000'000);
}

int64_t RacyClock::granularity_for(int64_t ctime_ns) const {
  return ctime_ns % 1'000'000'000 == 0 ? std::max<int64_t>(granularity_ns, 2'000'000'000) : granularity_ns;
}

bool RacyClock::racy(int64_t ctime_ns, int64_t hashed_at_ns) const {
  return ctime_ns > hashed_at_ns - granularity_for(ctime_ns);
}

FileKey key_of(const struct stat& st) { return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}; }

Validators validators_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

std::optional<CacheEntry> DecisionCache::lookup(const FileKey& key, const Validators& v) const {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end() || !(it->second.validators == v)) return std::nullopt;
  if (clock_.racy(v.ctime_ns, it->second.entry.hashed_at_ns)) {
    ++racy_;
    return std::nullopt;
  }
  return it->second.entry;
}

void DecisionCache::store(const FileKey& key, const Validators& v, const CacheEntry& entry) {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it != map_.end()) {
    it->second = {v, entry};
    return;
  }
  if (map_.size() >= capacity_) {
    map_.clear();
    ++clears_;
  }
  map_.emplace(key, Slot{v, entry});
}

void DecisionCache::clear() {
  std::lock_guard lock(mu_);
  map_.clear();
  ++clears_;
}

CacheStats DecisionCache::stats() const {
  std::lock_guard lock(mu_);
  return {map_.size(), clears_, racy_};
}

std::optional<policy::FileKind> FileKindCache::lookup(const struct stat& st) const {
  auto it = map_.find(key_of(st));
  if (it == map_.end()) return std::nullopt;
  const Validators v = validators_of(st);
  if (!(it->second.validators == v) || clock_.racy(v.ctime_ns, it->second.learned_at_ns)) return std::nullopt;
  return it->second.kind;
}

void FileKindCache::store(const struct stat& st, policy::FileKind kind, int64_t learned_at_ns) {
  const FileKey key = key_of(st);
  auto it = map_.find(key);
  if (it == map_.end() && map_.size() >= capacity_) map_.clear();
  map_[key] = {validators_of(st), learned_at_ns, kind};
}

bool UnsafeChains::contains(const struct stat& st) const {
  const FileKey key = key_of(st);
  const Validators v = validators_of(st);
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  return it != map_.end() && it->second == v;
}

void UnsafeChains::add(const struct stat& st) {
  const FileKey key = key_of(st);
  const Validators v = validators_of(st);
  std::lock_guard lock(mu_);
  if (map_.size() >= capacity_ && !map_.contains(key)) map_.clear();
  map_[key] = v;
}

void UnsafeChains::clear() {
  std::lock_guard lock(mu_);
  map_.clear();
}

}  // namespace tollgate::enforcer
