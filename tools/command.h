// The `tollgate` CLI's subcommand table. Each subcommand lives in its own
// tools/cmd_*.cc and contributes one CommandSpec to commands.cc; main.cc wires
// them into CLI11, enforces what each declares it needs (who may run it,
// whether the daemon must run) and maps errors to exit codes.
//
// main.cc runs a parsed command as: prepare() (usage checks, the config),
// the permission check for requirement(spec.needs), the daemon check when
// spec.needs_daemon, then run(). No command checks permissions itself.
//
// To add a subcommand: write tools/cmd_NAME.cc with a class deriving from
// Command and a `CommandSpec NAME_command()` factory, declare the factory in
// commands.cc and append it to the table, add the file to tools/CMakeLists.txt
// and document it in docs/cli.md.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/config.h"

namespace tollgate::tools {

// Documented in docs/cli.md; scripts depend on these values.
enum ExitCode : int {
  kExitOk = 0,
  kExitNo = 1,          // the answer is "no": denied, invalid, would break
  kExitUsage = 2,       // bad arguments
  kExitIo = 3,          // a file could not be read or written
  kExitPolicy = 4,      // a manifest, database or signature is invalid
  kExitDaemon = 5,      // tollgated is not running or did not answer
  kExitPermission = 6,  // needs root or the admin group
};

// Exit code for an error value.
int exit_code_for(const Error& error);
// Prints "tollgate: MESSAGE" on stderr and returns exit_code_for(error).
int report(const Error& error);

// Who may run a command (docs/cli.md, "Who may run what").
enum class Access {
  kAnyone,  // reads only what the caller can read anyway
  kAdmin,   // root, or a member of the config's admin_group
  kRoot,    // root only
};

// What one invocation needs: `action` names it in the refusal ("'compile
// --install' needs root or group G"; empty = the command's name), `why`
// says why root alone ("it lowers the rollback floor").
struct Requirement {
  Access access = Access::kAnyone;
  std::string action;
  std::string why;
};

class Command {
 public:
  virtual ~Command() = default;
  // Declare options on `app`; bind them to members.
  virtual void setup(CLI::App& app) = 0;
  // After a successful parse, before the permission check: checks the
  // command line and loads the configuration. Returns kExitOk to go on,
  // else the exit code (the error is printed).
  virtual int prepare() { return kExitOk; }
  // The configuration prepare() resolved (with the command line's
  // overrides), for commands that use one: its admin_group decides kAdmin,
  // its socket the daemon check. nullptr: none.
  virtual const config::Config* settings() const { return nullptr; }
  // What this invocation needs. `declared` is the spec's: the most any
  // invocation of the command needs. Overridden only where an invocation
  // changes nothing (db verify, compile without --install, approve
  // --from-report into a file) or finds nothing to do (refresh with no
  // config file).
  virtual Requirement requirement(Access declared) const { return {.access = declared}; }
  // After the checks; returns the process exit code.
  virtual int run() = 0;
};

struct CommandSpec {
  std::string name;
  std::string summary;             // one line, shown in `tollgate help`
  std::string example;             // shown under the subcommand's --help
  Access needs = Access::kAnyone;  // enforced by main.cc (see Command::requirement)
  // main.cc refuses with exit 5 when tollgated is not running: only for
  // commands that cannot do anything without it.
  bool needs_daemon = false;
  std::function<std::unique_ptr<Command>()> make;
};

const std::vector<CommandSpec>& all_commands();

}  // namespace tollgate::tools
