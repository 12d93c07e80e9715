// tollgate compile MANIFEST -o DB and tollgate diff OLD.db NEW.db.
#include <fmt/core.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "policy/compiler.h"
#include "policy/policy_diff.h"
#include "tools/admin.h"
#include "tools/approvals.h"
#include "tools/command.h"
#include "tools/compile_progress.h"
#include "tools/policy_install.h"

namespace tollgate::tools {
namespace {

using nlohmann::json;

json error_lines(const Error& e) {
  json lines = json::array();
  size_t pos = 0;
  const std::string& m = e.message();
  while (pos <= m.size()) {
    size_t end = m.find('\n', pos);
    if (end == std::string::npos) end = m.size();
    lines.push_back(m.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

class CompileCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    app.add_option("manifest", opts_.manifest_path,
                   "Root manifest (YAML; with --install: default 'manifest' of the config)");
    app.add_option("-o,--output", opts_.output_path, "Policy database to write (replaced atomically)");
    app.add_flag("--install", install_,
                 "Stage the result beside the configured database and have tollgated verify and install it");
    add_admin_options(app, options_, kSocketOption);
    app.add_option("--sign-key", key_, "Ed25519 private key (PEM) to sign the database with");
    app.add_option("--jobs,-j", opts_.jobs, "Hashing threads (default: all cores)");
    app.add_flag("--dry-run", opts_.dry_run, "Validate and hash, but write nothing");
    app.add_flag("--json", json_, "Print the summary as JSON");
    app.add_option("--dpkg-admindir", opts_.dpkg_admindir, "dpkg database directory (default /var/lib/dpkg)");
    app.add_flag("--strict", opts_.strict,
                 "Fail when a file: or dir: file is not trusted because an unprivileged user could change it");
    app.footer(
        "Exit status: 0 compiled, 4 invalid manifest (every error printed as FILE:LINE:COL: message;\n"
        "with --strict also every file that fails the ownership rule), 3 I/O error; with --install also\n"
        "4 when tollgated (or the same check here) refuses the candidate, 6 not root or admin_group.\n"
        "A failed compile never touches the existing database.\n");
  }

  // Only --install reads the configuration (and may be refused).
  int prepare() override {
    if (!install_) return kExitOk;
    if (!opts_.output_path.empty() || opts_.dry_run) {
      fmt::print(stderr, "tollgate: compile --install writes the configured database; drop -o/--dry-run\n");
      return kExitUsage;
    }
    return ConfiguredCommand::prepare();
  }

  // Compiling into a file of one's own changes nothing that is enforced.
  Requirement requirement(Access declared) const override {
    if (!install_) return {};
    return {.access = declared, .action = "compile --install"};
  }

  int run() override {
    if (install_) return run_install();
    if (opts_.manifest_path.empty()) {
      fmt::print(stderr, "tollgate: compile: MANIFEST is required (or pass --install to use the configured one)\n");
      return kExitUsage;
    }
    if (opts_.output_path.empty() && !opts_.dry_run) {
      fmt::print(stderr, "tollgate: compile: -o DB is required (or pass --dry-run)\n");
      return kExitUsage;
    }
    if (!key_.empty()) opts_.signing_key_path = key_;
    opts_.progress = terminal_progress(!json_ && ::isatty(STDERR_FILENO));
    auto summary = policy::compile_policy(opts_);
    if (!summary) {
      if (json_) fmt::print("{}\n", json{{"ok", false}, {"errors", error_lines(summary.error())}}.dump(2));
      return report(summary.error());
    }
    if (json_) {
      json out = summary->to_json();
      out["ok"] = true;
      fmt::print("{}\n", out.dump(2));
    } else {
      fmt::print("{}", summary->to_text());
    }
    return kExitOk;
  }

 private:
  // compile --install: the configured database's staged path (policy_install.h).
  int run_install() {
    auto& settings = settings_;
    if (!opts_.manifest_path.empty()) settings->manifest = opts_.manifest_path;
    if (!key_.empty()) settings->signing_key = key_;
    std::optional<ApprovalsLock> lock;
    if (!settings->approvals.empty()) {
      auto acquired = ApprovalsLock::acquire(settings->approvals);
      if (!acquired) return report(acquired.error());
      lock.emplace(std::move(*acquired));
    }
    auto installed = compile_and_install(*settings, !json_ && ::isatty(STDERR_FILENO), opts_.strict);
    if (!installed) {
      if (json_) fmt::print("{}\n", json{{"ok", false}, {"errors", error_lines(installed.error())}}.dump(2));
      return report(installed.error());
    }
    if (json_) {
      json out = installed->summary.to_json();
      out["ok"] = true;
      out["installed"] = {{"database", settings->database},
                          {"generation", installed->installation.generation},
                          {"by_daemon", installed->installation.by_daemon},
                          {"note", installed->installation.note}};
      fmt::print("{}\n", out.dump(2));
    } else {
      fmt::print("{}installed {}\n", installed->summary.to_text(), describe_install(*settings, *installed));
    }
    return kExitOk;
  }

  policy::CompileOptions opts_;
  std::string key_;
  bool json_ = false, install_ = false;
};

class DiffCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("old", old_, "The policy database in force")->required();
    app.add_option("new", new_, "The candidate policy database")->required();
    app.add_flag("--json", json_, "Machine-readable output");
    app.footer("Exit status: 0 identical rules, 1 rules differ, 3/4 a database is unreadable or invalid.\n");
  }

  int run() override {
    auto d = policy::diff_policies(old_, new_);
    if (!d) return report(d.error());
    if (json_) fmt::print("{}\n", d->to_json().dump(2));
    else fmt::print("{}", d->to_text());
    return d->empty() ? kExitOk : kExitNo;
  }

 private:
  std::string old_, new_;
  bool json_ = false;
};

}  // namespace

CommandSpec compile_command() {
  return {.name = "compile",
          .summary = "Compile YAML manifests into a signed policy database",
          .example =
              "  tollgate compile /etc/tollgate/policy.yaml -o /tmp/policy.db --sign-key /etc/tollgate/signing.key\n"
              "  sudo tollgate compile --install      # the configured manifest, staged and verified\n",
          .needs = Access::kAdmin,
          .make = [] { return std::make_unique<CompileCommand>(); }};
}

CommandSpec diff_command() {
  return {.name = "diff",
          .summary = "Show rules added and removed between two policy databases",
          .example = "  tollgate diff /var/lib/tollgate/policy.db new.db\n",
          .make = [] { return std::make_unique<DiffCommand>(); }};
}

}  // namespace tollgate::tools
