// tollgate report: distinct binaries denied, or that enforce mode would deny,
// from the event log; miner suspects first, then most frequent first.
#include <fmt/core.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "common/text.h"
#include "eventlog/builders.h"
#include "eventlog/report.h"
#include "miner/content_scan.h"
#include "tools/admin.h"
#include "tools/command.h"
#include "tools/report_scan.h"

namespace tollgate::tools {
namespace {

using json = nlohmann::ordered_json;

json miner_json(const eventlog::BinaryReport& b) {
  json m = eventlog::assessment_json(b.miner);
  m["scan"] = eventlog::to_string(b.scan);
  if (b.content) {
    m["scan_end"] = miner::to_string(b.content->end);
    m["scanned_bytes"] = b.content->bytes_scanned;
  }
  return m;
}

json report_json(const eventlog::Report& r, const std::string& log_path, size_t malformed,
                 const ReportScanStats& scans) {
  json out = {
      {"event_log", log_path},
      {"since", r.since_us ? json(format_rfc3339(*r.since_us)) : json(nullptr)},
      {"decisions", r.decisions},
      {"malformed_lines", malformed},
      {"content_scans", {{"daemon", scans.from_log}, {"report", scans.scanned_now}, {"none", scans.not_scanned}}},
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
                               {"miner", miner_json(b)}});
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

// "score 90: REASON (SUMMARY, +60)" and one aligned line per further reason.
void print_miner(const eventlog::BinaryReport& b) {
  const auto lines = b.miner.reason_lines();
  if (lines.empty()) return;
  fmt::print("  miner     score {}{}: {}\n", b.miner.score,
             b.miner.suspect ? "" : fmt::format(", below {}", miner::kSuspectScore), printable(lines.front()));
  for (size_t i = 1; i < lines.size(); ++i) fmt::print("            {}\n", printable(lines[i]));
}

void print_human(const eventlog::Report& r, const std::string& log_path, const ReportScanStats& scans, bool scanned) {
  std::string window = r.since_us ? fmt::format("since {}", format_rfc3339(*r.since_us)) : "in the whole log";
  if (r.binaries.empty()) {
    fmt::print("No binary was denied or would have been denied {} ({}).\n", window, log_path);
    return;
  }
  fmt::print("{} binaries denied or would be denied {} ({} decisions, {}):\n", r.binaries.size(), window, r.decisions,
             log_path);
  for (const auto& b : r.binaries) {
    // Reasons quote paths and markers from the log: printable().
    fmt::print(
        "\n{}{}\n", printable(b.path),
        b.miner.suspect ? fmt::format("   [MINER? score {}] {}", b.miner.score, printable(b.miner.strongest())) : "");
    fmt::print("  sha256    {}\n", b.sha256.empty() ? "(not hashed)" : b.sha256);
    fmt::print("  seen      {} times ({}), first {}, last {}\n", b.count, denial_split(b), b.first_seen, b.last_seen);
    fmt::print("  launched  {}\n", join_launchers(b.launchers));
    fmt::print("  users     {}\n", join_users(b.users));
    print_miner(b);
  }
  fmt::print("\nContent scans: {} from tollgated's log, {} by this report{}, {} not scanned.\n", scans.from_log,
             scans.scanned_now, scanned ? " (files still on disk with the logged sha256)" : " (--no-scan)",
             scans.not_scanned);
}

class ReportCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kLogOption);
    app.add_option("--since", since_, "Only events newer than this (30m, 24h, 7d; 'all' for everything)")
        ->capture_default_str();
    app.add_flag("--no-scan", no_scan_,
                 "Do not scan files still on disk that the log has no content scan for (by default at most "
                 "64 MiB each, 512 MiB and 30 s in all)");
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
    const auto scans = no_scan_ ? scan_stats(r) : scan_unscanned(r, {});
    if (json_ || yaml_) {
      json out = report_json(r, settings->event_log, *malformed, scans);
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
      print_human(r, settings->event_log, scans, !no_scan_);
      if (*malformed) fmt::print("\n{} malformed lines were skipped (listed on stderr).\n", *malformed);
    }
    return kExitOk;
  }

 private:
  AdminOptions options_;
  std::string since_ = "24h";
  bool json_ = false;
  bool yaml_ = false;
  bool no_scan_ = false;
};

}  // namespace

CommandSpec report_command() {
  return {.name = "report",
          .summary = "Binaries denied or that enforce mode would deny, from the event log; miner suspects first",
          .example =
              "  tollgate report --since 7d\n"
              "  tollgate report --since 24h --json | jq '.binaries[] | select(.miner.suspect)'\n",
          .make = [] { return std::make_unique<ReportCommand>(); }};
}

}  // namespace tollgate::tools
