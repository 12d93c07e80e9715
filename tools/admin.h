// Shared plumbing of the admin subcommands (report, log, replay, approve,
// revoke, check, mode, refresh, compile --install, db rollback): the common
// --config/--db/--log/--socket options and the settings they resolve to
// (ConfiguredCommand), the one --since parser, event-log streaming with
// malformed lines reported on stderr, opening the policy database with its
// pinned key, and the text the report and replay print. Permissions are
// not checked here: main.cc does that (tools/access.h).
//
//   class ReportCommand final : public ConfiguredCommand {
//     void setup(CLI::App& app) override { add_admin_options(app, options_, kLogOption); }
//     int run() override { ... settings_->event_log ... }
//   };
//
// Not thread-safe (CLI, single thread).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/time.h"
#include "config/config.h"
#include "eventlog/reader.h"
#include "eventlog/replay.h"
#include "eventlog/report.h"
#include "hashdb/rule_set.h"
#include "hashdb/store.h"
#include "tools/command.h"

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

// A Command that reads the configuration (the options add_admin_options
// adds in setup()): prepare() resolves it, settings() hands it to main.cc's
// permission and daemon checks, run() uses it as settings_.
class ConfiguredCommand : public Command {
 public:
  int prepare() override;
  const config::Config* settings() const override { return settings_ ? &*settings_ : nullptr; }

 protected:
  AdminOptions options_;
  std::optional<Settings> settings_;  // set by prepare()
};

// Loads the config file with config::load_config_or_default: a missing
// file is an error only when --config was given explicitly; otherwise the
// built-in defaults apply (Settings::from_file() is false).
Result<Settings> resolve_settings(const AdminOptions& options);

// The invoking human: SUDO_USER when run through sudo, else the login name
// of the real uid, else "uid N".
std::string invoking_user();

// uid -> user name from the passwd database ("" when unknown).
std::string user_name(int64_t uid);

// Streams the event log through on_event, printing each malformed line as
// "tollgate: FILE:LINE: skipped malformed event: WHY" on stderr (the first
// 10, then a count). Returns the number of malformed lines.
Result<size_t> scan_events(const std::string& path, const std::function<void(eventlog::Event&&)>& on_event);

// --since DURATION (common/time.h, parse_duration) -> the cut-off time
// (now - DURATION); InvalidInput "--since: invalid duration ..." otherwise.
// The one --since parser of report, log, replay, approve --from-report and
// mode.
Result<TimeUs> since_cutoff(const std::string& duration);
// The same, where "all" means the whole log (no cut-off).
Result<std::optional<TimeUs>> since_window(const std::string& duration);

// Prints "tollgate: MESSAGE" on stderr and returns kExitUsage: a bad
// command-line value (as opposed to report(), whose code follows the error).
int usage_error(const Error& error);

// "alice (1000)" / "uid 1000".
std::string describe_user(const eventlog::UserCount& user);
// One line each for a reported binary: "a (3), b (1)" / "root (0) x4", or "-".
// Launcher paths come from the event log and are made printable.
std::string join_launchers(const std::vector<eventlog::LauncherCount>& launchers);
std::string join_users(const std::vector<eventlog::UserCount>& users);
// "denied", "would-deny" or "2 denied, 3 would-deny".
std::string denial_split(const eventlog::BinaryReport& binary);

// The public key a database must be signed by: nullopt for an empty path
// (no signature required), an error naming the file when it cannot be loaded.
Result<std::optional<hashdb::PublicKey>> load_pinned_key(const std::string& path);

// Opens the policy database of `settings` (verifying its signature with
// `pubkey`, or with settings.public_key when `pubkey` is empty and that is set).
Result<std::shared_ptr<const hashdb::PolicyStore>> open_policy(const Settings& settings,
                                                               const std::string& pubkey = "");

// Replays the decision events of `log_path` newer than `since_us` against
// `rules` (tools/file_facts.h supplies the current owner chains).
Result<eventlog::ReplayResult> replay_history(const std::string& log_path, const hashdb::RuleSet& rules,
                                              std::optional<TimeUs> since_us);

// "  PATH\n    sha256 ..., seen N times, last ..., launched by EXE\n    RULE: REASON"
// for each binary the replay would deny.
void print_would_deny(const std::vector<eventlog::ReplayItem>& items);

}  // namespace tollgate::tools
