#include "enforcer/cache.h"

#include <doctest/doctest.h>

using namespace tollgate;
using namespace tollgate::enforcer;

namespace {
CacheEntry entry(char c, uint64_t epoch = 0) {
  CacheEntry e;
  e.sha256 = hashdb::sha256_bytes(std::string(1, c));
  e.epoch = epoch;
  return e;
}
}  // namespace

TEST_SUITE("enforcer.cache") {
  TEST_CASE("a hit needs the same inode and the same size and ctime") {
    DecisionCache cache;
    FileKey key{1, 42};
    Validators v{100, 5'000'000'000};
    cache.store(key, v, entry('a'));
    REQUIRE(cache.lookup(key, v));
    CHECK(cache.lookup(key, v)->sha256 == entry('a').sha256);
    struct Case {
      const char* name;
      FileKey key;
      Validators v;
    };
    const Case misses[] = {
        {"other inode", {1, 43}, v},
        {"other device", {2, 42}, v},
        {"size changed", key, {101, v.ctime_ns}},
        {"ctime changed (mtime set back is still caught)", key, {100, v.ctime_ns + 1}},
    };
    for (const auto& m : misses) {
      CAPTURE(m.name);
      CHECK_FALSE(cache.lookup(m.key, m.v));
    }
  }

  TEST_CASE("storing again replaces the entry") {
    DecisionCache cache;
    cache.store({1, 1}, {1, 1}, entry('a'));
    cache.store({1, 1}, {2, 2}, entry('b', 7));
    CHECK_FALSE(cache.lookup({1, 1}, {1, 1}));
    auto hit = cache.lookup({1, 1}, {2, 2});
    REQUIRE(hit);
    CHECK(hit->epoch == 7);
    CHECK(cache.stats().entries == 1);
  }

  TEST_CASE("the cache is bounded: it clears itself when full") {
    DecisionCache cache(3);
    for (uint64_t i = 0; i < 3; ++i) cache.store({1, i}, {1, 1}, entry('a'));
    CHECK(cache.stats().entries == 3);
    cache.store({1, 99}, {1, 1}, entry('b'));
    CHECK(cache.stats().entries == 1);
    CHECK(cache.stats().clears == 1);
    CHECK(cache.lookup({1, 99}, {1, 1}));
    CHECK_FALSE(cache.lookup({1, 0}, {1, 1}));
  }

  TEST_CASE("validators come from size and ctime, the key from dev and ino") {
    struct stat st {};
    st.st_dev = 7;
    st.st_ino = 9;
    st.st_size = 1234;
    st.st_ctim = {3, 25};
    st.st_mtim = {1, 0};
    CHECK(key_of(st) == FileKey{7, 9});
    CHECK(validators_of(st) == Validators{1234, 3'000'000'025});
  }
}
