#include "miner/matcher.h"

#include <doctest/doctest.h>

#include <random>
#include <set>
#include <tuple>

using namespace tollgate::miner;

namespace {

using Hits = std::set<std::pair<size_t, uint64_t>>;

Hits feed_in_chunks(const MultiMatcher& m, const std::string& data, size_t chunk) {
  Hits hits;
  MultiMatcher::Stream s(m);
  for (size_t at = 0; at < data.size(); at += chunk)
    s.feed(std::string_view(data).substr(at, chunk), [&](size_t n, uint64_t off) { hits.insert({n, off}); });
  return hits;
}

bool same_char(char a, char b, bool case_sensitive) {
  if (case_sensitive) return a == b;
  auto fold = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return fold(a) == fold(b);
}

Hits naive(const std::vector<MultiMatcher::Needle>& needles, const std::string& data) {
  Hits hits;
  for (size_t n = 0; n < needles.size(); ++n) {
    const auto& needle = needles[n].bytes;
    for (size_t at = 0; at + needle.size() <= data.size(); ++at) {
      bool ok = true;
      for (size_t k = 0; k < needle.size() && ok; ++k)
        ok = same_char(data[at + k], needle[k], needles[n].case_sensitive);
      if (ok) hits.insert({n, at});
    }
  }
  return hits;
}

}  // namespace

TEST_SUITE("miner.matcher") {
  TEST_CASE("overlapping needles are all found, at every chunk size") {
    std::vector<MultiMatcher::Needle> needles = {{"he", false}, {"she", false}, {"his", false}, {"hers", false}};
    MultiMatcher m(needles);
    const std::string text = "ushers and his sheep: SHE said HERS";
    const Hits expected = naive(needles, text);
    CHECK(expected.size() == 10);
    for (size_t chunk = 1; chunk <= text.size(); ++chunk) {
      CAPTURE(chunk);
      CHECK(feed_in_chunks(m, text, chunk) == expected);
    }
  }

  TEST_CASE("case rules per needle: exact needles ignore other cases, across chunk boundaries too") {
    std::vector<MultiMatcher::Needle> needles = {{"Donate-Level", true}, {"stratum+tcp://", false}};
    MultiMatcher m(needles);
    const std::string text = "donate-level Donate-Level DONATE-LEVEL STRATUM+TCP:// Stratum+Tcp://";
    for (size_t chunk = 1; chunk <= text.size(); ++chunk) {
      CAPTURE(chunk);
      CHECK(feed_in_chunks(m, text, chunk) == Hits{{0, 13}, {1, 39}, {1, 54}});
    }
  }

  TEST_CASE("agrees with a naive search on random binary data, needles included") {
    std::mt19937 rng(12);
    std::vector<MultiMatcher::Needle> needles = {{"abc", true},   {"bcd", false},
                                                 {"Zq", true},    {"\x01\x02\x03", true},
                                                 {"aaaa", false}, {std::string("\0\0", 2), true}};
    MultiMatcher m(needles);
    for (int round = 0; round < 20; ++round) {
      std::string data(4096, '\0');
      const char alphabet[] = "abcdABCDZzQq\x01\x02\x03";
      for (auto& c : data) c = rng() % 3 == 0 ? static_cast<char>(rng()) : alphabet[rng() % (sizeof alphabet - 1)];
      const Hits expected = naive(needles, data);
      REQUIRE(!expected.empty());
      for (size_t chunk : {1, 2, 3, 7, 64, 4096}) {
        CAPTURE(round);
        CAPTURE(chunk);
        CHECK(feed_in_chunks(m, data, chunk) == expected);
      }
    }
  }
}
