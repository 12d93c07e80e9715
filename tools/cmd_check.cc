// tollgate check PATH...: the configured policy's verdict for files on disk,
// offline (no daemon), with the deciding rule and its manifest line.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "common/text.h"
#include "hashdb/keys.h"
#include "hashdb/sha256.h"
#include "hashdb/store.h"
#include "tools/admin.h"
#include "tools/command.h"
#include "tools/file_facts.h"

namespace tollgate::tools {
namespace {

using json = nlohmann::ordered_json;

class CheckCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kDbOption);
    app.add_option("--pubkey", pubkey_, "Require the database to be signed by this key (default: public_key)");
    app.add_option("paths", paths_, "Files to check")->required();
    app.add_flag("--json", json_, "Print JSON");
  }

  int run() override {
    auto settings = resolve_settings(options_);
    if (!settings) return report(settings.error());
    auto db = open_policy(*settings, pubkey_);
    if (!db) return report(db.error());
    int status = kExitOk;
    json out = json::array();
    for (const auto& path : paths_) {
      auto facts = current_facts(path, **db);
      if (!facts) {
        status = report(facts.error());
        continue;
      }
      auto d = policy::decide_policy(*facts, **db);
      std::string source = d.source.file.empty() ? "" : fmt::format("{}:{}", d.source.file, d.source.line);
      bool allowed = !d.policy_denies();
      if (!allowed && status == kExitOk) status = kExitNo;
      if (json_) {
        out.push_back({{"path", facts->path},
                       {"sha256", hashdb::to_hex(*facts->sha256)},
                       {"verdict", allowed ? "allow" : "deny"},
                       {"rule", d.rule},
                       {"source", source},
                       {"label", d.label},
                       {"reason", d.reason}});
      } else {
        fmt::print("{}: {} by {}{}\n  sha256 {}\n  {}\n", printable(facts->path), allowed ? "allowed" : "DENIED",
                   d.rule, source.empty() ? "" : " (" + printable(source) + ")", hashdb::to_hex(*facts->sha256),
                   printable(d.reason));
      }
    }
    if (json_) fmt::print("{}\n", out.dump(2, ' ', true, json::error_handler_t::replace));  // ASCII-only
    return status;
  }

 private:
  AdminOptions options_;
  std::string pubkey_;
  std::vector<std::string> paths_;
  bool json_ = false;
};

}  // namespace

CommandSpec check_command() {
  return {.name = "check",
          .summary = "Offline verdict for files: allowed or denied, by which rule and manifest line",
          .example = "  tollgate check /usr/bin/curl /opt/app/bin/tool\n"
                     "  tollgate check --json /usr/local/bin/backup\n",
          .make = [] { return std::make_unique<CheckCommand>(); }};
}

}  // namespace tollgate::tools
