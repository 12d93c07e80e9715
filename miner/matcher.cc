#include "miner/matcher.h"

#include <algorithm>
#include <deque>

namespace tollgate::miner {
namespace {

unsigned char fold(unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c - 'A' + 'a') : c; }

}  // namespace

MultiMatcher::MultiMatcher(std::vector<Needle> needles) : needles_(std::move(needles)) {
  // The alphabet: each folded byte that occurs in a needle gets a class.
  std::array<uint8_t, 256> folded_class{};
  for (const auto& n : needles_) {
    max_length_ = std::max(max_length_, n.bytes.size());
    for (unsigned char c : n.bytes) {
      auto& cls = folded_class[fold(c)];
      if (cls == 0) cls = static_cast<uint8_t>(classes_++);
    }
  }
  for (int b = 0; b < 256; ++b) class_of_[b] = folded_class[fold(static_cast<unsigned char>(b))];

  // The trie, as a dense transition table (0 = absent while building; the
  // root is state 0, so no edge ever points back to it before the BFS).
  next_.assign(classes_, 0);
  output_.assign(1, {});
  for (uint32_t i = 0; i < needles_.size(); ++i) {
    uint32_t s = 0;
    for (unsigned char c : needles_[i].bytes) {
      uint32_t& edge = next_[s * classes_ + class_of_[c]];
      if (edge == 0) {
        edge = static_cast<uint32_t>(output_.size());
        output_.emplace_back();
        next_.resize(next_.size() + classes_, 0);
      }
      s = next_[s * classes_ + class_of_[c]];  // re-read: resize may have moved `edge`
    }
    output_[s].push_back(i);
  }

  // Failure links by BFS, folded into the table (a full DFA) and into the outputs.
  std::vector<uint32_t> fail(output_.size(), 0);
  std::deque<uint32_t> queue;
  for (size_t c = 0; c < classes_; ++c)
    if (uint32_t s = next_[c]; s != 0) queue.push_back(s);
  while (!queue.empty()) {
    uint32_t s = queue.front();
    queue.pop_front();
    const auto& inherited = output_[fail[s]];
    output_[s].insert(output_[s].end(), inherited.begin(), inherited.end());
    for (size_t c = 0; c < classes_; ++c) {
      uint32_t& t = next_[s * classes_ + c];
      if (t != 0) {
        fail[t] = next_[fail[s] * classes_ + c];
        queue.push_back(t);
      } else {
        t = next_[fail[s] * classes_ + c];
      }
    }
  }
}

bool MultiMatcher::Stream::same_bytes(std::string_view chunk, size_t end, const std::string& needle) const {
  // The match is bytes [end + 1 - size, end] of tail_ + chunk.
  const size_t n = needle.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t from_end = n - 1 - k;  // distance back from `end`
    char c = from_end <= end ? chunk[end - from_end] : tail_[tail_.size() - (from_end - end)];
    if (c != needle[k]) return false;
  }
  return true;
}

void MultiMatcher::Stream::feed(std::string_view chunk, const std::function<void(size_t, uint64_t)>& on_match) {
  const auto& m = *m_;
  const size_t classes = m.classes_;
  uint32_t s = state_;
  for (size_t i = 0; i < chunk.size(); ++i) {
    s = m.next_[s * classes + m.class_of_[static_cast<unsigned char>(chunk[i])]];
    if (m.output_[s].empty()) continue;
    for (uint32_t needle : m.output_[s]) {
      const auto& n = m.needles_[needle];
      if (n.case_sensitive && !same_bytes(chunk, i, n.bytes)) continue;
      on_match(needle, offset_ + i + 1 - n.bytes.size());
    }
  }
  state_ = s;
  offset_ += chunk.size();
  const size_t keep = m.max_length_ > 0 ? m.max_length_ - 1 : 0;
  if (chunk.size() >= keep) {
    tail_.assign(chunk.substr(chunk.size() - keep));
  } else {
    tail_.append(chunk);
    if (tail_.size() > keep) tail_.erase(0, tail_.size() - keep);
  }
}

}  // namespace tollgate::miner
