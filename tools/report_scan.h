// `tollgate report`'s own content scan: binaries whose log has no `scan`
// event (the daemon skipped it under pressure, ran an older version, or the
// log was rotated) are scanned at report time if their file is still on
// disk and still has the logged sha256 (miner/content_scan.h).
//
//   auto stats = tools::scan_unscanned(report, {});   // then print stats in the output
//
// Bounded: files over max_file_bytes are not read; at most max_total_bytes
// and max_time are spent in all; each file is opened with open_regular (no
// symlink, FIFO or device: paths come from the log) and hashed before it is
// scanned, so a file changed since it was logged is never attributed to the
// logged hash.
//
// Not thread-safe (CLI, single thread).
#pragma once

#include <chrono>
#include <cstdint>

#include "eventlog/report.h"

namespace tollgate::tools {

struct ReportScanLimits {
  uint64_t max_file_bytes = uint64_t{64} << 20;
  uint64_t max_total_bytes = uint64_t{512} << 20;
  std::chrono::milliseconds max_time{30000};
};

struct ReportScanStats {
  size_t from_log = 0;     // rows with a daemon scan
  size_t scanned_now = 0;  // rows scanned here
  size_t not_scanned = 0;  // gone, changed, unreadable, too large, over the budget, or not hashed
};

// Scans what it can, re-assesses those rows and re-sorts the report.
ReportScanStats scan_unscanned(eventlog::Report& report, const ReportScanLimits& limits);

// The counts alone (for --no-scan).
ReportScanStats scan_stats(const eventlog::Report& report);

}  // namespace tollgate::tools
