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
#include "config/config.h"
#include "eventlog/reader.h"
#include <nlohmann/json.hpp>

#include "hashdb/rule_set.h"
#include "hashdb/store.h"
#include "eventlog/replay.h"
#include "eventlog/report.h"

namespace tollgate::tools {

// What each subcommand may override on its command line.
enum AdminOptionSet : unsigned {
  kDbOption = 1,
  kLogOption = 2,
  kSocketOption = 4,
};

struct AdminOptions {
  std::string config = config::kDefaultConfigPath;
  std::string db, log, socket;
  // Set by add_admin_options; a --config given on the command line must
  // exist, even when it names the default path.
  const CLI::Option* config_option = nullptr;
};

void add_admin_options(CLI::App& app, AdminOptions& options, unsigned which);

// The CLI's settings are the configuration itself (config/config.h, the
// model tollgated loads), with the command line's --db/--log/--socket
// overrides applied; nothing is copied field by field.
using Settings = config::Config;

// Loads the config file with config::load_config_or_default: a missing
// file is an error only when --config was given explicitly; otherwise the
// built-in defaults apply (Settings::from_file() is false).
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
Result<size_t> scan_events(const std::string& path, const std::function<void(eventlog::Event&&)>& on_event);

// --since DURATION -> the cut-off time (now - duration).
Result<TimeUs> since_cutoff(const std::string& duration);

// "alice (1000)" / "uid 1000".
std::string describe_user(const eventlog::UserCount& user);
// One line each for a reported binary: "a (3), b (1)" / "root (0) x4", or "-".
// Launcher paths come from the event log and are made printable.
std::string join_launchers(const std::vector<eventlog::LauncherCount>& launchers);
std::string join_users(const std::vector<eventlog::UserCount>& users);
// "denied", "would-deny" or "2 denied, 3 would-deny".
std::string denial_split(const eventlog::BinaryReport& binary);

// Opens the policy database of `settings` (verifying its signature with
// `pubkey`, or with settings.public_key when `pubkey` is empty and that is set).
Result<std::shared_ptr<const hashdb::PolicyStore>> open_policy(const Settings& settings, const std::string& pubkey = "");

// Replays the decision events of `log_path` newer than `since_us` against
// `rules` (tools/file_facts.h supplies the current owner chains).
Result<eventlog::ReplayResult> replay_history(const std::string& log_path, const hashdb::RuleSet& rules,
                                            std::optional<TimeUs> since_us);

// "  PATH\n    sha256 ..., seen N times, last ..., launched by EXE\n    RULE: REASON"
// for each binary the replay would deny.
void print_would_deny(const std::vector<eventlog::ReplayItem>& items);

}  // namespace tollgate::tools
