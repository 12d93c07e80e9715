#include "policy/blocklist.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "common/text.h"

namespace tollgate::policy {
namespace {

constexpr size_t kLabelLines = 5;  // "also lines" named in a label; more are counted

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_sha256(std::string_view s) {
  return s.size() == 64 && std::ranges::all_of(s, [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// "'abc…'" for a message: printable and short.
std::string show_value(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string shown = printable(s.substr(0, kMax));
  return "'" + shown + (s.size() > kMax ? "...'" : "'");
}

class Collector {
 public:
  explicit Collector(Blocklist& out) : out_(out) {}
  void add(std::string_view hex, size_t line, std::string_view name) {
    std::string sha = lower(hex);
    if (auto it = index_.find(sha); it != index_.end()) {
      out_.entries[it->second].also_lines.push_back(line);
      ++out_.duplicates;
      return;
    }
    index_.emplace(sha, out_.entries.size());
    out_.entries.push_back({.sha256 = std::move(sha), .line = line, .name = printable(trim(name))});
  }
  void problem(size_t line, std::string message) { out_.problems.push_back({line, std::move(message)}); }

 private:
  Blocklist& out_;
  std::unordered_map<std::string, size_t> index_;
};

void parse_sha256sum_line(std::string_view line, size_t n, Collector& c) {
  // BSD tag form: "SHA256 (NAME) = HEX".
  if (line.starts_with("SHA256 (")) {
    auto eq = line.rfind(") = ");
    if (eq == std::string_view::npos || !is_sha256(trim(line.substr(eq + 4)))) {
      c.problem(n, "expected 'SHA256 (NAME) = <64 hex digits>'");
      return;
    }
    c.add(trim(line.substr(eq + 4)), n, line.substr(8, eq - 8));
    return;
  }
  // GNU form: an escaped name makes the line start with a backslash.
  if (line.starts_with('\\')) line.remove_prefix(1);
  auto end = line.find_first_of(" \t");
  std::string_view hex = line.substr(0, end);
  if (!is_sha256(hex)) {
    c.problem(n, fmt::format("expected a SHA-256 (64 hex digits) at the start of the line, got {}", show_value(hex)));
    return;
  }
  std::string_view name = end == std::string_view::npos ? std::string_view() : line.substr(end);
  while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
  if (name.starts_with('*')) name.remove_prefix(1);  // binary mode
  c.add(hex, n, name);
}

// One CSV record on one line; nullopt on an unterminated quote.
std::optional<std::vector<std::string>> csv_fields(std::string_view line) {
  std::vector<std::string> fields;
  size_t i = 0;
  for (;;) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::string field;
    if (i < line.size() && line[i] == '"') {
      ++i;
      for (;;) {
        if (i >= line.size()) return std::nullopt;
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += line[i++];
      }
      while (i < line.size() && line[i] != ',') ++i;  // after the closing quote: up to the comma
    } else {
      size_t comma = line.find(',', i);
      field = std::string(trim(line.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i)));
      i = comma == std::string_view::npos ? line.size() : comma;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) return fields;
    ++i;  // the comma
  }
}

struct CsvColumns {
  std::optional<size_t> hash, name;
};

// The hash and name columns when `fields` is a header row.
std::optional<CsvColumns> header_columns(const std::vector<std::string>& fields) {
  static constexpr std::string_view kHash[] = {"sha256", "sha256_hash", "sha256hash", "sha-256", "hash"};
  static constexpr std::string_view kName[] = {"signature", "file_name", "filename", "name", "label", "malware"};
  CsvColumns cols;
  for (auto want : kHash)
    for (size_t i = 0; i < fields.size() && !cols.hash; ++i)
      if (lower(trim(fields[i])) == want) cols.hash = i;
  if (!cols.hash) return std::nullopt;
  for (auto want : kName)
    for (size_t i = 0; i < fields.size() && !cols.name; ++i)
      if (lower(trim(fields[i])) == want) cols.name = i;
  return cols;
}

}  // namespace

std::optional<BlocklistFormat> parse_blocklist_format(std::string_view text) {
  if (text == "sha256sum") return BlocklistFormat::kSha256sum;
  if (text == "csv") return BlocklistFormat::kCsv;
  return std::nullopt;
}

Blocklist parse_blocklist(std::string_view text, BlocklistFormat format) {
  Blocklist out;
  Collector c(out);
  std::optional<CsvColumns> columns;
  bool data_seen = false;
  size_t n = 0;
  while (!text.empty()) {
    ++n;
    auto nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    std::string_view line = trim(raw);
    if (line.empty()) continue;
    if (format == BlocklistFormat::kSha256sum) {
      if (!line.starts_with('#')) parse_sha256sum_line(line, n, c);
      continue;
    }
    const bool comment = line.starts_with('#');
    if (comment) line = trim(line.substr(1));
    auto fields = csv_fields(line);
    if (!fields) {
      if (!comment) c.problem(n, "unterminated quoted field");
      continue;
    }
    if (!columns && !data_seen) {
      if (auto header = header_columns(*fields)) {
        columns = header;
        continue;
      }
    }
    if (comment) continue;
    data_seen = true;
    if (columns) {
      if (*columns->hash >= fields->size() || !is_sha256(trim((*fields)[*columns->hash]))) {
        c.problem(n, fmt::format("column {} is not a SHA-256 (64 hex digits): {}", *columns->hash + 1,
                                 show_value(*columns->hash < fields->size() ? (*fields)[*columns->hash] : "")));
        continue;
      }
      c.add(trim((*fields)[*columns->hash]), n,
            columns->name && *columns->name < fields->size() ? (*fields)[*columns->name] : "");
      continue;
    }
    auto hash = std::ranges::find_if(*fields, [](const std::string& f) { return is_sha256(trim(f)); });
    if (hash == fields->end()) {
      c.problem(n, "no field is a SHA-256 (64 hex digits)");
      continue;
    }
    c.add(trim(*hash), n, "");
  }
  return out;
}

std::string blocklist_manifest(const Blocklist& list, const BlocklistManifestOptions& o) {
  auto q = [](std::string_view s) {
    // JSON strings are YAML double-quoted scalars; ASCII-only.
    return nlohmann::json(std::string(s)).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  };
  // A source name with a newline must not end the comment line.
  const std::string source = printable(o.source);
  std::string out = fmt::format("{} from {} ({}) at {}.\n", kBlocklistHeader, source, o.format, o.generated_at);
  out += fmt::format("# {} hashes; {} duplicate lines merged; {} malformed lines skipped.\n", list.entries.size(),
                     list.duplicates, list.problems.size());
  out +=
      "# Re-import to update: this file is replaced whole. Include it from the root manifest;\n"
      "# a hash denied here is denied wherever the file lands (docs/manifest.md, \"Blocklists\").\n";
  out += "version: 1\n";
  if (list.entries.empty()) return out + "deny: []\n";
  out += "deny:\n";
  for (const auto& e : list.entries) {
    std::string label = fmt::format("{}:{}", o.source, e.line);
    if (!e.name.empty()) label += " " + e.name;
    if (!e.also_lines.empty()) {
      std::string lines;
      for (size_t i = 0; i < e.also_lines.size() && i < kLabelLines; ++i)
        lines += (i ? ", " : "") + std::to_string(e.also_lines[i]);
      if (e.also_lines.size() > kLabelLines) lines += fmt::format(" and {} more", e.also_lines.size() - kLabelLines);
      label += fmt::format(" (also line{} {})", e.also_lines.size() > 1 ? "s" : "", lines);
    }
    out += fmt::format("  - sha256: {}\n    label: {}\n", e.sha256, q(label));
  }
  return out;
}

}  // namespace tollgate::policy
