// tollgate replay: what would a candidate policy deny of the recorded history?
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "hashdb/keys.h"
#include "hashdb/store.h"
#include "tools/admin.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

using json = nlohmann::ordered_json;

json item_json(const eventlog::ReplayItem& item) {
  return {{"path", item.path},
          {"sha256", item.sha256},
          {"count", item.count},
          {"last_seen", item.last_seen},
          {"launched_by", item.last_exe},
          {"rule", item.decision.rule},
          {"reason", item.decision.reason},
          {"source", item.decision.source.file.empty()
                         ? ""
                         : fmt::format("{}:{}", item.decision.source.file, item.decision.source.line)}};
}

class ReplayCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kDbOption | kLogOption);
    app.add_option("--pubkey", pubkey_, "Require the candidate to be signed by this key");
    app.add_option("--since", since_, "History window (30m, 24h, 7d; 'all')")->capture_default_str();
    app.add_flag("--json", json_, "Print JSON");
  }

  int run() override {
    auto settings = resolve_settings(options_);
    if (!settings) return report(settings.error());
    auto cutoff = since_window(since_);
    if (!cutoff) return usage_error(cutoff.error());
    const std::optional<TimeUs> since = *cutoff;
    // A candidate is rarely signed yet: only --pubkey asks for a signature.
    settings->public_key.clear();
    auto db = open_policy(*settings, pubkey_);
    if (!db) return report(db.error());
    auto result = replay_history(settings->event_log, **db, since);
    if (!result) return report(result.error());
    std::string window = since ? "since " + format_rfc3339(*since) : "in the whole log";
    if (json_) {
      json out = {{"database", settings->database},   {"generation", (*db)->generation()},
                  {"event_log", settings->event_log}, {"since", since ? json(format_rfc3339(*since)) : json(nullptr)},
                  {"events", result->events},         {"binaries", result->denied.size() + result->allowed.size()},
                  {"would_deny", json::array()}};
      for (const auto& item : result->denied) out["would_deny"].push_back(item_json(item));
      fmt::print("{}\n", out.dump(2, ' ', true, json::error_handler_t::replace));  // ASCII-only
    } else {
      fmt::print("Replayed {} exec events ({} distinct binaries) {} against {} (generation {}).\n", result->events,
                 result->denied.size() + result->allowed.size(), window, settings->database, (*db)->generation());
      if (result->denied.empty()) {
        fmt::print("Nothing would be denied.\n");
      } else {
        fmt::print("It would deny {} binaries:\n", result->denied.size());
        print_would_deny(result->denied);
      }
    }
    return result->denied.empty() ? kExitOk : kExitNo;
  }

 private:
  AdminOptions options_;
  std::string pubkey_;
  std::string since_ = "7d";
  bool json_ = false;
};

}  // namespace

CommandSpec replay_command() {
  return {.name = "replay",
          .summary = "List what a candidate policy would deny of the recorded exec history",
          .example =
              "  tollgate compile /etc/tollgate/policy.yaml -o /tmp/candidate.db\n"
              "  tollgate replay --db /tmp/candidate.db --since 7d\n",
          .make = [] { return std::make_unique<ReplayCommand>(); }};
}

}  // namespace tollgate::tools
