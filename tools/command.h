// The `tollgate` CLI's subcommand table. Each subcommand lives in its own
// tools/cmd_*.cc and contributes one CommandSpec to commands.cc; main.cc wires
// them into CLI11, enforces needs_root and maps errors to exit codes.
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

class Command {
 public:
  virtual ~Command() = default;
  // Declare options on `app`; bind them to members.
  virtual void setup(CLI::App& app) = 0;
  // Run after a successful parse; returns the process exit code.
  virtual int run() = 0;
};

struct CommandSpec {
  std::string name;
  std::string summary;  // one line, shown in `tollgate help`
  std::string example;  // shown under the subcommand's --help
  bool needs_root = false;
  bool needs_daemon = false;
  std::function<std::unique_ptr<Command>()> make;
};

const std::vector<CommandSpec>& all_commands();

}  // namespace tollgate::tools
