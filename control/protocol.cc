#include "control/protocol.h"

#include <fmt/core.h>

namespace tollgate::control {

using nlohmann::json;

namespace {

Result<json> object(const json& reply) {
  if (!reply.is_object()) return fail(ErrorCode::kUnavailable, "the daemon's reply is not a JSON object");
  return reply;
}

// A field of the reply, or `fallback` when it is missing or of another type.
template <typename T>
T field(const json& obj, const char* key, T fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if constexpr (std::is_same_v<T, bool>) {
    return it->is_boolean() ? it->get<bool>() : fallback;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return it->is_string() ? it->get<std::string>() : fallback;
  } else if constexpr (std::is_unsigned_v<T>) {
    return it->is_number_unsigned() ? it->get<T>() : fallback;
  } else {
    return it->is_number_integer() ? it->get<T>() : fallback;
  }
}

const json& member(const json& obj, const char* key) {
  static const json empty = json::object();
  auto it = obj.find(key);
  return it != obj.end() && it->is_object() ? *it : empty;
}

}  // namespace

Result<ControlRequest> parse_control_request(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(ErrorCode::kInvalidInput, "request is not a JSON object");
  if (!j.contains("cmd") || !j["cmd"].is_string())
    return fail(ErrorCode::kInvalidInput, "request has no \"cmd\" string");
  const std::string cmd = j["cmd"].get<std::string>();
  ControlRequest r;
  auto text = [&](const char* key, std::string& out) -> Status {
    if (!j.contains(key)) return {};
    if (!j[key].is_string()) return fail(ErrorCode::kInvalidInput, fmt::format("\"{}\" must be a string", key));
    out = j[key].get<std::string>();
    return {};
  };
  if (cmd == "status") r.cmd = ControlRequest::Cmd::kStatus;
  else if (cmd == "reload") r.cmd = ControlRequest::Cmd::kReload;
  else if (cmd == "install" || cmd == "rollback") {
    r.cmd = cmd == "install" ? ControlRequest::Cmd::kInstall : ControlRequest::Cmd::kRollback;
    if (auto st = text(cmd == "install" ? "candidate" : "file", r.path); !st) return std::unexpected(st.error());
    if (cmd == "rollback" && r.path.empty()) return fail(ErrorCode::kInvalidInput, "rollback needs \"file\": PATH");
    if (auto st = text("by", r.by); !st) return std::unexpected(st.error());
  } else if (cmd == "set_mode") {
    r.cmd = ControlRequest::Cmd::kSetMode;
    if (!j.contains("mode") || !j["mode"].is_string())
      return fail(ErrorCode::kInvalidInput, "set_mode needs \"mode\": \"audit\" or \"enforce\"");
    auto mode = policy::parse_mode(j["mode"].get<std::string>());
    if (!mode)
      return fail(ErrorCode::kInvalidInput,
                  "unknown mode '" + j["mode"].get<std::string>() + "'; use audit or enforce");
    r.mode = *mode;
    if (auto st = text("by", r.by); !st) return std::unexpected(st.error());
    if (j.contains("forced")) {
      if (!j["forced"].is_boolean()) return fail(ErrorCode::kInvalidInput, "\"forced\" must be true or false");
      r.forced = j["forced"].get<bool>();
    }
    if (j.contains("for_s")) {
      if (!j["for_s"].is_number_integer() || j["for_s"].get<int64_t>() < 1 ||
          j["for_s"].get<int64_t>() > kMaxTimedAuditSeconds)
        return fail(ErrorCode::kInvalidInput,
                    fmt::format("\"for_s\" must be whole seconds from 1 to {}", kMaxTimedAuditSeconds));
      if (r.mode != policy::Mode::kAudit) return fail(ErrorCode::kInvalidInput, "\"for_s\" applies to audit mode only");
      r.for_s = j["for_s"].get<int64_t>();
    }
  } else if (cmd == "trust_pending" || cmd == "end_pending") {
    r.cmd = cmd == "trust_pending" ? ControlRequest::Cmd::kTrustPending : ControlRequest::Cmd::kEndPending;
    if (auto st = text("by", r.by); !st) return std::unexpected(st.error());
    if (r.cmd == ControlRequest::Cmd::kTrustPending) {
      if (!j.contains("packages")) return fail(ErrorCode::kInvalidInput, "trust_pending needs \"packages\"");
      auto files = policy::pending_files_from_json(j["packages"], "trust_pending");
      if (!files) return std::unexpected(files.error());
      r.pending = std::move(*files);
    }
  } else {
    return fail(ErrorCode::kInvalidInput, "unknown command '" + cmd +
                                              "'; use status, reload, set_mode, install, rollback, trust_pending or "
                                              "end_pending");
  }
  return r;
}

json to_json(const ControlRequest& r) {
  switch (r.cmd) {
    case ControlRequest::Cmd::kStatus: return {{"cmd", "status"}};
    case ControlRequest::Cmd::kReload: return {{"cmd", "reload"}};
    case ControlRequest::Cmd::kSetMode: {
      json j = {{"cmd", "set_mode"}, {"mode", policy::to_string(r.mode)}, {"by", r.by}, {"forced", r.forced}};
      if (r.for_s > 0) j["for_s"] = r.for_s;
      return j;
    }
    case ControlRequest::Cmd::kTrustPending:
      return {{"cmd", "trust_pending"}, {"by", r.by}, {"packages", policy::pending_files_to_json(r.pending)}};
    case ControlRequest::Cmd::kEndPending: return {{"cmd", "end_pending"}, {"by", r.by}};
    case ControlRequest::Cmd::kInstall: return {{"cmd", "install"}, {"candidate", r.path}, {"by", r.by}};
    case ControlRequest::Cmd::kRollback: return {{"cmd", "rollback"}, {"file", r.path}, {"by", r.by}};
  }
  return {{"cmd", "status"}};
}

json control_error(const std::string& message) { return json{{"ok", false}, {"error", message}}; }

json to_json(const GenerationReply& r) {
  return json{{"ok", true}, {"database", r.database}, {"generation", r.generation}};
}

json to_json(const ModeReply& r) { return json{{"ok", true}, {"mode", policy::to_string(r.mode)}}; }

namespace {

json pending_json(const PendingReply& r) {
  return {{"files", r.files}, {"packages", r.packages}, {"expires", r.expires}};
}

json filesystems_json(const std::vector<StatusReply::Filesystem>& filesystems) {
  json out = json::array();
  for (const auto& f : filesystems)
    out.push_back({{"device", f.device},
                   {"fs_type", f.fs_type},
                   {"source", f.source},
                   {"mount_points", f.mount_points},
                   {"network", f.network},
                   {"marked", f.marked},
                   {"error", f.error}});
  return out;
}

json census_json(const StatusReply::Census& c) {
  return {{"enabled", c.enabled},
          {"interval_ms", c.interval_ms},
          {"on_unwatched", c.on_unwatched},
          {"walks", c.walks},
          {"last_walk_us", c.last_walk_us},
          {"processes", c.processes},
          {"findings", c.findings},
          {"exempt", c.exempt},
          {"killed", c.killed},
          {"kill_failed", c.kill_failed}};
}

std::vector<std::string> strings(const json& obj, const char* key) {
  std::vector<std::string> out;
  if (auto it = obj.find(key); it != obj.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

PendingReply pending_fields(const json& obj) {
  return {.added = field(obj, "added", uint64_t{0}),
          .ended = field(obj, "ended", uint64_t{0}),
          .files = field(obj, "files", uint64_t{0}),
          .packages = strings(obj, "packages"),
          .expires = field(obj, "expires", std::string())};
}

std::vector<StatusReply::Filesystem> filesystems_from(const json& reply) {
  std::vector<StatusReply::Filesystem> out;
  auto it = reply.find("filesystems");
  if (it == reply.end() || !it->is_array()) return out;
  for (const auto& f : *it) {
    if (!f.is_object()) continue;
    out.push_back({.device = field(f, "device", std::string()),
                   .fs_type = field(f, "fs_type", std::string()),
                   .source = field(f, "source", std::string()),
                   .mount_points = strings(f, "mount_points"),
                   .network = field(f, "network", false),
                   .marked = field(f, "marked", false),
                   .error = field(f, "error", std::string())});
  }
  return out;
}

std::optional<StatusReply::Census> census_from(const json& reply) {
  auto it = reply.find("census");
  if (it == reply.end() || !it->is_object()) return std::nullopt;
  const json& c = *it;
  auto n = [&](const char* key) { return field(c, key, uint64_t{0}); };
  return StatusReply::Census{.enabled = field(c, "enabled", false),
                             .interval_ms = field(c, "interval_ms", int64_t{0}),
                             .on_unwatched = field(c, "on_unwatched", std::string()),
                             .walks = n("walks"),
                             .last_walk_us = n("last_walk_us"),
                             .processes = n("processes"),
                             .findings = n("findings"),
                             .exempt = n("exempt"),
                             .killed = n("killed"),
                             .kill_failed = n("kill_failed")};
}

}  // namespace

json to_json(const PendingReply& r) {
  json j = pending_json(r);
  j["ok"] = true;
  j["added"] = r.added;
  j["ended"] = r.ended;
  return j;
}

Result<PendingReply> pending_from_json(const json& reply) {
  auto obj = object(reply);
  if (!obj) return std::unexpected(obj.error());
  return pending_fields(reply);
}

json to_json(const StatusReply& s) {
  json db = {{"path", s.database.path}, {"loaded", s.database.loaded}, {"generation", s.database.generation}};
  if (s.database.loaded) {
    const auto& c = s.database.counts;
    db["content_digest"] = s.database.content_digest;
    db["signed"] = s.database.is_signed;
    db["counts"] = {{"hash_allow", c.hash_allow},
                    {"hash_deny", c.hash_deny},
                    {"path_allow", c.path_allow},
                    {"path_deny", c.path_deny},
                    {"signers", c.signers}};
  }
  const auto& i = s.integrity;
  const auto& c = s.counters;
  const auto& m = s.ignore_marks;
  json out{{"ok", true},
           {"version", s.version},
           {"pid", s.pid},
           {"mode", policy::to_string(s.mode.value_or(policy::Mode::kAudit))},
           {"coverage", s.coverage},
           {"uptime_s", s.uptime_s},
           {"health", {{"status", s.health.status}, {"reason", s.health.reason}}},
           {"database", db},
           {"integrity",
            {{"live_database", i.live_database},
             {"state_dir", i.state_dir},
             {"state_usable", i.state_usable},
             {"last_known_good", i.last_known_good},
             {"floor_generation", i.floor_generation},
             {"floor_content_digest", i.floor_content_digest},
             {"public_key_pinned", i.public_key_pinned}}},
           {"watched", s.watched},
           {"pending_trust", pending_json(s.pending_trust)},
           {"audit_until", s.audit_until},
           {"ignore_marks",
            {{"enabled", m.enabled},
             {"reason", m.reason},
             {"flavour", m.flavour},
             {"count", m.count},
             {"max", m.max},
             {"added", m.added},
             {"flushes", m.flushes},
             {"failures", m.failures}}},
           {"latency_us", {{"p50", s.latency_p50_us}, {"p99", s.latency_p99_us}}}};
  json& counters = out["counters"] = json::object();
  for (const auto& [name, member] : kCounterFields) counters[name] = c.*member;
  counters["queue_depth"] = c.queue_depth;
  out["filesystems"] = filesystems_json(s.filesystems);
  if (s.census) out["census"] = census_json(*s.census);
  return out;
}

Result<GenerationReply> generation_from_json(const json& reply) {
  auto obj = object(reply);
  if (!obj) return std::unexpected(obj.error());
  return GenerationReply{.database = field(reply, "database", std::string()),
                         .generation = field(reply, "generation", uint64_t{0})};
}

Result<ModeReply> mode_from_json(const json& reply) {
  auto obj = object(reply);
  if (!obj) return std::unexpected(obj.error());
  return ModeReply{.mode = policy::parse_mode(field(reply, "mode", std::string())).value_or(policy::Mode::kAudit)};
}

Result<StatusReply> status_from_json(const json& reply) {
  auto obj = object(reply);
  if (!obj) return std::unexpected(obj.error());
  StatusReply s;
  s.raw = reply;
  s.version = field(reply, "version", std::string());
  s.pid = field(reply, "pid", int64_t{0});
  s.mode = policy::parse_mode(field(reply, "mode", std::string()));
  s.coverage = field(reply, "coverage", std::string());
  s.uptime_s = field(reply, "uptime_s", int64_t{0});
  const json& health = member(reply, "health");
  s.health = {field(health, "status", std::string()), field(health, "reason", std::string())};
  const json& db = member(reply, "database");
  const json& counts = member(db, "counts");
  s.database = {.path = field(db, "path", std::string()),
                .loaded = field(db, "loaded", false),
                .generation = field(db, "generation", uint64_t{0}),
                .content_digest = field(db, "content_digest", std::string()),
                .is_signed = field(db, "signed", false),
                .counts = {field(counts, "hash_allow", uint64_t{0}), field(counts, "hash_deny", uint64_t{0}),
                           field(counts, "path_allow", uint64_t{0}), field(counts, "path_deny", uint64_t{0}),
                           field(counts, "signers", uint64_t{0})}};
  const json& i = member(reply, "integrity");
  s.integrity = {.live_database = field(i, "live_database", std::string()),
                 .state_dir = field(i, "state_dir", std::string()),
                 .last_known_good = field(i, "last_known_good", std::string()),
                 .state_usable = field(i, "state_usable", false),
                 .floor_generation = field(i, "floor_generation", uint64_t{0}),
                 .floor_content_digest = field(i, "floor_content_digest", std::string()),
                 .public_key_pinned = field(i, "public_key_pinned", false)};
  s.watched = strings(reply, "watched");
  s.filesystems = filesystems_from(reply);
  s.census = census_from(reply);
  s.pending_trust = pending_fields(member(reply, "pending_trust"));
  s.audit_until = field(reply, "audit_until", std::string());
  const json& m = member(reply, "ignore_marks");
  s.ignore_marks = {.enabled = field(m, "enabled", false),
                    .reason = field(m, "reason", std::string()),
                    .flavour = field(m, "flavour", std::string()),
                    .count = field(m, "count", uint64_t{0}),
                    .max = field(m, "max", uint64_t{0}),
                    .added = field(m, "added", uint64_t{0}),
                    .flushes = field(m, "flushes", uint64_t{0}),
                    .failures = field(m, "failures", uint64_t{0})};
  const json& c = member(reply, "counters");
  for (const auto& [name, member] : kCounterFields) s.counters.*member = field(c, name, uint64_t{0});
  s.counters.queue_depth = field(c, "queue_depth", int64_t{0});
  const json& latency = member(reply, "latency_us");
  s.latency_p50_us = field(latency, "p50", uint64_t{0});
  s.latency_p99_us = field(latency, "p99", uint64_t{0});
  return s;
}

}  // namespace tollgate::control
