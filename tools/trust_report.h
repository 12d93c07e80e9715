// What a `tollgate refresh` changed in trust, for the record (the apt hook
// recompiles unattended; docs/upgrades.md): the allow rules (hashes, path
// rules, signers) in the database it installed that were not in the one
// before, and the files the compile left untrusted under the ownership rule.
//
//   auto before = snapshot_before_install(settings.database);   // before compiling
//   ... compile_and_reload(settings) ...
//   auto lines = newly_trusted_lines(before, settings.database);
//   report_newly_trusted(*lines, /*to_syslog=*/true);
//
// Not thread-safe (CLI, single thread); syslog via openlog/syslog.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "policy/compiler.h"
#include "policy/policy_diff.h"

namespace tollgate::tools {

// The rules of `database` now; an empty snapshot when it does not exist yet
// (everything the first install trusts is new). An unreadable or invalid
// database is an error: its content is unknown.
Result<policy::PolicyRules> snapshot_before_install(const std::string& database);

// One line per allow rule `database` has and `before` had not, escaped with
// printable() (common/text.h):
//   "sha256 9f86d081... /usr/bin/tool (label dpkg:tool)"
//   "path_prefix /opt/vendor/ (label vendor)"
//   "signer 0123abcd... (label release)"
Result<std::vector<std::string>> newly_trusted_lines(policy::PolicyRules before, const std::string& database);

// Prints "tollgate: newly trusted: N rules" and the first kMaxShown lines
// ("  + LINE") on stdout, and with `to_syslog` the same as one syslog line
// each (ident "tollgate", LOG_AUTHPRIV, LOG_NOTICE: "refresh: newly trusted
// LINE"), then "... and N more" when capped.
constexpr size_t kMaxShown = 1000;
void report_newly_trusted(const std::vector<std::string>& lines, bool to_syslog);

// When the compile left files out under the ownership rule: "tollgate: NOT
// trusted (an unprivileged user could have placed or changed them): N" and
// "  - PATH: WHY (FILE:LINE:COL)" lines on stdout; with `to_syslog` one
// LOG_WARNING line each ("refresh: not trusted PATH: WHY (FILE:LINE:COL)").
void report_untrusted(const std::vector<policy::WritableFile>& files, uint64_t total, bool to_syslog);

}  // namespace tollgate::tools
