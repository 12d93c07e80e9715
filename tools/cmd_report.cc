// tollgate report: distinct binaries denied, or that enforce mode would deny,
// from the event log; most frequent first.
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "common/text.h"
#include "tools/admin.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

using json = nlohmann::ordered_json;

json report_json(const eventlog::Report& r, const std::string& log_path, size_t malformed) {
  json out = {{"event_log", log_path},
              {"since", r.since_us ? json(format_rfc3339(*r.since_us)) : json(nullptr)},
              {"decisions", r.decisions},
              {"malformed_lines", malformed},
              {"binaries", json::array()}};
  for (const auto& b : r.binaries) {
    json launchers = json::array(), users = json::array();
    for (const auto& l : b.launchers) launchers.push_back({{"exe", l.exe}, {"count", l.count}});
    for (const auto& u : b.users) users.push_back({{"uid", u.uid}, {"name", u.name}, {"count", u.count}});
    out["binaries"].push_back({{"path", b.path},
                               {"sha256", b.sha256},
                               {"size", b.size},
                               {"count", b.count},
                               {"denied", b.denied},
                               {"would_deny", b.would_deny},
                               {"first_seen", b.first_seen},
                               {"last_seen", b.last_seen},
                               {"rule", b.rule},
                               {"launchers", launchers},
                               {"users", users},
                               {"miner", {{"suspect", b.miner.suspect}, {"reasons", b.miner.reasons}}}});
  }
  return out;
}

void emit_yaml(YAML::Emitter& em, const json& value) {
  if (value.is_object()) {
    em << YAML::BeginMap;
    for (const auto& [k, v] : value.items()) {
      em << YAML::Key << k << YAML::Value;
      emit_yaml(em, v);
    }
    em << YAML::EndMap;
  } else if (value.is_array()) {
    if (value.empty()) em << YAML::Flow;
    em << YAML::BeginSeq;
    for (const auto& v : value) emit_yaml(em, v);
    em << YAML::EndSeq;
  } else if (value.is_string()) {
    em << YAML::DoubleQuoted << value.get<std::string>();
  } else if (value.is_null()) {
    em << YAML::Null;
  } else {
    em << value.dump();
  }
}

void print_human(const eventlog::Report& r, const std::string& log_path) {
  std::string window = r.since_us ? fmt::format("since {}", format_rfc3339(*r.since_us)) : "in the whole log";
  if (r.binaries.empty()) {
    fmt::print("No binary was denied or would have been denied {} ({}).\n", window, log_path);
    return;
  }
  fmt::print("{} binaries denied or would be denied {} ({} decisions, {}):\n", r.binaries.size(), window,
             r.decisions, log_path);
  for (const auto& b : r.binaries) {
    fmt::print("\n{}{}\n", printable(b.path), b.miner.suspect ? "   [LOOKS LIKE A MINER]" : "");
    fmt::print("  sha256    {}\n", b.sha256.empty() ? "(not hashed)" : b.sha256);
    fmt::print("  seen      {} times ({}), first {}, last {}\n", b.count, denial_split(b), b.first_seen, b.last_seen);
    fmt::print("  launched  {}\n", join_launchers(b.launchers));
    fmt::print("  users     {}\n", join_users(b.users));
    if (b.miner.suspect) {
      std::string reasons;
      for (const auto& reason : b.miner.reasons) reasons += (reasons.empty() ? "" : "; ") + reason;
      fmt::print("  miner?    {}\n", printable(reasons));  // reasons quote launcher paths
    }
  }
}

class ReportCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kLogOption);
    app.add_option("--since", since_, "Only events newer than this (30m, 24h, 7d; 'all' for everything)")
        ->capture_default_str();
    auto* json_flag = app.add_flag("--json", json_, "Print JSON");
    app.add_flag("--yaml", yaml_, "Print YAML")->excludes(json_flag);
  }

  int run() override {
    auto settings = resolve_settings(options_);
    if (!settings) return report(settings.error());
    auto since = since_window(since_);
    if (!since) return usage_error(since.error());
    eventlog::ReportBuilder builder({.since_us = *since, .user_name = user_name});
    auto malformed = scan_events(settings->event_log, [&](eventlog::Event&& e) { builder.add(e); });
    if (!malformed) return report(malformed.error());
    auto r = std::move(builder).finish();
    if (json_ || yaml_) {
      json out = report_json(r, settings->event_log, *malformed);
      if (json_) {
        // ASCII-only: a path's bidi or C1 characters arrive as \u escapes.
        fmt::print("{}\n", out.dump(2, ' ', true, json::error_handler_t::replace));
      } else {
        YAML::Emitter em;
        em.SetOutputCharset(YAML::EscapeNonAscii);
        emit_yaml(em, out);
        fmt::print("{}\n", em.c_str());
      }
    } else {
      print_human(r, settings->event_log);
      if (*malformed)
        fmt::print("\n{} malformed lines were skipped (listed on stderr).\n", *malformed);
    }
    return kExitOk;
  }

 private:
  AdminOptions options_;
  std::string since_ = "24h";
  bool json_ = false;
  bool yaml_ = false;
};

}  // namespace

CommandSpec report_command() {
  return {.name = "report",
          .summary = "Binaries denied or that enforce mode would deny, from the event log",
          .example = "  tollgate report --since 7d\n"
                     "  tollgate report --since 24h --json | jq '.binaries[] | select(.miner.suspect)'\n",
          .make = [] { return std::make_unique<ReportCommand>(); }};
}

}  // namespace tollgate::tools
