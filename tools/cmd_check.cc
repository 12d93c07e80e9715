// tollgate check PATH...: the configured policy's verdict for files on disk,
// offline (no daemon), with the deciding rule and its manifest line;
// --as loader|library|script decides the access `coverage: full` would.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "hashdb/keys.h"
#include "hashdb/sha256.h"
#include "hashdb/store.h"
#include "policy/facts.h"
#include "tools/admin.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

using json = nlohmann::ordered_json;

class CheckCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kDbOption);
    app.add_option("--pubkey", pubkey_, "Require the database to be signed by this key (default: public_key)");
    app.add_option("--as", as_, "Decide as this access: exec (default), loader, library or script (coverage: full)")
        ->check(CLI::IsMember({"exec", "loader", "library", "script"}));
    app.add_option("paths", paths_, "Files to check")->required();
    app.add_flag("--json", json_, "Print JSON");
  }

  int run() override {
    auto settings = resolve_settings(options_);
    if (!settings) return report(settings.error());
    auto db = open_policy(*settings, pubkey_);
    if (!db) return report(db.error());
    const auto keys = policy::signer_keys(**db);
    const policy::RuleView rules{**db, keys, policy::has_path_allow(**db)};
    int status = kExitOk;
    json out = json::array();
    for (const auto& path : paths_) {
      // The daemon's own routine, in enforce semantics: the same size cap,
      // path resolution, ownership chain, signer check and path rules.
      auto checked = policy::decide_path(path, rules,
                                         {.max_file_size = settings->max_file_size,
                                          .access = *policy::parse_access_kind(as_),
                                          .script_trust = settings->open_rules.script_trust});
      if (!checked) {
        status = report(checked.error());
        continue;
      }
      const std::string& name = checked->path.display.empty() ? path : checked->path.display;
      if (!checked->facts.sha256 && !checked->hash_error.empty()) {
        status = report(Error(ErrorCode::kIo, name + ": cannot hash: " + checked->hash_error));
        continue;
      }
      const bool allowed = !checked->decision.policy_denies();
      if (!allowed && status == kExitOk) status = kExitNo;
      print_verdict(name, *checked, allowed, out);
    }
    if (json_) fmt::print("{}\n", out.dump(2, ' ', true, json::error_handler_t::replace));  // ASCII-only
    return status;
  }

 private:
  void print_verdict(const std::string& path, const policy::FileDecision& checked, bool allowed, json& out) const {
    const auto& d = checked.decision;
    std::string sha256 = checked.facts.sha256 ? hashdb::to_hex(*checked.facts.sha256) : std::string();
    std::string source = d.source.file.empty() ? "" : fmt::format("{}:{}", d.source.file, d.source.line);
    if (json_) {
      out.push_back({{"path", path},
                     {"access", policy::to_string(d.access)},
                     {"sha256", sha256},
                     {"verdict", allowed ? "allow" : "deny"},
                     {"rule", d.rule},
                     {"source", source},
                     {"label", d.label},
                     {"reason", d.reason}});
      return;
    }
    fmt::print("{}: {}{} by {}{}\n  sha256 {}\n  {}\n", printable(path), allowed ? "allowed" : "DENIED",
               d.access == policy::AccessKind::kExec ? "" : fmt::format(" as {}", policy::to_string(d.access)), d.rule,
               source.empty() ? "" : " (" + printable(source) + ")", sha256.empty() ? "-" : sha256,
               printable(d.reason));
  }

  AdminOptions options_;
  std::string pubkey_;
  std::string as_ = "exec";
  std::vector<std::string> paths_;
  bool json_ = false;
};

}  // namespace

CommandSpec check_command() {
  return {.name = "check",
          .summary = "Offline verdict for files: allowed or denied, by which rule and manifest line",
          .example =
              "  tollgate check /usr/bin/curl /opt/app/bin/tool\n"
              "  tollgate check --json /usr/local/bin/backup\n"
              "  tollgate check --as script /srv/app/run.py\n",
          .make = [] { return std::make_unique<CheckCommand>(); }};
}

}  // namespace tollgate::tools
