// One process the census or `tollgate sweep` reports, as a value, and its
// JSON form: the fields of a "finding" event (docs/events.md) and of one
// element of `tollgate sweep --json` are the same names.
//
//   ProcessRecord r = ...;                     // Census::walk() fills it
//   nlohmann::json j = to_json(r);             // {"pid":..,"finding":"fileless",..}
//
// Later assessments attach here: `miner` (issue 12's runtime signals for a
// process) is written when set. Pure; value type.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "census/classify.h"
#include "census/process.h"
#include "miner/signals.h"

namespace tollgate::census {

struct ProcessRecord {
  ProcessId id;  // pid, start time and executable: what a kill must still match
  pid_t ppid = 0;
  uid_t uid = 0;
  std::string user;  // "" when the uid has no passwd entry
  std::string exe;
  std::string parent_exe;
  std::string comm;
  std::string cmdline;
  int64_t start_time_us = 0;  // Unix µs
  Finding finding = Finding::kFileless;
  std::string reason;      // one sentence
  std::string rule;        // the policy rule, for deleted/unapproved
  std::string sha256;      // of the executable's content, when it was hashed
  std::string filesystem;  // "0:52 tmpfs", when known
  std::string exempt;      // the unwatched_exempt entry whose content it matched
  // tollgate sweep only:
  std::optional<double> cpu_share;  // of one core, over the sampling window
  std::optional<uint64_t> rss_bytes;
  // Issue 12's runtime miner signals for this process; the census never sets it.
  std::optional<miner::Assessment> miner;
};

// "2026-12-01T03:44:35.123456Z".
std::string format_time_us(int64_t unix_us);

// The record's fields (no ts/host/type: the event log adds those).
nlohmann::json to_json(const ProcessRecord& record);

}  // namespace tollgate::census
