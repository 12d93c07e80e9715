// MultiMatcher: every occurrence of a fixed set of byte strings in a stream
// of chunks, in one pass (Aho-Corasick), with a per-needle case rule.
//
//   MultiMatcher m({{"stratum+tcp://", false}, {"donate-level", true}});
//   MultiMatcher::Stream s(m);
//   while (auto chunk = next_chunk()) s.feed(chunk, [&](size_t needle, uint64_t offset) { ... });
//
// Matches that span two chunks are found: the automaton's state carries over,
// and the last max_length()-1 bytes are kept to check case-sensitive needles.
// The automaton runs over ASCII-folded bytes; a case-sensitive needle's match
// is then compared with the original bytes. Memory: one transition row per
// trie node over the needles' alphabet (a few hundred KiB for ~100 needles).
//
// Thread-safety: a MultiMatcher is immutable after construction and may be
// shared; a Stream belongs to one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::miner {

class MultiMatcher {
 public:
  struct Needle {
    std::string bytes;  // non-empty
    bool case_sensitive = true;
  };
  explicit MultiMatcher(std::vector<Needle> needles);

  size_t needle_count() const { return needles_.size(); }
  size_t max_length() const { return max_length_; }

  class Stream {
   public:
    explicit Stream(const MultiMatcher& matcher) : m_(&matcher) {}
    // Calls on_match(needle index, offset of its first byte in the stream)
    // for every occurrence ending in `chunk`, in stream order.
    void feed(std::string_view chunk, const std::function<void(size_t, uint64_t)>& on_match);
    uint64_t offset() const { return offset_; }

   private:
    bool same_bytes(std::string_view chunk, size_t end, const std::string& needle) const;
    const MultiMatcher* m_;
    uint32_t state_ = 0;
    uint64_t offset_ = 0;  // bytes fed so far
    std::string tail_;     // the last max_length()-1 bytes before the current chunk
  };

 private:
  std::vector<Needle> needles_;
  size_t max_length_ = 0;
  size_t classes_ = 1;                         // class 0: bytes in no needle
  std::array<uint8_t, 256> class_of_{};        // raw byte -> class of its folded form
  std::vector<uint32_t> next_;                 // [state * classes_ + class] -> state
  std::vector<std::vector<uint32_t>> output_;  // needles ending at each state (suffix links merged)
};

}  // namespace tollgate::miner
