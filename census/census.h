// The census: a walk of /proc that finds processes whose executable
// fanotify could not decide (census/classify.h), each reported once.
// Shared by tollgated (every census_interval_ms) and `tollgate sweep`.
//
//   ProcFs proc("/proc");
//   Census census(proc, {.exempt = exemptions});
//   auto found = census.walk(view, judge);      // new findings since the last walk
//   for (auto& r : found) ... log, maybe proc.kill(r.id)
//
// Once per process: a process (pid, start time, executable) classified once
// is not looked at again; on each walk only its executable is read (one
// statx of /proc/PID/exe), and for a process that had a finding its start
// time too (a reused pid is then a new process to report). A process
// without a finding whose pid is reused, between two walks, by a new process
// running the very same file is not looked at again: it runs what was
// already judged (the pid counter must wrap for that: pid_max is 4194304 on
// 64-bit Debian). A new process, or one that exec'd since, is classified: its facts, its mount namespace's
// mountinfo when its executable is not on one of our mounts (read once per
// namespace per walk), and, for a watched executable, the judge (the
// policy's decision). Exemptions are by content: a finding whose executable
// hashes to an `unwatched_exempt` file is reported with `exempt` set, and
// never killed (runc re-executes itself from a memfd copy of its binary).
//
// Thread-safety: one thread at a time (the daemon's census thread, or the CLI).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "census/classify.h"
#include "census/process.h"
#include "census/record.h"
#include "hashdb/sha256.h"

namespace tollgate::census {

struct Exemption {
  hashdb::Sha256 sha256;
  std::string label;  // the unwatched_exempt entry: a path, or "sha256:..."
};

// `unwatched_exempt` entries (absolute paths, hashed now, or "sha256:HEX")
// as exemptions; an unreadable path is reported in `errors` and skipped.
std::vector<Exemption> load_exemptions(const std::vector<std::string>& entries, std::vector<std::string>& errors);

struct CensusOptions {
  std::vector<Exemption> exempt;
  uint64_t max_hash_bytes = uint64_t{2} << 30;  // executables larger are not hashed (never exempt)
};

// The policy's verdict on a watched executable open on `exe_fd` (the
// process's /proc/PID/exe). nullopt: no verdict (no policy loaded, the file
// could not be read): no finding.
using Judge = std::function<std::optional<Judgement>(int exe_fd, const ProcessFacts& process)>;

struct WalkStats {
  uint64_t processes = 0;   // seen in this walk
  uint64_t classified = 0;  // new to the census this walk
  uint64_t findings = 0;
};

class Census {
 public:
  Census(ProcSource& proc, CensusOptions options);

  // One walk; returns the findings of processes new since the last walk.
  // `policy_epoch`: changes when the policy does; processes on watched
  // filesystems are then judged again (a revoked binary that still runs is
  // `unapproved` now).
  std::vector<ProcessRecord> walk(const MountView& view, const Judge& judge, uint64_t policy_epoch = 0);
  const WalkStats& last_walk() const { return stats_; }
  // Processes being tracked (seen in the last walk).
  size_t tracked() const { return seen_.size(); }

 private:
  struct Seen {
    ProcessId id;
    bool finding = false;  // its start time is checked on every walk
    // On a filesystem mounted here but not watched when it was classified
    // (e.g. not marked yet): classified again once that filesystem is.
    std::optional<dev_t> unwatched_fs;
    // Judged by the policy of this epoch: judged again after a policy change.
    std::optional<uint64_t> judged_epoch;
  };
  // Mount namespace inode -> its mountinfo (nullopt: unreadable), per walk.
  using Namespaces = std::map<uint64_t, std::optional<std::vector<MountEntry>>>;
  struct Outcome {
    std::optional<ProcessId> classified_as;  // what to remember; none: look again next walk
    std::optional<ProcessRecord> record;     // a finding
    std::optional<dev_t> unwatched_fs;       // Seen::unwatched_fs
    bool judged = false;                     // the judge was asked
  };
  Outcome classify(pid_t pid, const MountView& view, const Judge& judge, Namespaces& namespaces);
  // Whether a process seen before is still the one classified then.
  bool same(const Seen& seen, const ProcessId& now, const MountView& view, uint64_t policy_epoch);
  // The executable, only if it is still the one `id` names.
  Result<UniqueFd> open_verified(const ProcessId& id);
  // The exemption whose content the executable has (hashing it into
  // `sha256_hex` when that is empty), or "".
  std::string exemption_for(const ProcessId& id, std::string& sha256_hex);

  ProcSource& proc_;
  CensusOptions options_;
  std::map<pid_t, Seen> seen_;
  WalkStats stats_;
};

}  // namespace tollgate::census
