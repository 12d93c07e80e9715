// The one gate a policy database passes before tollgated enforces it or it
// becomes the live database. tollgated runs it at start, on reload, for a
// staged install and for a deliberate rollback; the `tollgate` CLI runs the
// very same functions when the daemon is not running, so both reach the same
// verdict (docs/configuration.md, "Policy integrity across restarts").
//
//   auto gate = PolicyGate::make(config.database, config.state_dir, config.public_key);  // key pinned here
//   auto floor = resolve_floor(gate);                 // persisted floor (problem => DEGRADED)
//   auto done = install_candidate(gate, floor.floor, {.check_lockout = true, .lockout_candidates = c});
//   if (!done) ...  // refused: the live database is untouched, the candidate kept as *.refused
//   engine.set_policy(make_policy_state(done->admitted.store, done->admitted.store, epoch));
//
// What is checked, in order: the file is a regular file; its private copy
// opens as a policy database whose rows match its content digest; it is
// signed by the pinned key (when `public_key` is set); its generation is not
// below the floor (equal only with the same content digest); in enforce mode
// no lockout candidate (lockout.h) would be denied.
//
// Why a copy: the source is copied into state_dir (root-only) and that copy
// is what is verified, then enforced, written over the live database and kept
// as the last-known-good copy. Nobody can change the bytes between the check
// and their use, and the daemon never runs on a file others may rewrite.
//
// Thread-safety: a PolicyGate is immutable after make()/prepare(); callers
// serialize admissions that commit (the daemon's mutex, the CLI's
// ApprovalsLock). Errors are one line naming the source file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "hashdb/keys.h"
#include "hashdb/store.h"
#include "policy/pending_trust.h"
#include "policy/state_store.h"

namespace tollgate::policy {

struct AdmitOptions {
  bool allow_older = false;                     // deliberate rollback: the floor does not apply
  bool check_lockout = false;                   // enforce mode, now or after a restart
  std::vector<std::string> lockout_candidates;  // lockout_candidates(), resolved paths
  // The pending trust that will be in force with the policy (pending_trust.h):
  // it counts for the lockout check, so a daemon restarted mid-upgrade
  // accepts the policy that, with the pending set, allows its own new
  // binary. Not owned; null = none.
  const std::vector<PendingFile>* pending = nullptr;
};

// Pure part of the verdict, on a store that opened (and so verified its
// content and, when asked, its signature): the floor and the anti-lockout
// check. `name` labels the messages.
Status check_admissible(const hashdb::PolicyStore& store, std::string_view name, const Floor& floor,
                        const AdmitOptions& options);

// A database that passed the gate.
struct Admitted {
  std::shared_ptr<const hashdb::PolicyStore> store;  // open on the verified bytes
  Floor floor;                                       // its generation and content digest
  std::string source;                                // the file it was admitted from
  std::optional<AtomicFile> copy;                    // the private verified copy; empty when admitted in place
};

class PolicyGate {
 public:
  // Loads the public key now (empty path = unsigned databases are accepted).
  // A key that cannot be loaded refuses every database with that reason.
  // Calls prepare() on state_dir; state_usable()/state_problem() say how it went.
  static PolicyGate make(std::string database, std::string state_dir, const std::string& public_key_path);

  const std::string& database() const { return database_; }
  const StateStore& state() const { return state_; }
  bool state_usable() const { return state_problem_.empty(); }
  const std::string& state_problem() const { return state_problem_; }
  bool key_pinned() const { return key_.has_value(); }

  // Copies `source` into state_dir and admits the copy. Needs a usable
  // state_dir (kUnavailable otherwise).
  Result<Admitted> admit(const std::string& source, const Floor& floor, const AdmitOptions& options) const;
  // Admits `path` where it lies: the last-known-good copy, or the live
  // database when state_dir is unusable.
  Result<Admitted> admit_in_place(const std::string& path, const Floor& floor, const AdmitOptions& options) const;
  // Writes the admitted bytes over the live database (temporary file, fsync,
  // rename; the live file keeps its mode, 0644 when new).
  Status write_live(const Admitted& admitted) const;
  // Makes an admitted copy the last-known-good one, then persists its floor.
  // A no-op for an in-place admission.
  Status commit(Admitted& admitted) const;

 private:
  PolicyGate(std::string database, std::string state_dir)
      : database_(std::move(database)), state_(std::move(state_dir)) {}
  Result<Admitted> verify(const std::string& path, const std::string& name, const Floor& floor,
                          const AdmitOptions& options) const;

  std::string database_;
  StateStore state_;
  std::string state_problem_;
  std::optional<hashdb::PublicKey> key_;
  std::string key_error_;
};

// The floor to enforce, from state.json; when that is missing while a
// last-known-good copy exists, or corrupt (then moved to state.json.corrupt),
// the verified last-known-good copy's generation. `problem` is non-empty
// whenever the floor could not be read as persisted (the daemon reports
// DEGRADED); a floor is never silently reset to 0, except on a first start
// (no state file and no last-known-good copy).
struct FloorResult {
  Floor floor;
  std::string problem;
};
FloorResult resolve_floor(const PolicyGate& gate);

// DATABASE.candidate: where the CLI stages a new database beside the live one.
std::string candidate_path(const std::string& database);
// Where a refused candidate is kept for inspection: CANDIDATE.refused.
std::string refused_path(const std::string& database);

struct Installed {
  Admitted admitted;
  std::string warning;  // commit failed: installed and enforced, but not persisted
};

// Staged install of candidate_path(gate.database()): admit it, write it over
// the live database, commit, remove the candidate. Refused: the live database
// is untouched and the candidate renamed to refused_path().
Result<Installed> install_candidate(const PolicyGate& gate, const Floor& floor, const AdmitOptions& options);
// Deliberate rollback to `file` (left in place): admitted whatever its
// generation, written over the live database, committed (the floor becomes
// its generation).
Result<Installed> install_rollback(const PolicyGate& gate, const std::string& file, AdmitOptions options);

}  // namespace tollgate::policy
