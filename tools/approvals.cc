#include "tools/approvals.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/io.h"
#include "common/text.h"

namespace tollgate::tools {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }
bool comment(const std::string& line) {
  size_t p = line.find_first_not_of(" \t");
  return p != std::string::npos && line[p] == '#';
}
size_t indent_of(const std::string& line) {
  size_t p = line.find_first_not_of(' ');
  return p == std::string::npos ? line.size() : p;
}

// Line index (0-based) of the top-level `allow:` key, if any.
std::optional<size_t> allow_key_line(const std::vector<std::string>& lines) {
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].starts_with("allow:")) return i;
  }
  return std::nullopt;
}

}  // namespace

std::string yaml_quote(const std::string& value) {
  // A JSON string is a YAML double-quoted scalar. Text with controls, bidi or
  // invalid UTF-8 goes ASCII-only (\uNNNN), so what the reviewer sees in the
  // manifest is what the compiler reads.
  return nlohmann::json(value).dump(-1, ' ', has_unsafe_chars(value), nlohmann::json::error_handler_t::replace);
}

std::string render_approval(const Approval& a, size_t indent) {
  std::string pad(indent, ' ');
  std::string out;
  for (const auto& c : a.comments) out += pad + "# " + printable(c) + "\n";
  std::vector<std::pair<std::string, std::string>> fields = {{"sha256", a.sha256}};
  if (!a.origin.empty()) fields.emplace_back("origin", yaml_quote(a.origin));
  fields.emplace_back("label", yaml_quote(a.label));
  if (!a.ticket.empty()) fields.emplace_back("ticket", yaml_quote(a.ticket));
  if (!a.expires.empty()) fields.emplace_back("expires", a.expires);
  fields.emplace_back("approved_by", yaml_quote(a.approved_by));
  fields.emplace_back("approved_at", a.approved_at);
  std::string prefix = a.commented_out ? pad + "# " : pad;
  for (size_t i = 0; i < fields.size(); ++i)
    out += prefix + (i == 0 ? "- " : "  ") + fields[i].first + ": " + fields[i].second + "\n";
  return out;
}

std::string new_approvals_text() {
  return "# Approvals written by `tollgate approve` and removed by `tollgate revoke`.\n"
         "# Each entry pins a SHA-256: a later change to the file is not approved.\n"
         "version: 1\n"
         "name: approvals\n"
         "allow:\n";
}

Result<ApprovalsDoc> parse_approvals(const std::string& text, const std::string& file) {
  ApprovalsDoc doc;
  doc.text = text;
  doc.exists = true;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::kInvalidInput, fmt::format("{}:{}:{}: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsDefined() || root.IsNull()) return doc;
  if (!root.IsMap()) return fail(ErrorCode::kInvalidInput, file + ":1: the approvals manifest must be a mapping");
  YAML::Node allow = root["allow"];
  if (!allow || allow.IsNull()) return doc;
  if (!allow.IsSequence())
    return fail(ErrorCode::kInvalidInput, fmt::format("{}:{}: 'allow' must be a list", file, allow.Mark().line + 1));
  auto lines = split_lines(text);
  if (allow.size() > 0 && allow.Style() == YAML::EmitterStyle::Flow)
    return fail(ErrorCode::kInvalidInput,
                fmt::format("{}:{}: 'allow' is a [flow] list; write it as a block list (- entries) so tollgate can "
                            "edit it",
                            file, allow.Mark().line + 1));
  auto key_line = allow_key_line(lines);
  size_t floor = key_line ? *key_line + 1 : 0;  // comments above this belong to the key
  for (const auto& item : allow) {
    if (!item.IsMap() || !item["sha256"] || !item["sha256"].IsScalar())
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}:{}: an approvals entry needs 'sha256'", file, item.Mark().line + 1));
    ApprovalEntry e;
    e.sha256 = item["sha256"].as<std::string>();
    if (item["origin"] && item["origin"].IsScalar()) e.origin = item["origin"].as<std::string>();
    if (item["label"] && item["label"].IsScalar()) e.label = item["label"].as<std::string>();
    size_t idx = static_cast<size_t>(item.Mark().line);  // 0-based line of the first key
    e.line = idx + 1;
    size_t first = idx;
    while (first > floor && comment(lines[first - 1])) --first;
    e.first_line = first + 1;
    doc.entries.push_back(e);
    floor = idx + 1;
  }
  for (size_t i = 0; i < doc.entries.size(); ++i) {
    size_t idx = doc.entries[i].line - 1;
    size_t last;  // 0-based
    if (i + 1 < doc.entries.size()) {
      last = doc.entries[i + 1].first_line - 2;
    } else {
      size_t dash = lines[idx].find('-');
      if (dash == std::string::npos) dash = indent_of(lines[idx]);
      last = idx;
      for (size_t j = idx + 1; j < lines.size(); ++j) {
        if (blank(lines[j]) || comment(lines[j]) || indent_of(lines[j]) > dash) last = j;
        else break;
      }
    }
    while (last > idx && (blank(lines[last]) || comment(lines[last]))) --last;
    doc.entries[i].last_line = last + 1;
  }
  return doc;
}

Result<ApprovalsDoc> read_approvals(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ApprovalsDoc{};
    return fail_errno(errno, path, "cannot stat");
  }
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  return parse_approvals(*text, path);
}

Result<std::string> add_approvals(const std::string& text, const std::vector<Approval>& approvals,
                                  const std::string& file) {
  std::string base = text;
  if (base.find_first_not_of(" \t\r\n") == std::string::npos) base = new_approvals_text();
  if (!base.empty() && base.back() != '\n') base += '\n';
  auto doc = parse_approvals(base, file);
  if (!doc) return std::unexpected(doc.error());
  auto lines = split_lines(base);
  size_t indent = 2;
  size_t insert_at;  // 0-based index to insert before
  if (!doc->entries.empty()) {
    const auto& last = doc->entries.back();
    size_t dash = lines[last.line - 1].find('-');
    if (dash != std::string::npos) indent = dash;
    insert_at = last.last_line;
  } else if (auto key = allow_key_line(lines)) {
    // "allow:" or "allow: []" with nothing in it.
    lines[*key] = "allow:";
    insert_at = *key + 1;
  } else {
    lines.push_back("allow:");
    insert_at = lines.size();
  }
  std::vector<std::string> added;
  for (const auto& a : approvals) {
    auto rendered = split_lines(render_approval(a, indent));
    added.insert(added.end(), rendered.begin(), rendered.end());
  }
  lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(insert_at), added.begin(), added.end());
  return join_lines(lines);
}

std::string remove_approvals(const std::string& text, const std::vector<ApprovalEntry>& remove) {
  auto lines = split_lines(text);
  std::vector<bool> drop(lines.size(), false);
  for (const auto& e : remove)
    for (size_t l = e.first_line; l <= e.last_line && l <= lines.size(); ++l) drop[l - 1] = true;
  std::vector<std::string> kept;
  for (size_t i = 0; i < lines.size(); ++i)
    if (!drop[i]) kept.push_back(lines[i]);
  return join_lines(kept);
}

Status write_approvals(const std::string& path, const std::string& text) {
  mode_t mode = 0644;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  return write_file_atomic(path, text, mode);
}

Result<ApprovalsLock> ApprovalsLock::acquire(const std::string& approvals_path, int timeout_seconds) {
  std::string lock_path = approvals_path + ".lock";
  auto fd = open_fd(lock_path, O_RDWR | O_CREAT, 0600);
  if (!fd) return std::unexpected(fd.error());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  for (;;) {
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) == 0) return ApprovalsLock(std::move(*fd));
    if (errno != EWOULDBLOCK && errno != EINTR) return fail_errno(errno, lock_path, "cannot lock");
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(ErrorCode::kUnavailable,
                  fmt::format("{}: another tollgate approve/revoke/mode has held the lock for {}s; try again",
                              lock_path, timeout_seconds));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace tollgate::tools
