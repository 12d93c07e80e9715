// Staged installs of a new policy database: the tail end of `approve`,
// `revoke`, `refresh` (the apt hook), `compile --install` and `db rollback`.
// The caller holds the ApprovalsLock, so concurrent tollgate runs install one
// after the other.
//
// The live database is never written here directly. A new database is
// compiled into DATABASE.candidate beside it and handed to tollgated
// ({"cmd":"install"}), which verifies it (signature, generation floor,
// anti-lockout) and only then makes it the live database. When tollgated is
// not running, the very same gate (policy/policy_gate.h) runs here, with
// the floor from state_dir (so it needs root). A refused candidate is kept as
// DATABASE.candidate.refused and the live database stays byte-identical.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "policy/compiler.h"
#include "tools/admin.h"

namespace tollgate::tools {

// How a verified database reached the live path.
struct Installation {
  uint64_t generation = 0;
  uint64_t from_generation = 0;  // rollback: the generation in force before
  bool by_daemon = false;        // tollgated verified and installed it
  std::string note;              // daemon not running, or a warning
};

struct InstallResult {
  policy::CompileSummary summary;  // of the candidate
  Installation installation;
};

// Compiles settings.manifest (signed with settings.signing_key when set)
// into the candidate, starting from a copy of the newest of the live
// database and the last-known-good copy so that the generation and the
// file cache carry on, then installs it as above. `strict`: compile --strict
// (policy/compiler.h).
Result<InstallResult> compile_and_install(const Settings& settings, bool progress = false, bool strict = false);

// Hands an already written candidate to the daemon, or runs the gate here
// when the daemon is not running. `by` is recorded in the daemon's event.
Result<Installation> install_staged(const Settings& settings, const std::string& by);

// Deliberate rollback to `file` (root only): through the daemon when it
// runs, else here, with a `rollback` event appended to the event log.
Result<Installation> rollback_to(const Settings& settings, const std::string& file, const std::string& by);

// InvalidInput unless the root manifest (settings.manifest) includes the
// approvals manifest: otherwise an approval would land in a file the compiler
// never reads. Call after the approvals manifest exists.
Status check_approvals_included(const Settings& settings);

// The executables the CLI checks for lockout, standing in for the daemon:
// must_allow, PID 1's executable, tollgated beside this binary and `extra`
// (the list tollgated recorded in state_dir), resolved; missing ones dropped.
std::vector<std::string> cli_lockout_candidates(const Settings& settings, const std::vector<std::string>& extra = {});

// "policy.db: generation 7, signed by 0123abcd... (3 files hashed, 9 reused); daemon reloaded"
// (the daemon verified and installed it) or the note of an install done here.
std::string describe_install(const Settings& settings, const InstallResult& result);

}  // namespace tollgate::tools
