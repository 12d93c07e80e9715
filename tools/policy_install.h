// Recompile the configured manifest into the configured database and ask the
// daemon to reload it: the tail end of `approve`, `revoke` and the apt hook.
// The caller holds the ApprovalsLock, so concurrent tollgate runs install
// one after the other.
#pragma once

#include <cstdint>
#include <string>

#include "common/error.h"
#include "policy/compiler.h"
#include "tools/admin.h"

namespace tollgate::tools {

struct InstallResult {
  uint64_t generation = 0;
  std::string signer_key_id;  // hex, empty when unsigned
  uint64_t files_hashed = 0, files_reused = 0;
  bool reloaded = false;
  std::string reload_note;  // why the daemon did not reload, when it did not
  // Files the compile left untrusted under the ownership rule (policy/compiler.h).
  std::vector<policy::WritableFile> untrusted_writable;
  uint64_t untrusted_writable_total = 0;
};

// Compiles settings.manifest into settings.database (signed with
// settings.signing_key when set; atomic, generation + 1, unchanged files'
// hashes reused) and sends {"cmd":"reload"} to settings.socket. A daemon
// that is not running is not an error (reloaded = false, reload_note says
// so); a daemon that refuses the new database is (the database stays
// installed: the daemon keeps its previous policy in memory).
Result<InstallResult> compile_and_reload(const Settings& settings);

// InvalidInput unless the root manifest (settings.manifest) includes the
// approvals manifest: otherwise an approval would land in a file the compiler
// never reads. Call after the approvals manifest exists.
Status check_approvals_included(const Settings& settings);

// Asks the daemon to reload; Unavailable when it is not running.
Status request_reload(const Settings& settings);

// "policy.db generation 7 (signed by 0123abcd...); daemon reloaded" etc.
std::string describe_install(const Settings& settings, const InstallResult& result);

}  // namespace tollgate::tools
