#include "eventlog/builders.h"

#include <fmt/core.h>
#include <syslog.h>

#include "common/text.h"
#include "common/time.h"

namespace tollgate::eventlog {

using nlohmann::json;

namespace {

json base(const std::string& host, EventType type) {
  return json{{"ts", format_rfc3339_us(std::chrono::system_clock::now())}, {"host", host}, {"type", to_string(type)}};
}

}  // namespace

json decision_event(const std::string& host, const DecisionRecord& r) {
  const auto& d = r.decision;
  std::string source;
  if (!d.source.file.empty())
    source = d.source.line > 0 ? fmt::format("{}:{}", d.source.file, d.source.line) : d.source.file;
  return json{{"ts", format_rfc3339_us(r.ts)},
              {"host", host},
              {"type", to_string(EventType::kDecision)},
              {"mode", policy::to_string(r.mode)},
              {"decision", policy::to_string(d.verdict)},
              {"would_deny", d.would_deny},
              {"rule", d.rule},
              {"reason", d.reason},
              {"source", source},
              {"path", r.path},
              {"sha256", r.sha256},
              {"size", r.size},
              {"event", to_string(r.event)},
              {"pid", r.process.pid},
              {"ppid", r.process.ppid},
              {"uid", r.process.uid},
              {"exe", r.process.exe},
              {"comm", r.process.comm},
              {"latency_us", r.latency_us}};
}

json start_event(const std::string& host, policy::Mode mode, const std::string& database, uint64_t generation,
                 const std::string& version, const std::string& note, const std::string& degraded) {
  json j = base(host, EventType::kStart);
  j["mode"] = policy::to_string(mode);
  j["database"] = database;
  j["generation"] = generation;
  j["version"] = version;
  if (!note.empty()) j["note"] = note;
  if (!degraded.empty()) j["degraded"] = degraded;
  return j;
}

json reload_event(const std::string& host, bool ok, const std::string& database, uint64_t generation,
                  const std::string& error, const std::string& degraded) {
  json j = base(host, EventType::kReload);
  j["ok"] = ok;
  j["database"] = database;
  j["generation"] = generation;
  j["error"] = error;
  if (!degraded.empty()) j["degraded"] = degraded;
  return j;
}

json policy_change_event(const std::string& host, const PolicyChange& c) {
  json j = base(host, c.type == EventType::kRollback ? EventType::kRollback : EventType::kInstall);
  j["ok"] = c.ok;
  j["database"] = c.database;
  j["file"] = c.file;
  j["from_generation"] = c.from_generation;
  j["to_generation"] = c.to_generation;
  j["by"] = c.by;
  j["by_uid"] = c.by_uid;
  j["error"] = c.error;
  if (!c.degraded.empty()) j["degraded"] = c.degraded;
  return j;
}

json mode_event(const std::string& host, policy::Mode from, policy::Mode to, const std::string& by, bool forced,
                uid_t by_uid, const std::string& until) {
  json j = base(host, EventType::kMode);
  j["from"] = policy::to_string(from);
  j["to"] = policy::to_string(to);
  j["by"] = by;
  j["by_uid"] = by_uid;
  j["forced"] = forced;
  if (!until.empty()) j["until"] = until;
  return j;
}

json pending_trust_event(const std::string& host, const PendingTrustChange& c) {
  json j = base(host, EventType::kPendingTrust);
  j["action"] = c.action;
  j["reason"] = c.reason;
  j["by"] = c.by;
  j["by_uid"] = c.by_uid;
  j["files"] = c.files;
  j["total"] = c.total;
  j["packages"] = c.packages;
  j["expires"] = c.expires;
  return j;
}

json overflow_event(const std::string& host, uint64_t count) {
  json j = base(host, EventType::kOverflow);
  j["count"] = count;
  return j;
}

json read_error_event(const std::string& host, const std::string& error, uint64_t count) {
  json j = base(host, EventType::kReadError);
  j["error"] = error;
  j["count"] = count;
  return j;
}

json scan_event(const std::string& host, const ScanRecord& r) {
  json hits = json::array();
  for (const auto& h : r.scan.hits)
    hits.push_back({{"signal", miner::info(h.signal).id}, {"marker", h.marker}, {"offset", h.offset}});
  json j = base(host, EventType::kScan);
  j["sha256"] = r.sha256;
  j["path"] = r.path;
  j["size"] = r.size;
  j["scanned_bytes"] = r.scan.bytes_scanned;
  j["end"] = miner::to_string(r.scan.end);
  j["hits"] = std::move(hits);
  j["miner"] = json(assessment_json(miner::assess(miner::static_evidence(r.scan.hits), {.path = r.path})));
  return j;
}

json mark_event(const std::string& host, const MarkRecord& r) {
  json j = base(host, EventType::kMark);
  j["device"] = r.device;
  j["fs_type"] = r.fs_type;
  j["source"] = r.source;
  j["mount_points"] = r.mount_points;
  j["trigger"] = r.trigger;
  j["ok"] = r.ok;
  j["hidden"] = r.hidden;
  j["error"] = r.error;
  return j;
}

json finding_fields(const census::ProcessRecord& r) {
  json j = {{"finding", census::to_string(r.finding)},
            {"pid", r.id.pid},
            {"ppid", r.ppid},
            {"uid", r.uid},
            {"user", r.user},
            {"exe", r.exe},
            {"parent_exe", r.parent_exe},
            {"comm", r.comm},
            {"cmdline", r.cmdline},
            {"start_time", format_rfc3339_us(r.start_time_us)},
            {"reason", r.reason},
            {"rule", r.rule},
            {"sha256", r.sha256},
            {"filesystem", r.filesystem}};
  if (!r.exempt.empty()) j["exempt"] = r.exempt;
  if (r.cpu_share) j["cpu_share"] = *r.cpu_share;
  if (r.rss_bytes) j["rss_bytes"] = *r.rss_bytes;
  if (r.miner) j["miner"] = json(assessment_json(*r.miner));
  return j;
}

json finding_event(const std::string& host, const census::ProcessRecord& r, std::string_view action) {
  json j = base(host, EventType::kFinding);
  j.update(finding_fields(r));
  j["action"] = action;
  return j;
}

json kill_event(const std::string& host, const census::ProcessRecord& r, const Status& result) {
  json j = base(host, EventType::kKill);
  j["pid"] = r.id.pid;
  j["finding"] = census::to_string(r.finding);
  j["exe"] = r.exe;
  j["uid"] = r.uid;
  j["signal"] = "SIGKILL";
  j["ok"] = result.has_value();
  j["error"] = result ? std::string() : result.error().message();
  return j;
}

nlohmann::ordered_json assessment_json(const miner::Assessment& a) {
  return nlohmann::ordered_json{{"suspect", a.suspect}, {"score", a.score}, {"reasons", a.reason_lines()}};
}

namespace {

// "scan of /tmp/x (sha256 0123456789ab): suspect miner, score 90: REASON"
std::string scan_summary(const json& e) {
  auto s = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string(); };
  const auto& m = e.contains("miner") && e["miner"].is_object() ? e["miner"] : json::object();
  const auto& reasons = m.contains("reasons") && m["reasons"].is_array() ? m["reasons"] : json::array();
  const std::string first = reasons.empty() || !reasons[0].is_string() ? "" : ": " + reasons[0].get<std::string>();
  return printable(fmt::format("scan of {} (sha256 {}): {}{}{}", s("path"), s("sha256").substr(0, 12),
                               m.value("suspect", false) ? "suspect miner, score " : "score ", m.value("score", 0),
                               first));
}

std::string pending_trust_summary(const json& e) {
  auto s = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string(); };
  std::string packages;
  size_t shown = 0, total = 0;
  if (e.contains("packages") && e["packages"].is_array()) {
    total = e["packages"].size();
    for (const auto& p : e["packages"]) {
      if (!p.is_string() || shown == 5) continue;
      packages += (shown++ ? ", " : "") + p.get<std::string>();
    }
  }
  if (total > shown) packages += fmt::format(" and {} more", total - shown);
  return printable(fmt::format("pending trust {} ({}) by {} (uid {}): {} files{}{}; {} pending{}", s("action"),
                               s("reason"), s("by"), e.value("by_uid", -1), e.value("files", 0),
                               packages.empty() ? "" : " of ", packages, e.value("total", 0),
                               s("expires").empty() ? "" : " until " + s("expires")));
}

}  // namespace

std::string syslog_summary(const json& e) {
  auto s = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string(); };
  std::string type = s("type");
  if (type == "decision") {
    std::string verdict = e.value("would_deny", false) ? "would deny" : s("decision");
    const int64_t repeated =
        e.contains("repeated") && e["repeated"].is_number_integer() ? e["repeated"].get<int64_t>() : 0;
    return printable(fmt::format(
        "{} {} {} by pid {} ({}, uid {}): {}{}", verdict, s("event"), s("path"), e.value("pid", 0), s("comm"),
        e.value("uid", 0), s("rule"),
        repeated > 0 ? fmt::format(" (repeated {} more times within the window)", repeated) : std::string()));
  }
  if (type == "mode")
    return printable(fmt::format("mode {} -> {} by {} (uid {}){}", s("from"), s("to"), s("by"), e.value("by_uid", -1),
                                 s("until").empty() ? "" : " until " + s("until")));
  if (type == "pending_trust") return pending_trust_summary(e);
  if (type == "reload")
    return printable(e.value("ok", false)
                         ? fmt::format("reloaded {} generation {}", s("database"), e.value("generation", 0))
                         : fmt::format("reload refused: {}{}", s("error"),
                                       s("degraded").empty() ? "" : "; DEGRADED: " + s("degraded")));
  if (type == "start")
    return printable(fmt::format("started in {} mode, database {}{}", s("mode"), s("database"),
                                 s("degraded").empty() ? "" : "; DEGRADED: " + s("degraded")));
  if (type == "install" || type == "rollback")
    return printable(
        e.value("ok", false)
            ? fmt::format("{} by {} (uid {}): {} generation {} -> {}", type, s("by"), e.value("by_uid", -1),
                          s("database"), e.value("from_generation", 0), e.value("to_generation", 0))
            : fmt::format("{} by {} (uid {}) refused: {}", type, s("by"), e.value("by_uid", -1), s("error")));
  if (type == "scan") return scan_summary(e);
  if (type == "finding")
    return printable(fmt::format("census: {} pid {} ({}, uid {}): {}{}", s("finding"), e.value("pid", 0), s("exe"),
                                 e.value("uid", 0), s("action"),
                                 s("exempt").empty() ? "" : " (exempt: " + s("exempt") + ")"));
  if (type == "kill")
    return printable(fmt::format("census: {} pid {} ({}, {}){}", e.value("ok", false) ? "killed" : "could not kill",
                                 e.value("pid", 0), s("exe"), s("finding"),
                                 s("error").empty() ? "" : ": " + s("error")));
  if (type == "mark")
    return printable(fmt::format("{} {} ({}, {}{}){}", e.value("ok", false) ? "watching" : "CANNOT watch", s("device"),
                                 s("fs_type"), s("trigger"),
                                 e.value("hidden", false) ? ", hidden under another mount" : "",
                                 s("error").empty() ? "" : ": " + s("error")));
  if (type == "overflow") return fmt::format("kernel queue overflow, {} total", e.value("count", 0));
  if (type == "read_error")
    return fmt::format("fanotify read failed {} times ({}); the kernel denied those events", e.value("count", 0),
                       s("error"));
  return e.dump(-1, ' ', true, json::error_handler_t::replace);
}

int syslog_priority(const json& e) {
  const std::string type = e.value("type", "");
  if (e.contains("degraded") || (type == "mark" && !e.value("ok", true))) return LOG_ERR;
  if (e.value("decision", "") == "deny" || type == "finding" || type == "kill") return LOG_WARNING;
  return LOG_NOTICE;
}

}  // namespace tollgate::eventlog
