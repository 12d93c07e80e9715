// tollgate compile MANIFEST -o DB and tollgate diff OLD.db NEW.db.
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "policy/compiler.h"
#include "policy/policy_diff.h"
#include "tools/command.h"

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

class CompileCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("manifest", opts_.manifest_path, "Root manifest (YAML)")->required();
    app.add_option("-o,--output", opts_.output_path, "Policy database to write (replaced atomically)");
    app.add_option("--sign-key", key_, "Ed25519 private key (PEM) to sign the database with");
    app.add_option("--jobs,-j", opts_.jobs, "Hashing threads (default: all cores)");
    app.add_flag("--dry-run", opts_.dry_run, "Validate and hash, but write nothing");
    app.add_flag("--json", json_, "Print the summary as JSON");
    app.add_option("--dpkg-admindir", opts_.dpkg_admindir, "dpkg database directory (default /var/lib/dpkg)");
    app.add_flag("--strict", opts_.strict,
                 "Fail when a file: or dir: file is not trusted because an unprivileged user could change it");
    app.footer("Exit status: 0 compiled, 4 invalid manifest (every error printed as FILE:LINE:COL: message;\n"
               "with --strict also every file that fails the ownership rule), 3 I/O error.\n"
               "A failed compile never touches the existing database.\n");
  }

  int run() override {
    if (opts_.output_path.empty() && !opts_.dry_run) {
      fmt::print(stderr, "tollgate: compile: -o DB is required (or pass --dry-run)\n");
      return kExitUsage;
    }
    if (!key_.empty()) opts_.signing_key_path = key_;
    opts_.progress = !json_ && ::isatty(STDERR_FILENO);
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
  policy::CompileOptions opts_;
  std::string key_;
  bool json_ = false;
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
          .example = "  tollgate compile /etc/tollgate/policy.yaml -o /var/lib/tollgate/policy.db \\\n"
                     "      --sign-key /etc/tollgate/signing.key\n",
          .make = [] { return std::make_unique<CompileCommand>(); }};
}

CommandSpec diff_command() {
  return {.name = "diff",
          .summary = "Show rules added and removed between two policy databases",
          .example = "  tollgate diff /var/lib/tollgate/policy.db new.db\n",
          .make = [] { return std::make_unique<DiffCommand>(); }};
}

}  // namespace tollgate::tools
