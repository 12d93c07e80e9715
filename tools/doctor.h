// tollgate doctor: the holes this host leaves open and the hardening that
// closes each. Pure checks over plain facts (run_checks), and the thin part
// that reads them from a proc root, the mount table, the files and the
// daemon (gather_host_facts), so tests hand in a fake /proc.
//
//   HostFacts facts = gather_host_facts("/proc", settings);
//   auto checks = run_checks(facts);
//   for (const auto& c : checks) ... c.status, c.why, c.fix
//   auto holes = open_holes(checks);            // `tollgate status`'s health line
//
// Each check has a status, a one-line why and the exact fix. A sysctl fix
// is what `--fix` writes into a sysctl.d drop-in and applies; a mount fix
// is an fstab line, printed, never applied (doctor never remounts a live
// filesystem). Not thread-safe (CLI).
#pragma once

#include <sys/types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "census/mounts.h"
#include "control/protocol.h"
#include "policy/decision.h"
#include "tools/admin.h"

namespace tollgate::tools {

enum class Severity { kOk, kInfo, kWarn, kFail };
std::string_view to_string(Severity s);

struct SysctlFix {
  std::string name;   // "vm.memfd_noexec"
  std::string value;  // "2"
};

struct Check {
  std::string id;  // stable: "memfd", "user-namespaces", "tmp-noexec:/tmp", ...
  Severity status = Severity::kOk;
  std::string why;                  // one line
  std::string fix;                  // the exact fix ("" when ok)
  std::optional<SysctlFix> sysctl;  // applied by --fix
  std::string hole;                 // short name for `tollgate status` when open ("memfd exec")
};

// A file of the policy, the keys or the config, with its ownership chain.
struct FileFact {
  std::string role;  // "database", "manifest", "signing key", ...
  std::string path;
  bool exists = false;
  bool secret = false;  // a private key: not readable by group or others either
  mode_t mode = 0;
  std::vector<policy::PathElement> chain;  // the file, then each parent
  std::string error;                       // why it could not be examined
};

struct HostFacts {
  // Every sysctl the checks read ("vm.memfd_noexec"); nullopt: not on this kernel.
  std::map<std::string, std::optional<std::string>> sysctls;
  std::string kernel_release;
  std::vector<census::MountEntry> mounts;  // this namespace's
  std::vector<dev_t> watched;
  bool watched_from_daemon = false;
  std::vector<FileFact> files;
  std::string signing_key;  // configured path, "" when none
  bool signing_key_present = false;
  std::string public_key;
  int census_interval_ms = 0;
  // The daemon's status; daemon_error when it did not give one.
  std::optional<control::StatusReply> daemon;
  std::string daemon_error;
  bool daemon_refused = false;  // it runs, but the socket refused us (not root, not admin_group)
};

// The sysctls run_checks reads.
const std::vector<std::string>& checked_sysctls();

std::vector<Check> run_checks(const HostFacts& facts);
Severity worst(const std::vector<Check>& checks);
// The short names of the open holes (checks with a `hole` that are not ok).
std::vector<std::string> open_holes(const std::vector<Check>& checks);

// A sysctl.d drop-in: `existing` (a previous one, or "") with `fixes` set,
// one "name = value" line each, a comment saying who wrote it.
std::string sysctl_dropin(const std::string& existing, const std::vector<SysctlFix>& fixes);

// Reads the facts: sysctls from PROC_ROOT/sys, the mount table from
// PROC_ROOT/self/mountinfo, the files the config names, the daemon over its
// socket.
HostFacts gather_host_facts(const std::string& proc_root, const Settings& settings);

// The open holes for `tollgate status`: the kernel facts from PROC_ROOT and
// what the daemon's status object says it watches and runs.
std::vector<std::string> status_holes(const std::string& proc_root, const control::StatusReply& status);

// Writes each fix into PROC_ROOT/sys (what `sysctl -w` does).
Status apply_sysctls(const std::string& proc_root, const std::vector<SysctlFix>& fixes);

}  // namespace tollgate::tools
