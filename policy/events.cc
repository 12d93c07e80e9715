#include "policy/events.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "common/io.h"
#include "common/time.h"

#include <fcntl.h>
#include <sys/stat.h>

namespace tollgate::policy {
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

}  // namespace

std::string ParseProblem::where() const { return fmt::format("{}:{}", file, line); }

Result<Event> parse_event(std::string_view line) {
  json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) return fail(ErrorCode::kInvalidInput, "not valid JSON");
  if (!obj.is_object()) return fail(ErrorCode::kInvalidInput, "not a JSON object");
  Event e;
  std::string error;
  if (!get_string(obj, "ts", e.ts, error) || !get_string(obj, "type", e.type, error) ||
      !get_string(obj, "host", e.host, error) || !get_string(obj, "mode", e.mode, error) ||
      !get_string(obj, "decision", e.decision, error) || !get_bool(obj, "would_deny", e.would_deny, error) ||
      !get_string(obj, "rule", e.rule, error) || !get_string(obj, "reason", e.reason, error) ||
      !get_string(obj, "source", e.source, error) || !get_string(obj, "path", e.path, error) ||
      !get_string(obj, "sha256", e.sha256, error) || !get_string(obj, "event", e.event, error) ||
      !get_string(obj, "exe", e.exe, error) || !get_string(obj, "comm", e.comm, error) ||
      !get_int(obj, "pid", e.pid, error) || !get_int(obj, "ppid", e.ppid, error) ||
      !get_int(obj, "uid", e.uid, error) || !get_string(obj, "from", e.from, error) ||
      !get_string(obj, "to", e.to, error) || !get_string(obj, "by", e.by, error) ||
      !get_int(obj, "by_uid", e.by_uid, error) ||
      !get_bool(obj, "forced", e.forced, error))
    return fail(ErrorCode::kInvalidInput, error);
  int64_t size = 0;
  if (!get_int(obj, "size", size, error)) return fail(ErrorCode::kInvalidInput, error);
  if (size < 0) return fail(ErrorCode::kInvalidInput, "field 'size' must not be negative");
  e.size = static_cast<uint64_t>(size);
  if (e.type.empty()) return fail(ErrorCode::kInvalidInput, "missing field 'type'");
  if (e.ts.empty()) return fail(ErrorCode::kInvalidInput, "missing field 'ts'");
  auto ts = parse_rfc3339_us(e.ts);
  if (!ts) return fail(ErrorCode::kInvalidInput, fmt::format("field 'ts' is not an RFC 3339 time: '{}'", e.ts));
  e.ts_us = *ts;
  if (e.type == "decision") {
    if (e.decision != "allow" && e.decision != "deny")
      return fail(ErrorCode::kInvalidInput, "decision event needs 'decision' allow or deny");
    if (e.path.empty()) return fail(ErrorCode::kInvalidInput, "decision event without 'path'");
  }
  e.raw = std::string(line);
  return e;
}

void parse_event_lines(std::string_view text, std::string_view file_name, EventLog& out, size_t first_line) {
  size_t line_no = first_line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t this_line = line_no++;
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    ++out.lines;
    auto event = parse_event(line);
    if (!event) {
      out.problems.push_back({std::string(file_name), this_line, event.error().message()});
      continue;
    }
    event->line = this_line;
    out.events.push_back(std::move(*event));
  }
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

Result<EventLog> read_event_log(const std::string& path) {
  EventLog log;
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
  if (!types.empty() && !types.contains(event.type)) return false;
  if (denied_only && !event.denied_or_would()) return false;
  return true;
}

}  // namespace tollgate::policy
