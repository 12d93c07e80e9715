#include "enforcer/cache.h"

namespace tollgate::enforcer {

FileKey key_of(const struct stat& st) { return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}; }

Validators validators_of(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_size),
          static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
}

std::optional<CacheEntry> DecisionCache::lookup(const FileKey& key, const Validators& v) const {
  std::lock_guard lock(mu_);
  auto it = map_.find(key);
  if (it == map_.end() || !(it->second.validators == v)) return std::nullopt;
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
  return {map_.size(), clears_};
}

}  // namespace tollgate::enforcer
