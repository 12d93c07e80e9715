#include "eventlog/reader.h"

#include <fcntl.h>
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "common/io.h"
#include "common/time.h"

namespace tollgate::eventlog {
namespace {

using nlohmann::json;

// Reads an optional string field; a present field of another type is an error.
bool get_string(const json& obj, const char* key, std::string& out, std::string& error) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) {
    error = fmt::format("field '{}' must be a string", key);
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool get_int(const json& obj, const char* key, int64_t& out, std::string& error) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_number_integer()) {
    error = fmt::format("field '{}' must be an integer", key);
    return false;
  }
  out = it->get<int64_t>();
  return true;
}

bool get_bool(const json& obj, const char* key, bool& out, std::string& error) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_boolean()) {
    error = fmt::format("field '{}' must be true or false", key);
    return false;
  }
  out = it->get<bool>();
  return true;
}

std::optional<policy::Verdict> parse_verdict(std::string_view text) {
  for (auto v : {policy::Verdict::kAllow, policy::Verdict::kDeny})
    if (policy::to_string(v) == text) return v;
  return std::nullopt;
}

// A mode field of the types that carry one: absent stays unset, anything
// but audit/enforce is an error.
bool get_mode(const std::string& text, const char* key, std::optional<policy::Mode>& out, std::string& error) {
  if (text.empty()) return true;
  out = policy::parse_mode(text);
  if (!out) error = fmt::format("field '{}' must be audit or enforce, got '{}'", key, text);
  return out.has_value();
}

uint64_t get_unsigned_or_zero(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

bool is_sha256_hex(const std::string& text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A scan event's hits, bytes and end, read leniently: the report only needs
// what it can key by sha256 and re-score, and a newer daemon's signal ids
// (unknown here) are skipped rather than failing the line.
std::optional<miner::ContentScan> read_scan(const Event& e, const json& obj) {
  if (!is_sha256_hex(e.sha256)) return std::nullopt;
  miner::ContentScan scan;
  scan.bytes_scanned = get_unsigned_or_zero(obj, "scanned_bytes");
  if (auto end = obj.find("end"); end != obj.end() && end->is_string())
    scan.end = miner::parse_scan_end(end->get<std::string>()).value_or(miner::ScanEnd::kComplete);
  auto hits = obj.find("hits");
  if (hits == obj.end() || !hits->is_array()) return scan;
  for (const auto& h : *hits) {
    if (!h.is_object() || !h.contains("signal") || !h["signal"].is_string()) continue;
    auto signal = miner::signal_from_id(h["signal"].get<std::string>());
    if (!signal || !miner::info(*signal).evidence) continue;
    auto marker = h.find("marker");
    scan.hits.push_back({*signal, marker != h.end() && marker->is_string() ? marker->get<std::string>() : "",
                         get_unsigned_or_zero(h, "offset")});
  }
  return scan;
}

// The typed fields, on the types the schema gives them (docs/events.md);
// other types may use the same names for something else.
bool set_typed_fields(Event& e, const json& obj, std::string& error) {
  std::string mode, decision, event, from, to;
  if (!get_string(obj, "mode", mode, error) || !get_string(obj, "decision", decision, error) ||
      !get_string(obj, "event", event, error) || !get_string(obj, "from", from, error) ||
      !get_string(obj, "to", to, error))
    return false;
  if (e.type == EventType::kDecision) {
    e.decision = parse_verdict(decision);
    if (!e.decision) {
      error = "decision event needs 'decision' allow or deny";
      return false;
    }
    if (e.path.empty()) {
      error = "decision event without 'path'";
      return false;
    }
    if (!event.empty()) {
      auto kind = parse_access_kind(event);
      if (!kind) {
        error = fmt::format("field 'event' must be exec or open, got '{}'", event);
        return false;
      }
      e.event = *kind;
    }
  }
  if (e.type == EventType::kDecision || e.type == EventType::kStart) return get_mode(mode, "mode", e.mode, error);
  if (e.type == EventType::kMode) return get_mode(from, "from", e.from, error) && get_mode(to, "to", e.to, error);
  if (e.type == EventType::kScan) e.scan = read_scan(e, obj);
  return true;
}

}  // namespace

std::string ParseProblem::where() const { return fmt::format("{}:{}", file, line); }

Result<Event> parse_event(std::string_view line) {
  json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return fail(ErrorCode::kInvalidInput, "not valid JSON");
  if (!obj.is_object()) return fail(ErrorCode::kInvalidInput, "not a JSON object");
  Event e;
  std::string error, type;
  if (!get_string(obj, "ts", e.ts, error) || !get_string(obj, "type", type, error) ||
      !get_string(obj, "host", e.host, error) || !get_bool(obj, "would_deny", e.would_deny, error) ||
      !get_string(obj, "rule", e.rule, error) || !get_string(obj, "reason", e.reason, error) ||
      !get_string(obj, "source", e.source, error) || !get_string(obj, "path", e.path, error) ||
      !get_string(obj, "sha256", e.sha256, error) || !get_string(obj, "exe", e.exe, error) ||
      !get_string(obj, "comm", e.comm, error) || !get_int(obj, "pid", e.pid, error) ||
      !get_int(obj, "ppid", e.ppid, error) || !get_int(obj, "uid", e.uid, error) ||
      !get_string(obj, "by", e.by, error) || !get_int(obj, "by_uid", e.by_uid, error) ||
      !get_bool(obj, "forced", e.forced, error))
    return fail(ErrorCode::kInvalidInput, error);
  int64_t size = 0;
  if (!get_int(obj, "size", size, error)) return fail(ErrorCode::kInvalidInput, error);
  if (size < 0) return fail(ErrorCode::kInvalidInput, "field 'size' must not be negative");
  e.size = static_cast<uint64_t>(size);
  int64_t repeated = 0;
  if (!get_int(obj, "repeated", repeated, error)) return fail(ErrorCode::kInvalidInput, error);
  if (obj.contains("repeated") && repeated < 1)
    return fail(ErrorCode::kInvalidInput, "field 'repeated' must be at least 1");
  e.repeated = static_cast<uint64_t>(repeated);
  if (type.empty()) return fail(ErrorCode::kInvalidInput, "missing field 'type'");
  e.type = TypeField(type);
  if (e.ts.empty()) return fail(ErrorCode::kInvalidInput, "missing field 'ts'");
  auto ts = parse_rfc3339_us(e.ts);
  if (!ts) return fail(ErrorCode::kInvalidInput, fmt::format("field 'ts' is not an RFC 3339 time: '{}'", e.ts));
  e.ts_us = *ts;
  if (!set_typed_fields(e, obj, error)) return fail(ErrorCode::kInvalidInput, error);
  e.raw = std::string(line);
  return e;
}

Status scan_event_log(const std::string& path, const std::function<void(Event&&)>& on_event,
                      const std::function<void(ParseProblem&&)>& on_problem) {
  auto fd = open_regular(path, O_RDONLY);  // no symlink, no FIFO to hang on
  if (!fd) return std::unexpected(fd.error());
  std::string pending;
  std::vector<std::byte> buf(1 << 20);
  size_t line_no = 0;
  auto handle = [&](std::string_view line) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;
    auto event = parse_event(line);
    if (!event) {
      on_problem({path, line_no, event.error().message()});
      return;
    }
    event->line = line_no;
    on_event(std::move(*event));
  };
  for (;;) {
    auto n = read_full(fd->get(), buf, path);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    pending.append(reinterpret_cast<const char*>(buf.data()), *n);
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
      handle(std::string_view(pending).substr(start, nl - start));
    pending.erase(0, start);
    if (*n < buf.size()) break;
  }
  if (!pending.empty()) handle(pending);  // a last line without newline (maybe partial)
  return {};
}

Result<ParsedLog> read_event_log(const std::string& path) {
  ParsedLog log;
  auto scanned = scan_event_log(
      path,
      [&](Event&& e) {
        ++log.lines;
        log.events.push_back(std::move(e));
      },
      [&](ParseProblem&& p) {
        ++log.lines;
        log.problems.push_back(std::move(p));
      });
  if (!scanned) return std::unexpected(scanned.error());
  return log;
}

bool EventFilter::matches(const Event& event) const {
  if (since_us && event.ts_us < *since_us) return false;
  if (!types.empty() && !types.contains(event.type.name())) return false;
  if (denied_only && !event.denied_or_would()) return false;
  return true;
}

}  // namespace tollgate::eventlog
