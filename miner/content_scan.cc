#include "miner/content_scan.h"

#include <errno.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "miner/markers.h"

namespace tollgate::miner {
namespace {

constexpr size_t kChunk = size_t{1} << 20;

const MultiMatcher& marker_matcher() {
  static const MultiMatcher matcher = [] {
    std::vector<MultiMatcher::Needle> needles;
    for (const auto& m : content_markers()) needles.push_back({m.text.reveal(), m.match == Case::kSensitive});
    return MultiMatcher(std::move(needles));
  }();
  return matcher;
}

}  // namespace

std::string_view to_string(ScanEnd end) {
  switch (end) {
    case ScanEnd::kComplete: return "complete";
    case ScanEnd::kSizeCap: return "size-cap";
    case ScanEnd::kTimeLimit: return "time-limit";
    case ScanEnd::kCancelled: return "cancelled";
  }
  return "complete";
}

std::optional<ScanEnd> parse_scan_end(std::string_view text) {
  for (auto e : {ScanEnd::kComplete, ScanEnd::kSizeCap, ScanEnd::kTimeLimit, ScanEnd::kCancelled})
    if (to_string(e) == text) return e;
  return std::nullopt;
}

ContentScanner::ContentScanner() : stream_(marker_matcher()), first_(content_markers().size()) {}

void ContentScanner::feed(std::string_view chunk) {
  stream_.feed(chunk, [&](size_t marker, uint64_t offset) {
    if (!first_[marker]) first_[marker] = offset;
  });
}

std::vector<MarkerHit> ContentScanner::hits() const {
  const auto markers = content_markers();
  std::map<uint8_t, bool> group_complete;
  for (size_t i = 0; i < markers.size(); ++i) {
    if (markers[i].group == 0) continue;
    auto [it, fresh] = group_complete.try_emplace(markers[i].group, true);
    it->second = it->second && first_[i].has_value();
  }
  std::vector<MarkerHit> out;
  for (size_t i = 0; i < markers.size(); ++i) {
    if (!first_[i] || (markers[i].group != 0 && !group_complete[markers[i].group])) continue;
    out.push_back({markers[i].signal, markers[i].text.reveal(), *first_[i]});
  }
  std::ranges::stable_sort(out, [](const MarkerHit& a, const MarkerHit& b) { return a.offset < b.offset; });
  return out;
}

Result<ContentScan> scan_fd(int fd, const ScanLimits& limits, std::string_view name) {
  const auto deadline = std::chrono::steady_clock::now() + limits.max_time;
  ContentScanner scanner;
  ContentScan result;
  std::string buf(kChunk, '\0');
  uint64_t offset = 0;
  for (;;) {
    if (offset >= limits.max_bytes) {
      // A file that ends exactly at the cap was read whole.
      char probe;
      ssize_t more = ::pread(fd, &probe, 1, static_cast<off_t>(offset));
      if (more != 0) result.end = ScanEnd::kSizeCap;
      break;
    }
    if (limits.cancel && limits.cancel->load()) {
      result.end = ScanEnd::kCancelled;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result.end = ScanEnd::kTimeLimit;
      break;
    }
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, limits.max_bytes - offset));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, name, "cannot read for the content scan");
    }
    if (n == 0) break;
    scanner.feed(std::string_view(buf.data(), static_cast<size_t>(n)));
    offset += static_cast<uint64_t>(n);
  }
  result.bytes_scanned = scanner.bytes();
  result.hits = scanner.hits();
  return result;
}

ContentScan scan_bytes(std::string_view data) {
  ContentScanner scanner;
  scanner.feed(data);
  return {.hits = scanner.hits(), .bytes_scanned = scanner.bytes(), .end = ScanEnd::kComplete};
}

std::vector<Reason> static_evidence(const std::vector<MarkerHit>& hits) {
  std::vector<Reason> out;
  for (const auto& h : hits) out.push_back({h.signal, fmt::format("contains '{}' at byte {}", h.marker, h.offset)});
  return out;
}

}  // namespace tollgate::miner
