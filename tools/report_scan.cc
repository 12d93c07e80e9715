#include "tools/report_scan.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <map>

#include "common/io.h"
#include "hashdb/sha256.h"
#include "miner/content_scan.h"

namespace tollgate::tools {
namespace {

using Clock = std::chrono::steady_clock;

// The scan of the file at `path` if it still holds `sha256`; nullopt otherwise.
std::optional<miner::ContentScan> scan_if_same(const std::string& path, const std::string& sha256,
                                               const ReportScanLimits& limits, uint64_t& budget,
                                               Clock::time_point deadline) {
  if (path.empty() || path.ends_with(" (deleted)")) return std::nullopt;
  auto fd = open_regular(path, O_RDONLY);
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || st.st_size < 0) return std::nullopt;
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > limits.max_file_bytes || size > budget) return std::nullopt;
  const auto now = Clock::now();
  if (now >= deadline) return std::nullopt;
  budget -= size;
  auto hashed = hashdb::sha256_fd_stable(fd->get(), path);
  if (!hashed || hashdb::to_hex(hashed->digest) != sha256) return std::nullopt;
  auto scan = miner::scan_fd(fd->get(),
                             {.max_bytes = limits.max_file_bytes,
                              .max_time = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)},
                             path);
  if (!scan) return std::nullopt;
  return std::move(*scan);
}

}  // namespace

ReportScanStats scan_stats(const eventlog::Report& report) {
  ReportScanStats stats;
  for (const auto& b : report.binaries) {
    if (b.scan == eventlog::ScanSource::kDaemon) ++stats.from_log;
    else if (b.scan == eventlog::ScanSource::kReport) ++stats.scanned_now;
    else ++stats.not_scanned;
  }
  return stats;
}

ReportScanStats scan_unscanned(eventlog::Report& report, const ReportScanLimits& limits) {
  const auto deadline = Clock::now() + limits.max_time;
  uint64_t budget = limits.max_total_bytes;
  std::map<std::string, miner::ContentScan> done;  // sha256 -> scan, for the same content at several paths
  for (auto& b : report.binaries) {
    if (b.scan != eventlog::ScanSource::kNone || b.sha256.empty()) continue;
    if (auto it = done.find(b.sha256); it != done.end()) {
      eventlog::attach_scan(b, it->second, eventlog::ScanSource::kReport);
      continue;
    }
    if (auto scan = scan_if_same(b.path, b.sha256, limits, budget, deadline)) {
      done.emplace(b.sha256, *scan);
      eventlog::attach_scan(b, std::move(*scan), eventlog::ScanSource::kReport);
    }
  }
  eventlog::sort_report(report);
  return scan_stats(report);
}

}  // namespace tollgate::tools
