// tollgate status: ask tollgated, over its control socket, what it is doing.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "enforcer/config.h"
#include "enforcer/control.h"
#include "tools/command.h"
#include "tools/doctor.h"
#include "tools/status_verdict.h"

namespace tollgate::tools {
namespace {

using nlohmann::json;

class StatusCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("--config", config_, "Configuration file (default /etc/tollgate/tollgate.yaml)");
    app.add_option("--socket", socket_, "Control socket (overrides the config)");
    app.add_flag("--json", json_, "Print the daemon's status object");
    app.footer("Exit status: 0 the daemon answered and is not DEGRADED, 1 it answered and its health is\n"
               "DEGRADED (the reason is the first line), 5 it is not running or did not answer,\n"
               "6 the socket refused us (needs root or the admin group).\n");
  }

  int run() override {
    std::string socket = socket_;
    if (socket.empty()) {
      auto config = enforcer::load_config_or_default(config_, "tollgate");
      if (!config) return report(config.error());
      socket = config->socket;
    }
    auto reply = enforcer::control_request(socket, {{"cmd", "status"}});
    if (!reply) {
      if (reply.error().code() == ErrorCode::kUnavailable)
        fmt::print(stderr, "tollgate: {}; start it with 'systemctl start tollgated'\n", reply.error().message());
      else report(reply.error());
      return exit_code_for(reply.error());
    }
    const json& s = *reply;
    if (s.value("ok", false) != true) {
      std::string error = s.value("error", "the daemon refused the request");
      fmt::print(stderr, "tollgate: {}\n", error);
      return error.starts_with("permission denied") ? kExitPermission : kExitDaemon;
    }
    // The holes `tollgate doctor` would name, from this host's kernel settings.
    const std::string verdict = health_verdict(s, status_holes("/proc", s));
    const int code = is_degraded(verdict) ? kExitNo : kExitOk;
    if (json_) {
      fmt::print("{}\n", s.dump(2));
      return code;
    }
    const json& db = s["database"];
    const json& c = s["counters"];
    fmt::print("{}\n", verdict);
    fmt::print("tollgated {} (pid {}), up {}s\n", s.value("version", "?"), s.value("pid", 0), s.value("uptime_s", 0));
    fmt::print("mode:      {}{}\n", s.value("mode", "?"),
               s.value("mode", "") == "audit" ? " (nothing is denied; would-denies are logged)" : "");
    fmt::print("coverage:  {}\n", s.value("coverage", "?"));
    if (db.value("loaded", false)) {
      const json& n = db["counts"];
      fmt::print("database:  {} generation {}{}\n", db.value("path", ""), db.value("generation", 0),
                 db.value("signed", false) ? ", signed" : ", unsigned");
      fmt::print("           {} hash allow, {} hash deny, {} path allow, {} path deny, {} signers\n",
                 n.value("hash_allow", 0), n.value("hash_deny", 0), n.value("path_allow", 0), n.value("path_deny", 0),
                 n.value("signers", 0));
      fmt::print("           digest {}\n", db.value("content_digest", ""));
    } else {
      fmt::print("database:  NONE loaded ({}); audit mode only\n", db.value("path", ""));
    }
    std::string watched;
    for (const auto& w : s["watched"]) watched += (watched.empty() ? "" : ", ") + w.get<std::string>();
    fmt::print("watching:  {} (and every filesystem mounted below)\n", watched);
    for (const auto& fs : s.value("filesystems", json::array())) {
      std::string where;
      for (const auto& m : fs.value("mount_points", json::array()))
        where += (where.empty() ? "" : ", ") + m.get<std::string>();
      fmt::print("           {} {} at {}{}\n", fs.value("device", "?"), fs.value("fs_type", "?"), where,
                 fs.value("marked", false) ? "" : " NOT MARKED: " + fs.value("error", std::string("?")));
    }
    if (s.contains("census")) {
      const json& census = s["census"];
      if (census.value("enabled", false))
        fmt::print("census:    every {} ms, on_unwatched {}: {} findings, {} killed, last walk {} processes in {} us\n",
                   census.value("interval_ms", 0), census.value("on_unwatched", "?"), census.value("findings", 0),
                   census.value("killed", 0), census.value("processes", 0), census.value("last_walk_us", 0));
      else
        fmt::print("census:    off (census_interval_ms: 0)\n");
    }
    fmt::print("decisions: {} allowed, {} denied, {} would deny, {} errors ({} timeouts)\n", c.value("allowed", 0),
               c.value("denied", 0), c.value("would_deny", 0), c.value("errors", 0), c.value("timeouts", 0));
    fmt::print("cache:     {} hits, {} misses, {} bytes hashed\n", c.value("cache_hits", 0), c.value("cache_misses", 0),
               c.value("hash_bytes", 0));
    fmt::print("latency:   p50 <= {} us, p99 <= {} us\n", s["latency_us"].value("p50", 0), s["latency_us"].value("p99", 0));
    if (c.value("overflows", 0) || c.value("log_dropped", 0))
      fmt::print("WARNING:   {} kernel queue overflows, {} event log lines dropped\n", c.value("overflows", 0),
                 c.value("log_dropped", 0));
    return code;
  }

 private:
  std::string config_;
  std::string socket_;
  bool json_ = false;
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
