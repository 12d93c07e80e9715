#include "enforcer/metrics.h"

#include <fmt/core.h>

namespace tollgate::enforcer {

void Metrics::record_latency(uint64_t micros) {
  size_t i = 0;
  while (i < kBucketsUs.size() && micros > kBucketsUs[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  latency_sum_us_.fetch_add(micros, std::memory_order_relaxed);
}

uint64_t Metrics::latency_count() const {
  uint64_t n = 0;
  for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
  return n;
}

uint64_t Metrics::latency_percentile_us(double q) const {
  std::array<uint64_t, kBucketsUs.size() + 1> counts{};
  uint64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) total += counts[i] = buckets_[i].load(std::memory_order_relaxed);
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total));
  if (rank >= total) rank = total - 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen > rank) return i < kBucketsUs.size() ? kBucketsUs[i] : kBucketsUs.back() * 2;
  }
  return kBucketsUs.back() * 2;
}

std::string Metrics::prometheus_text() const {
  auto v = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  std::string out;
  auto counter = [&](const char* name, const char* help, auto value, const char* labels = "") {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{}{} {}\n", name, help, name, name, labels, value);
  };
  out +=
      "# HELP tollgate_decisions_total Permission events answered, by verdict.\n"
      "# TYPE tollgate_decisions_total counter\n";
  out += fmt::format("tollgate_decisions_total{{verdict=\"allow\"}} {}\n", v(allowed));
  out += fmt::format("tollgate_decisions_total{{verdict=\"deny\"}} {}\n", v(denied));
  out += fmt::format("tollgate_decisions_total{{verdict=\"would_deny\"}} {}\n", v(would_deny));
  out += fmt::format("tollgate_decisions_total{{verdict=\"error\"}} {}\n", v(errors));
  counter("tollgate_timeouts_total", "Events answered by on_error because the deadline passed.", v(timeouts));
  counter("tollgate_too_large_total", "Events answered by on_error because the file is over max_file_size.",
          v(too_large));
  counter("tollgate_overloads_total", "Events answered by on_error because too many were waiting.", v(overloads));
  counter("tollgate_hashes_cancelled_total", "Hashes stopped because their event was already answered.",
          v(hashes_cancelled));
  counter("tollgate_read_errors_total",
          "fanotify reads that failed (EMFILE, ENFILE, ENOMEM...); the kernel denied the event it could not pass on.",
          v(read_errors));
  counter("tollgate_cache_hits_total", "Decision cache hits.", v(cache_hits));
  counter("tollgate_plain_opens_total", "Plain opens allowed without a decision (coverage: full, not code).",
          v(plain_opens));
  counter("tollgate_cache_misses_total", "Decision cache misses.", v(cache_misses));
  counter("tollgate_hash_bytes_total", "Bytes hashed.", v(hash_bytes));
  counter("tollgate_queue_overflows_total", "Kernel queue overflow events.", v(overflows));
  counter("tollgate_event_log_dropped_total", "Event log lines dropped because the log queue was full.",
          v(log_dropped));
  counter("tollgate_event_log_coalesced_total",
          "Decisions not written as their own line: counted into a \"repeated\" line (docs/events.md).",
          v(log_coalesced));
  out +=
      "# HELP tollgate_content_scans_total Content scans of denied or would-deny files, by outcome.\n"
      "# TYPE tollgate_content_scans_total counter\n";
  out += fmt::format("tollgate_content_scans_total{{outcome=\"scanned\"}} {}\n", v(scans));
  out += fmt::format("tollgate_content_scans_total{{outcome=\"cached\"}} {}\n", v(scans_cached));
  out += fmt::format("tollgate_content_scans_total{{outcome=\"dropped\"}} {}\n", v(scans_dropped));
  out += fmt::format("tollgate_content_scans_total{{outcome=\"skipped\"}} {}\n", v(scans_skipped));
  counter("tollgate_content_scan_bytes_total", "Bytes read by content scans.", v(scan_bytes));
  out += fmt::format(
      "# HELP tollgate_ignore_marks Inode ignore marks in place (approved files on a safe chain).\n"
      "# TYPE tollgate_ignore_marks gauge\ntollgate_ignore_marks {}\n",
      v(ignore_marks));
  counter("tollgate_ignore_marks_added_total", "Inode ignore marks added.", v(ignore_marks_added));
  counter("tollgate_ignore_mark_flushes_total", "Flushes of every inode ignore mark (reload, mode switch, bound).",
          v(ignore_mark_flushes));
  counter("tollgate_ignore_mark_failures_total", "Inode ignore marks the kernel refused.", v(ignore_mark_failures));
  counter("tollgate_reloads_total", "Successful policy reloads.", v(reloads_ok));
  counter("tollgate_reload_failures_total", "Refused policy reloads.", v(reloads_failed));
  out += fmt::format(
      "# HELP tollgate_queue_depth Events read and not yet answered.\n"
      "# TYPE tollgate_queue_depth gauge\ntollgate_queue_depth {}\n",
      v(queue_depth));
  out +=
      "# HELP tollgate_decision_latency_seconds From reading the event to answering it.\n"
      "# TYPE tollgate_decision_latency_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBucketsUs.size(); ++i) {
    cumulative += v(buckets_[i]);
    out += fmt::format("tollgate_decision_latency_seconds_bucket{{le=\"{}\"}} {}\n",
                       static_cast<double>(kBucketsUs[i]) / 1e6, cumulative);
  }
  cumulative += v(buckets_.back());
  out += fmt::format("tollgate_decision_latency_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  out += fmt::format("tollgate_decision_latency_seconds_sum {}\n", static_cast<double>(v(latency_sum_us_)) / 1e6);
  out += fmt::format("tollgate_decision_latency_seconds_count {}\n", cumulative);
  return out;
}

}  // namespace tollgate::enforcer
