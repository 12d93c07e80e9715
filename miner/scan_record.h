// The `scan` event (docs/events.md): what tollgated's content scan found in
// a denied or would-deny file, keyed by sha256, and how the report reads it
// back.
//
//   json line = {{"ts", ...}, {"host", ...}, {"type", "scan"}};
//   line.update(miner::scan_event_fields(record));      // the daemon
//   auto again = miner::parse_scan_event(line);          // tollgate report
//
// The event carries the hits (signal id, marker, offset), so a later report
// re-scores them with its own weights and the binary's full context, and a
// `miner` object ({suspect, score, reasons}) scored at scan time from the
// content and the path alone, for pipelines that alert on one line.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "miner/content_scan.h"
#include "miner/signals.h"

namespace tollgate::miner {

struct ScanRecord {
  std::string sha256;  // 64 hex digits: the content the decision hashed
  std::string path;    // as logged with the decision
  uint64_t size = 0;
  ContentScan scan;
};

// {"suspect", "score", "reasons"}: the shape `report --json` and the scan
// event share.
nlohmann::ordered_json assessment_json(const Assessment& assessment);

// sha256, path, size, scanned_bytes, end, hits[], miner{}.
nlohmann::ordered_json scan_event_fields(const ScanRecord& record);

// A logged scan event back; nullopt when it is not one or lacks a valid
// sha256. Hits with an unknown signal id (a newer daemon) are skipped.
std::optional<ScanRecord> parse_scan_event(const nlohmann::json& event);

}  // namespace tollgate::miner
