// tollgate: the admin CLI. Wires the subcommand table into CLI11 and runs the
// chosen command through the checks its spec declares.
#include <fmt/core.h>

#include <CLI/CLI.hpp>

#include "tools/access.h"
#include "tools/command.h"

namespace {

using namespace tollgate::tools;

// CLI11 lists the subcommands (name and summary) itself; the footer adds
// only what that list cannot say.
constexpr const char* kFooter =
    "Run 'tollgate help COMMAND' or 'tollgate COMMAND --help' for details.\n"
    "Exit codes: 0 ok, 1 no/denied, 2 usage, 3 I/O, 4 invalid policy or signature,\n"
    "5 daemon unavailable, 6 needs root or the admin group.\n";

// What every command goes through (tools/command.h): its own command-line
// checks and config, then what its spec declares it needs, then the work.
int run_checked(const CommandSpec& spec, Command& command) {
  if (int rc = command.prepare(); rc != kExitOk) return rc;
  if (auto ok = check_access(command.requirement(spec.needs), command.settings(), spec.name); !ok)
    return report(ok.error());
  if (spec.needs_daemon) {
    const tollgate::config::Config* config = command.settings();
    if (int rc = check_daemon(config ? *config : tollgate::config::Config{}); rc != kExitOk) return rc;
  }
  return command.run();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("tollgate: application allowlisting for Linux servers", "tollgate");
  app.set_version_flag("--version", "tollgate " TOLLGATE_VERSION);
  app.require_subcommand(0, 1);

  std::vector<std::string> help_topic;
  auto* help = app.add_subcommand("help", "Show help for a command");
  help->add_option("command", help_topic, "Command to describe");

  struct Entry {
    const CommandSpec* spec;
    CLI::App* app;
    std::unique_ptr<Command> command;
  };
  std::vector<Entry> entries;
  for (const auto& spec : all_commands()) {
    auto* sub = app.add_subcommand(spec.name, spec.summary);
    auto command = spec.make();
    command->setup(*sub);
    // After setup(), which may set its own footer (exit statuses): keep both.
    if (!spec.example.empty()) {
      std::string own = sub->get_footer();
      sub->footer((own.empty() ? "" : own + "\n") + "Example:\n" + spec.example);
    }
    entries.push_back({&spec, sub, std::move(command)});
  }
  // Set after the subcommands exist: CLI11 copies a parent's footer into
  // subcommands created later.
  app.footer(kFooter);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "tollgate: {}\nRun 'tollgate --help' for usage.\n", e.what());
    return kExitUsage;
  }

  if (help->parsed()) {
    if (help_topic.empty()) {
      // app.help() would describe the selected subcommand, `help` itself.
      fmt::print("{}", app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal));
      return kExitOk;
    }
    for (auto& entry : entries) {
      if (entry.spec->name == help_topic.front()) {
        fmt::print("{}", entry.app->help());
        return kExitOk;
      }
    }
    fmt::print(stderr, "tollgate: no such command '{}'\n", help_topic.front());
    return kExitUsage;
  }

  for (auto& entry : entries) {
    if (!entry.app->parsed()) continue;
    try {
      return run_checked(*entry.spec, *entry.command);
    } catch (const std::exception& e) {
      fmt::print(stderr, "tollgate: {}: internal error: {}\n", entry.spec->name, e.what());
      return kExitIo;
    }
  }
  fmt::print("{}", app.help());
  return kExitUsage;
}
