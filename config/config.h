// The configuration file shared by tollgated and the tollgate CLI
// (docs/configuration.md documents every key).
//
//   auto config = config::load_config("/etc/tollgate/tollgate.yaml");
//   if (!config) { fmt::print(stderr, "{}\n", config.error().message()); return 2; }
//
// Strict: an unknown key or a bad value is an error "FILE:LINE:COL: ...",
// every such error in the file is reported (one per line). Keys left out take
// the defaults below. Thread-safety: plain value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "policy/access.h"
#include "policy/decision.h"

namespace tollgate::config {

inline constexpr const char* kDefaultConfigPath = "/etc/tollgate/tollgate.yaml";

enum class Coverage { kExec, kFull };
std::string_view to_string(Coverage coverage);
// What the daemon does with a process the census finds (census/classify.h).
enum class OnUnwatched { kLog, kKill };
std::string_view to_string(OnUnwatched on_unwatched);
inline constexpr int kDefaultCensusIntervalMs = 2000;

struct Config {
  std::string path;  // the file it was loaded from; empty = built-in defaults
  policy::Mode mode = policy::Mode::kAudit;
  Coverage coverage = Coverage::kExec;
  // `coverage: full`: interpreters, script_trust and library_readers
  // (policy/access.h, docs/configuration.md).
  policy::OpenRules open_rules;
  std::string database = "/var/lib/tollgate/policy.db";
  // Root-only home of the anti-rollback floor and the last-known-good copy
  // (policy/state_store.h).
  std::string state_dir = "/var/lib/tollgate";
  // How long pending trust of packages apt is about to unpack lasts when no
  // recompile ends it first (docs/upgrades.md).
  std::chrono::seconds pending_trust_ttl{30 * 60};
  std::string public_key;  // empty = signature not required
  // Mount-point prefixes (census/mounts.h): each covers the filesystem
  // holding the path and every filesystem mounted at or below it, now or
  // later. "auto" (one element) = the prefix "/".
  std::vector<std::string> watch = {"auto"};
  // The census walks /proc this often; 0 = never (docs/configuration.md).
  int census_interval_ms = kDefaultCensusIntervalMs;
  OnUnwatched on_unwatched = OnUnwatched::kLog;
  // Executables (absolute paths, or "sha256:HEX") whose content exempts a
  // finding from on_unwatched: kill.
  std::vector<std::string> unwatched_exempt;
  std::string event_log = "/var/log/tollgate/events.jsonl";
  bool syslog = false;
  std::string socket = "/run/tollgate/tollgate.sock";
  std::string admin_group;  // empty = root only
  // The answer when no decision is reached (timeout, too large, overload,
  // internal error); unset = deny in enforce mode, allow in audit mode.
  std::optional<policy::Verdict> on_error;
  int decision_timeout_ms = 2000;
  // Larger files are never hashed (docs/configuration.md says why 2 GiB).
  uint64_t max_file_size = uint64_t{2} << 30;
  std::string metrics_file;  // empty = no metrics file
  bool log_allows = false;
  // Nice value of the thread that reads and answers events (only that
  // thread: workers, the logger and the scanner keep theirs). -14: see
  // docs/configuration.md, "Thread priorities".
  int nice = -14;
  // Inode ignore marks on approved files on a safe chain (enforcer/ignore_marks.h);
  // at most this many at once, 0 = none.
  uint64_t max_ignore_marks = 16384;
  std::string manifest = "/etc/tollgate/policy.yaml";
  std::string approvals = "/etc/tollgate/approvals.yaml";
  std::string signing_key;
  // Executables that a policy must allow before it is loaded in enforce
  // mode (the daemon's own binary and PID 1's executable are always added).
  std::vector<std::string> must_allow = default_must_allow();

  // The default must_allow: each of `candidates` that exists, then each line
  // of `shells_file` that is an absolute path (comments, blank and relative
  // lines skipped) and exists; in that order, each path once. A missing
  // shells file adds nothing. The parameters are for tests.
  static std::vector<std::string> default_must_allow(
      const std::vector<std::string>& candidates = {"/usr/sbin/sshd", "/usr/lib/systemd/systemd",
                                                    "/lib/systemd/systemd"},
      const std::string& shells_file = "/etc/shells");

  // Loaded from a file (false: the default file does not exist and the
  // built-in defaults apply).
  bool from_file() const { return !path.empty(); }
  // The file it was loaded from, else the default path (for messages, and
  // for `tollgate mode`, which persists the mode there).
  std::string file_name() const { return path.empty() ? kDefaultConfigPath : path; }
};

// Loads and validates `path`. A missing file is kNotFound (callers decide
// whether defaults are acceptable); any other problem is kInvalidInput with
// every FILE:LINE:COL message.
Result<Config> load_config(const std::string& path);
// Parses config text (`name` labels the messages). Used by load_config and tests.
Result<Config> parse_config(const std::string& text, const std::string& name);

// The config tollgated and the CLI use: `explicit_path` when given (missing =
// error), else the default path, falling back to built-in defaults with a
// note on stderr when that file does not exist.
Result<Config> load_config_or_default(const std::string& explicit_path, std::string_view program);

}  // namespace tollgate::config
