// The static signals: a bounded, streaming search of a file's content for
// the markers of miner/markers.h (stratum URLs, algorithm names, miner
// config keys, pool hosts), in one pass (miner/matcher.h), never a regex
// over a whole file.
//
//   auto scan = miner::scan_fd(fd, {.max_bytes = 64 << 20, .max_time = 5s}, path);
//   if (scan) for (const auto& hit : scan->hits) ...;   // "stratum+tcp://" at byte 4096
//   auto evidence = miner::static_evidence(scan->hits);  // reasons for miner::assess
//
// Bounded: at most max_bytes are read (from offset 0, with pread, so the
// fd's offset is untouched), in 1 MiB chunks; the time limit and the cancel
// flag are checked before every chunk. A scan cut short says why (`end`);
// its hits are still valid for the bytes read.
//
// Thread-safety: the marker automaton is built once (thread-safe static) and
// shared; ContentScanner and scan_fd calls are independent.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "miner/matcher.h"
#include "miner/signals.h"

namespace tollgate::miner {

// One marker found: the first occurrence of each marker is kept.
struct MarkerHit {
  Signal signal;
  std::string marker;   // the marker's text, e.g. "stratum+tcp://"
  uint64_t offset = 0;  // of its first byte in the file
  bool operator==(const MarkerHit&) const = default;
};

enum class ScanEnd : uint8_t {
  kComplete,   // the whole file was read
  kSizeCap,    // stopped at max_bytes
  kTimeLimit,  // stopped at max_time
  kCancelled,  // the cancel flag was set
};
std::string_view to_string(ScanEnd end);  // "complete", "size-cap", "time-limit", "cancelled"
std::optional<ScanEnd> parse_scan_end(std::string_view text);

// Streaming scanner over the marker table; feed chunks in file order.
class ContentScanner {
 public:
  ContentScanner();
  void feed(std::string_view chunk);
  uint64_t bytes() const { return stream_.offset(); }
  // First occurrence of each marker, in offset order; a grouped marker only
  // when every marker of its group occurred.
  std::vector<MarkerHit> hits() const;

 private:
  MultiMatcher::Stream stream_;
  std::vector<std::optional<uint64_t>> first_;  // per marker
};

struct ScanLimits {
  uint64_t max_bytes = uint64_t{64} << 20;
  std::chrono::milliseconds max_time{5000};
  const std::atomic<bool>* cancel = nullptr;
};

struct ContentScan {
  std::vector<MarkerHit> hits;
  uint64_t bytes_scanned = 0;
  ScanEnd end = ScanEnd::kComplete;
};

// Scans the file behind `fd` from offset 0. `name` labels errors (a read
// error is an Io error naming it).
Result<ContentScan> scan_fd(int fd, const ScanLimits& limits, std::string_view name);
// Scans bytes in memory (tests, and small buffers).
ContentScan scan_bytes(std::string_view data);

// One evidence reason per hit: "contains 'stratum+tcp://' at byte 4096".
std::vector<Reason> static_evidence(const std::vector<MarkerHit>& hits);

}  // namespace tollgate::miner
