// One process the census or `tollgate sweep` reports, as a value. Its JSON
// (the fields of a "finding" event, docs/events.md, and of one element of
// `tollgate sweep --json`: the same names) is eventlog::finding_fields.
//
//   ProcessRecord r = ...;                     // Census::walk() fills it
//   log.submit(eventlog::finding_event(host, r, "log"));
//
// Later assessments attach here: `miner` (issue 12's runtime signals for a
// process, which `tollgate sweep` samples) is written when set. Value type.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "census/classify.h"
#include "census/process.h"
#include "common/time.h"
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
  TimeUs start_time_us = 0;  // Unix µs (common/time.h)
  Finding finding = Finding::kFileless;
  std::string reason;      // one sentence
  std::string rule;        // the policy rule, for deleted/unapproved
  std::string sha256;      // of the executable's content, when it was hashed
  std::string filesystem;  // "0:52 tmpfs", when known
  std::string exempt;      // the unwatched_exempt entry whose content it matched
  // tollgate sweep only:
  std::optional<double> cpu_share;  // of one core, over the sampling window
  std::optional<uint64_t> rss_bytes;
  // Issue 12's runtime miner signals for this process: tollgate sweep sets it, the daemon's census does not.
  std::optional<miner::Assessment> miner;
};

}  // namespace tollgate::census
