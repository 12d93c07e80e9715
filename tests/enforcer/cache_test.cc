#include "enforcer/cache.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

using namespace tollgate;
using namespace tollgate::enforcer;

namespace {
// Hashed long after every ctime these tests use: never racy.
CacheEntry entry(char c, uint64_t epoch = 0) {
  CacheEntry e;
  e.sha256 = hashdb::sha256_bytes(std::string(1, c));
  e.epoch = epoch;
  e.hashed_at_ns = int64_t{1000} * 1'000'000'000;
  return e;
}

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

// What fstat says of a file, as far as the caches look.
struct stat file_stat(dev_t dev, ino_t ino, off_t size, timespec ctime) {
  struct stat st {};
  st.st_dev = dev;
  st.st_ino = ino;
  st.st_size = size;
  st.st_ctim = ctime;
  return st;
}

// A clock the test moves by hand, with a 4 ms timestamp tick.
struct FakeClock {
  int64_t now = 0;
  RacyClock racy() {
    return {.granularity_ns = 4 * kMs, .now_ns = [this] { return now; }};
  }
};
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
    struct stat st = file_stat(7, 9, 1234, {3, 25});
    st.st_mtim = {1, 0};
    CHECK(key_of(st) == FileKey{7, 9});
    CHECK(validators_of(st) == Validators{1234, 3'000'000'025});
  }

  TEST_CASE("racy clean: an entry hashed within one tick of its ctime is re-validated, then trusted") {
    FakeClock clock;
    DecisionCache cache(16, clock.racy());
    const FileKey key{1, 7};
    const Validators v{100, 50 * kSec + 123};  // changed at 50 s (+123 ns)
    struct Case {
      const char* name;
      int64_t hashing_began;
      bool trusted;
    };
    const Case cases[] = {
        {"hashing began in the same tick as the change", 50 * kSec + 123 + 1 * kMs, false},
        {"hashing began at the change itself", 50 * kSec + 123, false},
        {"one nanosecond short of a full tick later", 50 * kSec + 123 + 4 * kMs - 1, false},
        {"a full tick later", 50 * kSec + 123 + 4 * kMs, true},
        {"long after", 60 * kSec, true},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      clock.now = c.hashing_began;
      CacheEntry e = entry('a');
      e.hashed_at_ns = cache.now_ns();  // read just before hashing, as the engine does
      cache.store(key, v, e);
      clock.now = 100 * kSec;  // the lookup's time does not matter, only when hashing began
      CHECK(cache.lookup(key, v).has_value() == c.trusted);
    }
    CHECK(cache.stats().racy == 3);
  }

  TEST_CASE("racy clean: the same-size rewrite within one tick that validators cannot see is caught") {
    // The attack the rule exists for: with a jiffy-coarse ctime, content A is
    // hashed, then rewritten to B of the same size within the same tick;
    // size and ctime are unchanged, so only the racy rule forces the re-hash.
    FakeClock clock;
    DecisionCache cache(16, clock.racy());
    const FileKey key{1, 8};
    const Validators same{4096, 70 * kSec + 500};
    clock.now = 70 * kSec + 500 + 1 * kMs;  // A hashed 1 ms after being written
    CacheEntry a = entry('A');
    a.hashed_at_ns = cache.now_ns();
    cache.store(key, same, a);
    // ...B written now, same size, same ctime tick: the lookup must not return A.
    CHECK_FALSE(cache.lookup(key, same));
  }

  TEST_CASE("racy clean: whole-second ctimes get a 2 s granularity, others the configured tick") {
    RacyClock clock{.granularity_ns = 4 * kMs, .now_ns = [] { return int64_t{0}; }};
    CHECK(clock.granularity_for(10 * kSec) == 2 * kSec);
    CHECK(clock.granularity_for(10 * kSec + 5) == 4 * kMs);
    CHECK(clock.racy(10 * kSec, 11 * kSec));
    CHECK_FALSE(clock.racy(10 * kSec, 12 * kSec));
    CHECK(RacyClock::default_ctime_granularity_ns() >= 10 * kMs);
    CHECK(RacyClock::default_ctime_granularity_ns() <= 1 * kSec);
  }
}

TEST_SUITE("enforcer.cache.unsafe_chains") {
  TEST_CASE("an entry holds while the file's size and ctime do; clear() and a full set forget") {
    const struct stat a = file_stat(1, 10, 100, {5, 0});
    const struct stat b = file_stat(1, 11, 100, {5, 0});
    UnsafeChains chains(2);
    CHECK_FALSE(chains.contains(a));
    chains.add(a);
    CHECK(chains.contains(a));
    CHECK_FALSE(chains.contains(b));
    struct stat changed = a;
    changed.st_ctim = {6, 0};  // chmod, write: looked at again
    CHECK_FALSE(chains.contains(changed));
    chains.add(b);
    const struct stat c = file_stat(1, 12, 100, {5, 0});
    chains.add(c);  // full: cleared first
    CHECK(chains.contains(c));
    CHECK_FALSE(chains.contains(a));
    chains.clear();
    CHECK_FALSE(chains.contains(c));
  }
}
