#include "eventlog/coalescer.h"

#include <algorithm>

namespace tollgate::eventlog {

Coalescer::Coalescer(std::chrono::milliseconds window, size_t max_keys)
    : window_(std::max(window, std::chrono::milliseconds(1))), max_keys_(max_keys) {}

void Coalescer::summarize(Window& w, std::vector<nlohmann::json>& out) {
  if (w.repeats == 0) return;  // a lone event: its line says it all
  nlohmann::json line = std::move(w.line);
  line["repeated"] = w.repeats;
  out.push_back(std::move(line));
}

bool Coalescer::repeat(const RepeatKey& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = open_.find(key);
  if (it == open_.end() || now >= it->second.closes) return false;
  ++it->second.repeats;
  return true;
}

void Coalescer::first(const RepeatKey& key, const nlohmann::json& line, Clock::time_point now) {
  std::lock_guard lock(mu_);
  const auto closes = now + window_;
  if (auto it = open_.find(key); it != open_.end()) {
    if (now < it->second.closes) return;  // another thread's first line opened it
    // Closed but not yet taken: its summary goes out before the next pass.
    summarize(it->second, closed_);
    it->second = Window{.closes = closes, .line = line};
  } else {
    if (open_.size() >= max_keys_) return;
    open_.emplace(key, Window{.closes = closes, .line = line});
  }
  if (!earliest_ || closes < *earliest_) earliest_ = closes;
}

std::vector<nlohmann::json> Coalescer::take_closed(Clock::time_point now) {
  std::lock_guard lock(mu_);
  std::vector<nlohmann::json> out = std::move(closed_);
  closed_.clear();
  if (!earliest_ || now < *earliest_) return out;  // the common case: nothing to scan
  earliest_.reset();
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second.closes <= now) {
      summarize(it->second, out);
      it = open_.erase(it);
    } else {
      if (!earliest_ || it->second.closes < *earliest_) earliest_ = it->second.closes;
      ++it;
    }
  }
  return out;
}

std::vector<nlohmann::json> Coalescer::take_all() {
  std::lock_guard lock(mu_);
  std::vector<nlohmann::json> out = std::move(closed_);
  closed_.clear();
  for (auto& [key, w] : open_) summarize(w, out);
  open_.clear();
  earliest_.reset();
  return out;
}

std::optional<Coalescer::Clock::time_point> Coalescer::next_close() const {
  std::lock_guard lock(mu_);
  if (!closed_.empty()) return Clock::time_point{};
  return earliest_;
}

size_t Coalescer::open_windows() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

}  // namespace tollgate::eventlog
