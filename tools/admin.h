// Shared plumbing of the admin subcommands (report, log, replay, approve,
// revoke, check, mode): the common --config/--db/--log/--socket options, the
// settings they resolve to, the admin permission check and event-log loading
// with malformed lines reported on stderr.
//
//   AdminOptions opts;                         // member of the Command
//   add_admin_options(app, opts, kLogOption);  // in setup()
//   auto settings = resolve_settings(opts);    // in run()
//   if (!settings) return report(settings.error());
//
// Not thread-safe (CLI, single thread).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "enforcer/config.h"
#include "policy/events.h"
#include <nlohmann/json.hpp>

#include "hashdb/rule_set.h"
#include "hashdb/store.h"
#include "policy/replay.h"
#include "policy/report.h"

namespace tollgate::tools {

// What each subcommand may override on its command line.
enum AdminOptionSet : unsigned {
  kDbOption = 1,
  kLogOption = 2,
  kSocketOption = 4,
};

struct AdminOptions {
  std::string config = enforcer::kDefaultConfigPath;
  std::string db, log, socket;
  // Set by add_admin_options; a --config given on the command line must
  // exist, even when it names the default path.
  const CLI::Option* config_option = nullptr;
};

void add_admin_options(CLI::App& app, AdminOptions& options, unsigned which);

// The subset of the daemon's configuration (enforcer/config.h) the CLI
// needs, with the command line's overrides applied.
struct Settings {
  std::string config_path;
  bool config_found = false;
  std::string mode;
  std::string database;
  std::string public_key;
  std::string event_log;
  std::string socket;
  std::string admin_group;  // empty = root only
  std::string manifest;
  std::string approvals;
  std::string signing_key;
  std::string state_dir;
  std::vector<std::string> must_allow;
  // `check` decides as the daemon does; sweep and doctor (issue 10) too.
  uint64_t max_file_size = 0;
  // Coverage (issue 10): sweep and doctor.
  std::vector<std::string> watch;
  std::vector<std::string> unwatched_exempt;
  int census_interval_ms = 0;
};

// Loads the config file with enforcer::load_config_or_default: a missing
// file is an error only when --config was given explicitly; otherwise the
// built-in defaults apply.
Result<Settings> resolve_settings(const AdminOptions& options);

// Ok for root and members of `admin_group` (real or supplementary groups);
// Permission error "needs root or group G" otherwise ("needs root" when no
// group is configured).
Status check_admin(const Settings& settings, std::string_view command);

// The invoking human: SUDO_USER when run through sudo, else the login name
// of the real uid, else "uid N".
std::string invoking_user();

// uid -> user name from the passwd database ("" when unknown).
std::string user_name(int64_t uid);

// Streams the event log through on_event, printing each malformed line as
// "tollgate: FILE:LINE: skipped malformed event: WHY" on stderr (the first
// 10, then a count). Returns the number of malformed lines.
Result<size_t> scan_events(const std::string& path, const std::function<void(policy::Event&&)>& on_event);

// --since DURATION -> the cut-off time (now - duration).
Result<policy::TimeUs> since_cutoff(const std::string& duration);

// "alice (1000)" / "uid 1000".
std::string describe_user(const policy::UserCount& user);
// One line each for a reported binary: "a (3), b (1)" / "root (0) x4", or "-".
// Launcher paths come from the event log and are made printable.
std::string join_launchers(const std::vector<policy::LauncherCount>& launchers);
std::string join_users(const std::vector<policy::UserCount>& users);
// "denied", "would-deny" or "2 denied, 3 would-deny".
std::string denial_split(const policy::BinaryReport& binary);

// Opens the policy database of `settings` (verifying its signature with
// `pubkey`, or with settings.public_key when `pubkey` is empty and that is set).
Result<std::shared_ptr<const hashdb::PolicyStore>> open_policy(const Settings& settings, const std::string& pubkey = "");

// Replays the decision events of `log_path` newer than `since_us` against
// `rules` (tools/file_facts.h supplies the current owner chains).
Result<policy::ReplayResult> replay_history(const std::string& log_path, const hashdb::RuleSet& rules,
                                            std::optional<policy::TimeUs> since_us);

// This machine's name for events the CLI writes ("localhost" when unknown).
std::string host_name();

// Appends one event line to the event log, for changes the daemon is not
// running to record itself (mode, rollback).
Status append_event(const std::string& path, const nlohmann::json& event);

// "  PATH\n    sha256 ..., seen N times, last ..., launched by EXE\n    RULE: REASON"
// for each binary the replay would deny.
void print_would_deny(const std::vector<policy::ReplayItem>& items);

}  // namespace tollgate::tools
