// tollgate status: ask tollgated, over its control socket, what it is doing.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "control/client.h"
#include "tools/command.h"
#include "tools/doctor.h"
#include "tools/status_verdict.h"

namespace tollgate::tools {
namespace {

class StatusCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("--config", config_, "Configuration file (default /etc/tollgate/tollgate.yaml)");
    app.add_option("--socket", socket_, "Control socket (overrides the config)");
    app.add_flag("--json", json_, "Print the daemon's status object");
    app.footer(
        "Exit status: 0 the daemon answered and is not DEGRADED, 1 it answered and its health is\n"
        "DEGRADED (the reason is the first line), 5 it is not running or did not answer,\n"
        "6 the socket refused us (needs root or the admin group).\n");
  }

  // The socket: --socket, else the config's (the file is not read at all
  // when --socket is given).
  int prepare() override {
    if (!socket_.empty()) {
      settings_.socket = socket_;
      return kExitOk;
    }
    auto config = config::load_config_or_default(config_, "tollgate");
    if (!config) return report(config.error());
    settings_ = std::move(*config);
    return kExitOk;
  }
  const config::Config* settings() const override { return &settings_; }

  int run() override {
    // main.cc saw the daemon listening (needs_daemon); it may still not answer.
    auto answer = control::Client(settings_.socket).status();
    if (!answer) {
      if (answer.error().code() == ErrorCode::kUnavailable)
        fmt::print(stderr, "tollgate: {}; start it with 'systemctl start tollgated'\n", answer.error().message());
      else report(answer.error());
      return exit_code_for(answer.error());
    }
    if (!*answer) {
      const control::Refusal& refusal = answer->error();
      fmt::print(stderr, "tollgate: {}\n", refusal.reason);
      return refusal.permission_denied() ? kExitPermission : kExitDaemon;
    }
    const control::StatusReply& s = **answer;
    // The holes `tollgate doctor` would name, from this host's kernel settings.
    const std::string verdict = health_verdict(s.raw, status_holes("/proc", s));
    const int code = is_degraded(verdict) ? kExitNo : kExitOk;
    if (json_) {
      fmt::print("{}\n", s.raw.dump(2));
      return code;
    }
    const auto& db = s.database;
    const auto& c = s.counters;
    const std::string mode = s.mode ? std::string(policy::to_string(*s.mode)) : "?";
    fmt::print("{}\n", verdict);
    fmt::print("tollgated {} (pid {}), up {}s\n", s.version.empty() ? "?" : s.version, s.pid, s.uptime_s);
    fmt::print("mode:      {}{}\n", mode, mode == "audit" ? " (nothing is denied; would-denies are logged)" : "");
    if (!s.audit_until.empty()) fmt::print("           timed: back to enforce at {}\n", s.audit_until);
    if (const auto& p = s.pending_trust; p.files > 0) {
      std::string names;
      for (size_t i = 0; i < p.packages.size() && i < 5; ++i) names += (i ? ", " : "") + p.packages[i];
      if (p.packages.size() > 5) names += fmt::format(" and {} more", p.packages.size() - 5);
      fmt::print("pending:   {} files of {} packages trusted until {} or the recompile ({})\n", p.files,
                 p.packages.size(), p.expires, names);
    }
    fmt::print("coverage:  {}\n", s.coverage.empty() ? "?" : s.coverage);
    if (db.loaded) {
      const auto& n = db.counts;
      fmt::print("database:  {} generation {}{}\n", db.path, db.generation, db.is_signed ? ", signed" : ", unsigned");
      fmt::print("           {} hash allow, {} hash deny, {} path allow, {} path deny, {} signers\n", n.hash_allow,
                 n.hash_deny, n.path_allow, n.path_deny, n.signers);
      fmt::print("           digest {}\n", db.content_digest);
    } else {
      fmt::print("database:  NONE loaded ({}); audit mode only\n", db.path);
    }
    std::string watched;
    for (const auto& w : s.watched) watched += (watched.empty() ? "" : ", ") + w;
    fmt::print("watching:  {} (and every filesystem mounted below)\n", watched);
    for (const auto& fs : s.filesystems) {
      std::string where;
      for (const auto& m : fs.mount_points) where += (where.empty() ? "" : ", ") + m;
      fmt::print("           {} {} at {}{}\n", fs.device, fs.fs_type, where,
                 fs.marked ? "" : " NOT MARKED: " + (fs.error.empty() ? std::string("?") : fs.error));
    }
    if (s.census && s.census->enabled)
      fmt::print("census:    every {} ms, on_unwatched {}: {} findings, {} killed, last walk {} processes in {} us\n",
                 s.census->interval_ms, s.census->on_unwatched, s.census->findings, s.census->killed,
                 s.census->processes, s.census->last_walk_us);
    else if (s.census) fmt::print("census:    off (census_interval_ms: 0)\n");
    fmt::print("decisions: {} allowed, {} denied, {} would deny, {} errors ({} timeouts)\n", c.allowed, c.denied,
               c.would_deny, c.errors, c.timeouts);
    fmt::print("cache:     {} hits, {} misses, {} bytes hashed\n", c.cache_hits, c.cache_misses, c.hash_bytes);
    fmt::print("latency:   p50 <= {} us, p99 <= {} us\n", s.latency_p50_us, s.latency_p99_us);
    if (c.overflows || c.log_dropped)
      fmt::print("WARNING:   {} kernel queue overflows, {} event log lines dropped\n", c.overflows, c.log_dropped);
    return code;
  }

 private:
  std::string config_;
  std::string socket_;
  bool json_ = false;
  config::Config settings_;
};

}  // namespace

CommandSpec status_command() {
  return {.name = "status",
          .summary = "Show what tollgated is doing (mode, policy, counters)",
          .example = "  tollgate status\n  tollgate status --json --socket /run/tollgate/tollgate.sock\n",
          .needs_daemon = true,
          .make = [] { return std::make_unique<StatusCommand>(); }};
}

}  // namespace tollgate::tools
