// Metrics: lock-free counters and a decision-latency histogram, shared by the
// event loop, the workers, the status request and the metrics file writer.
// Every member is atomic; any thread may update or read.
//
// prometheus_text() renders the Prometheus text exposition format for the
// node_exporter textfile collector; write it with write_file_atomic.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace tollgate::enforcer {

class Metrics {
 public:
  // Upper bounds (µs) of the latency histogram buckets; a last +Inf bucket follows.
  static constexpr std::array<uint64_t, 16> kBucketsUs = {10,   25,    50,    100,   250,    500,    1000,   2500,
                                                          5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};

  std::atomic<uint64_t> allowed{0};           // answered allow (including audit would-denies)
  std::atomic<uint64_t> denied{0};            // answered deny
  std::atomic<uint64_t> would_deny{0};        // audit mode allowed what enforce would deny
  std::atomic<uint64_t> errors{0};            // answered by on_error (failure, timeout, size, overload)
  std::atomic<uint64_t> timeouts{0};          // of which: the deadline passed
  std::atomic<uint64_t> too_large{0};         // of which: over max_file_size, not hashed
  std::atomic<uint64_t> overloads{0};         // of which: too many events waiting, not examined
  std::atomic<uint64_t> hashes_cancelled{0};  // hashing stopped: its event was already answered
  std::atomic<uint64_t> read_errors{0};       // fanotify reads that failed (EMFILE...): the kernel denied that event
  std::atomic<uint64_t> self_events{0};       // the daemon's own execs, allowed at once
  std::atomic<uint64_t> cache_hits{0};
  // coverage: full: plain opens allowed on the reading thread without a
  // decision (not code, or an exempt library reader)
  std::atomic<uint64_t> plain_opens{0};
  std::atomic<uint64_t> cache_misses{0};
  std::atomic<uint64_t> hash_bytes{0};
  std::atomic<uint64_t> overflows{0};      // kernel queue overflow events
  std::atomic<uint64_t> log_dropped{0};    // event log lines dropped (queue full)
  std::atomic<uint64_t> log_coalesced{0};  // decisions counted into a "repeated" line, not written alone
  std::atomic<int64_t> queue_depth{0};     // events read and not yet answered
  // Content scans of denied/would-deny files (scan_worker.h).
  std::atomic<uint64_t> scans{0};          // scanned and logged
  std::atomic<uint64_t> scans_cached{0};   // not queued: that sha256 was already queued or scanned
  std::atomic<uint64_t> scans_dropped{0};  // not queued: the scan queue was full (or no fd was left)
  std::atomic<uint64_t> scans_skipped{0};  // not reported: the file changed, could not be read, or shutdown
  std::atomic<uint64_t> scan_bytes{0};
  // Inode ignore marks (ignore_marks.h).
  std::atomic<uint64_t> ignore_marks{0};  // in place now (added since the last flush)
  std::atomic<uint64_t> ignore_marks_added{0};
  std::atomic<uint64_t> ignore_mark_flushes{0};   // reload, mode switch, unmark, or the bound reached
  std::atomic<uint64_t> ignore_mark_failures{0};  // the kernel refused one
  std::atomic<uint64_t> reloads_ok{0};
  std::atomic<uint64_t> reloads_failed{0};

  void record_latency(uint64_t micros);
  // Approximate percentile (0 < q < 1) from the histogram: the upper bound of
  // the bucket holding it; 0 when nothing was recorded.
  uint64_t latency_percentile_us(double q) const;
  uint64_t latency_count() const;

  std::string prometheus_text() const;

 private:
  std::array<std::atomic<uint64_t>, kBucketsUs.size() + 1> buckets_{};
  std::atomic<uint64_t> latency_sum_us_{0};
};

}  // namespace tollgate::enforcer
