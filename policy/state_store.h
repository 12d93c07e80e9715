// The policy state tollgated keeps across restarts, in the root-only
// `state_dir` (docs/configuration.md, "Policy integrity across restarts"):
//
//   DIR/state.json          the anti-rollback floor: the highest generation
//                           accepted and that policy's content digest (0600)
//   DIR/last-known-good.db  a private copy of the database last accepted (0600)
//   DIR/pending-trust.json  pending trust of packages apt is about to unpack
//                           (pending_trust.h), so a restart mid-upgrade
//                           keeps it (0600)
//   DIR/timed-audit.json    `tollgate mode audit --for`: when the daemon
//                           returns to enforce, so a restart neither
//                           extends nor loses the window (0600)
//   DIR/lockout.json        the executables tollgated checks for lockout
//                           (lockout.h), so the CLI checks the same ones
//                           when the daemon is not running (0600)
//
//   StateStore state("/var/lib/tollgate");
//   if (auto st = state.prepare(); !st) degrade(st.error());   // unusable dir
//   auto floor = state.load();          // nullopt: first start; kCorrupt: see below
//   state.save({.generation = 7, .content_digest = "ab12..."}, "/var/lib/tollgate/policy.db");
//
// Both files are replaced atomically (common/io.h). load() never turns a
// damaged state file into "no floor": a file that exists but cannot be
// parsed is ErrorCode::kCorrupt, and the caller (policy_gate.h,
// resolve_floor) falls back to the last-known-good copy's generation.
//
// Thread-safety: const methods touch only the file system; callers serialize
// writers (the daemon's mutex, the CLI's ApprovalsLock).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "policy/pending_trust.h"

namespace tollgate::policy {

// The anti-rollback floor. A database is accepted when its generation is
// higher, or equal with the same content digest (the same rules: a
// different policy under an already accepted generation is refused).
struct Floor {
  uint64_t generation = 0;
  std::string content_digest;  // hex; empty = no floor yet (first start)
  bool operator==(const Floor&) const = default;
};

// A time-boxed audit window (`tollgate mode audit --for DURATION`).
struct TimedAudit {
  int64_t until = 0;  // seconds since the epoch: back to enforce then
  std::string by;     // who opened it
  bool operator==(const TimedAudit&) const = default;
};

class StateStore {
 public:
  explicit StateStore(std::string dir) : dir_(std::move(dir)) {}

  const std::string& dir() const { return dir_; }
  std::string state_file() const { return dir_ + "/state.json"; }
  std::string lkg_file() const { return dir_ + "/last-known-good.db"; }
  std::string pending_file() const { return dir_ + "/pending-trust.json"; }
  std::string timed_audit_file() const { return dir_ + "/timed-audit.json"; }

  // Creates the directory (mode 0700) when missing; its parent must exist.
  // Refuses (kPermission) a symlink, a non-directory, a directory owned by
  // another user than this process's euid, or one that group or others may
  // write: what lives there decides what runs.
  Status prepare() const;
  // The persisted floor; nullopt when there is no state file. kCorrupt when
  // the file exists but is not a state file this version wrote.
  Result<std::optional<Floor>> load() const;
  // Writes the floor (0600, atomically). `source` is recorded for humans.
  Status save(const Floor& floor, const std::string& source) const;
  // The daemon's lockout candidates (its own binary need not sit beside
  // tollgate). load_lockout_candidates() is empty when there is no readable
  // list.
  Status save_lockout_candidates(const std::vector<std::string>& paths) const;
  std::vector<std::string> load_lockout_candidates() const;
  // The pending-trust set; nullopt when none is stored. kCorrupt when the
  // file exists but does not validate (pending_files_from_json): a damaged
  // file is never half-applied. save_pending() of an empty set removes it.
  Result<std::optional<PendingTrust>> load_pending() const;
  Status save_pending(const PendingTrust& set) const;
  // The timed audit window; nullopt when none is stored. kCorrupt as above.
  // save_timed_audit(nullopt) removes it.
  Result<std::optional<TimedAudit>> load_timed_audit() const;
  Status save_timed_audit(const std::optional<TimedAudit>& window) const;
  // Renames a corrupt state file to state.json.corrupt (kept for
  // inspection; an older one there is replaced).
  Status set_aside() const;

 private:
  std::string dir_;
};

}  // namespace tollgate::policy
