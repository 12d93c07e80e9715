#include "tools/status_verdict.h"

#include <fmt/core.h>

namespace tollgate::tools {

bool is_degraded(const std::string& verdict) { return verdict.starts_with("health: DEGRADED"); }

namespace {

std::string verdict(const nlohmann::json& s) {
  const auto empty = nlohmann::json::object();
  const auto& db = s.contains("database") && s["database"].is_object() ? s["database"] : empty;
  const auto& c = s.contains("counters") && s["counters"].is_object() ? s["counters"] : empty;
  auto n = [&](const char* key) { return c.value(key, uint64_t{0}); };
  std::string mode = s.value("mode", "?");
  // The daemon's own finding about the policy in force comes first.
  if (s.contains("health") && s["health"].is_object() && s["health"].value("status", "") == "DEGRADED")
    return "health: DEGRADED: " + s["health"].value("reason", std::string("(no reason given)"));
  if (!db.value("loaded", false))
    return "health: DEGRADED: no policy database is loaded, so nothing can be enforced; run 'tollgate compile' "
           "and 'systemctl reload tollgated'";
  if (n("overflows"))
    return fmt::format("health: DEGRADED: the kernel queue overflowed {} times, events were lost", n("overflows"));
  if (n("log_dropped"))
    return fmt::format("health: DEGRADED: {} event-log lines were dropped (is the log's disk full?)", n("log_dropped"));
  if (s.contains("filesystems") && s["filesystems"].is_array()) {
    for (const auto& fs : s["filesystems"]) {
      if (!fs.is_object() || fs.value("marked", true)) continue;
      const auto points = fs.value("mount_points", nlohmann::json::array());
      return fmt::format("health: WARNING: tollgated cannot watch {} ({}) at {}: {}", fs.value("device", "?"),
                         fs.value("fs_type", "?"), points.empty() ? "?" : points[0].get<std::string>(),
                         fs.value("error", "?"));
    }
  }
  if (n("errors") || n("timeouts"))
    return fmt::format("health: WARNING: {} decisions were answered by on_error ({} timeouts)", n("errors"),
                       n("timeouts"));
  if (mode == "audit") {
    if (n("would_deny"))
      return fmt::format("health: OK (audit): {} would-denies logged; review them with 'tollgate report'",
                         n("would_deny"));
    return "health: OK (audit): nothing would have been denied so far";
  }
  return fmt::format("health: OK: enforcing generation {}, {} denied", db.value("generation", uint64_t{0}),
                     n("denied"));
}

}  // namespace

std::string health_verdict(const nlohmann::json& s, const std::vector<std::string>& holes) {
  std::string out = verdict(s);
  if (holes.empty()) return out;
  std::string names;
  for (const auto& h : holes) names += (names.empty() ? "" : ", ") + h;
  return fmt::format("{}; {} hole{} open ({}): run tollgate doctor", out, holes.size(), holes.size() == 1 ? "" : "s",
                     names);
}

}  // namespace tollgate::tools
