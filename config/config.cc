#include "config/config.h"

#include <fmt/core.h>
#include <unistd.h>

#include <charconv>
#include <fstream>

#include "common/io.h"
#include "common/time.h"
#include "hashdb/sha256.h"
#include "policy/yaml_util.h"

namespace tollgate::config {
namespace {

using policy::Diagnostics;

// "2147483648", "2G", "2GiB", "512M": bytes, binary multiples.
std::optional<uint64_t> parse_size(std::string_view text) {
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  if (unit.ends_with("iB")) unit.remove_suffix(2);
  static constexpr std::string_view kUnits = "KMGT";
  if (unit.empty()) return n;
  auto shift = kUnits.find(unit);
  if (unit.size() != 1 || shift == std::string_view::npos) return std::nullopt;
  const unsigned bits = 10 * static_cast<unsigned>(shift + 1);
  if (n > (UINT64_MAX >> bits)) return std::nullopt;
  return n << bits;
}

bool is_path_key(std::string_view key) {
  return key == "database" || key == "public_key" || key == "event_log" || key == "socket" || key == "metrics_file" ||
         key == "manifest" || key == "approvals" || key == "signing_key" || key == "state_dir";
}

std::optional<std::vector<std::string>> read_string_list(const YAML::Node& node, const std::string& file,
                                                         std::string_view key, Diagnostics& diag) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
    return out;
  }
  if (!node.IsSequence()) {
    diag.add(file, node.Mark(), "'" + std::string(key) + "' must be a string or a list of strings");
    return std::nullopt;
  }
  bool ok = true;
  for (const auto& item : node) {
    auto s = policy::read_string(item, file, key, diag);
    if (!s) ok = false;
    else out.push_back(*s);
  }
  if (!ok) return std::nullopt;
  return out;
}

void check_absolute(const YAML::Node& node, const std::string& file, std::string_view key, const std::string& value,
                    Diagnostics& diag) {
  if (!value.empty() && value.front() != '/')
    diag.add(file, node.Mark(), "'" + std::string(key) + "' must be an absolute path, got '" + value + "'");
}

constexpr std::string_view kKeys[] = {"mode",
                                      "coverage",
                                      "database",
                                      "public_key",
                                      "watch",
                                      "event_log",
                                      "syslog",
                                      "socket",
                                      "admin_group",
                                      "on_error",
                                      "decision_timeout_ms",
                                      "metrics_file",
                                      "log_allows",
                                      "manifest",
                                      "approvals",
                                      "signing_key",
                                      "must_allow",
                                      "max_file_size",
                                      "state_dir",
                                      "census_interval_ms",
                                      "on_unwatched",
                                      "unwatched_exempt",
                                      "nice",
                                      "max_ignore_marks",
                                      "pending_trust_ttl",
                                      "interpreters",
                                      "script_trust",
                                      "library_readers"};

// The coverage keys (issue 10); false when `key` is not one of them.
bool apply_coverage_key(const std::string& key, const YAML::Node& v, const std::string& file, Config& c,
                        Diagnostics& diag) {
  if (key == "on_unwatched") {
    auto s = policy::read_string(v, file, key, diag);
    if (!s) return true;
    if (*s == "log") c.on_unwatched = OnUnwatched::kLog;
    else if (*s == "kill") c.on_unwatched = OnUnwatched::kKill;
    else diag.add(file, v.Mark(), "'on_unwatched' must be log or kill, got '" + *s + "'");
  } else if (key == "census_interval_ms") {
    auto n = policy::read_int(v, file, key, diag, 0, 3600000);
    if (n && *n != 0 && *n < 100) diag.add(file, v.Mark(), "'census_interval_ms' must be 0 (off) or 100 to 3600000");
    else if (n) c.census_interval_ms = static_cast<int>(*n);
  } else if (key == "unwatched_exempt") {
    auto list = read_string_list(v, file, key, diag);
    if (!list) return true;
    for (const auto& e : *list) {
      if (!e.starts_with("sha256:")) check_absolute(v, file, key, e, diag);
      else if (!hashdb::sha256_from_hex(e.substr(7)))
        diag.add(file, v.Mark(), "'unwatched_exempt' entry '" + e + "' must be sha256: and 64 hex digits");
    }
    c.unwatched_exempt = *list;
  } else {
    return false;
  }
  return true;
}

// `watch`: 'auto', or a non-empty list of absolute paths.
void apply_watch(const YAML::Node& v, const std::string& file, Config& c, Diagnostics& diag) {
  auto list = read_string_list(v, file, "watch", diag);
  if (!list) return;
  if (list->empty()) {
    diag.add(file, v.Mark(), "'watch' must name at least one path, or be 'auto'");
    return;
  }
  bool has_auto = std::find(list->begin(), list->end(), "auto") != list->end();
  if (has_auto && list->size() > 1) {
    diag.add(file, v.Mark(), "'watch' is either 'auto' or a list of paths, not both");
    return;
  }
  if (!has_auto)
    for (const auto& p : *list) check_absolute(v, file, "watch", p, diag);
  c.watch = *list;
}

// One of the absolute-path keys (is_path_key).
void apply_path(const YAML::Node& v, const std::string& file, const std::string& key, Config& c, Diagnostics& diag) {
  auto s = policy::read_string(v, file, key, diag);
  if (!s) return;
  check_absolute(v, file, key, *s, diag);
  if (key == "database") c.database = *s;
  else if (key == "public_key") c.public_key = *s;
  else if (key == "event_log") c.event_log = *s;
  else if (key == "socket") c.socket = *s;
  else if (key == "metrics_file") c.metrics_file = *s;
  else if (key == "manifest") c.manifest = *s;
  else if (key == "approvals") c.approvals = *s;
  else if (key == "signing_key") c.signing_key = *s;
  else if (key == "state_dir") c.state_dir = *s;
}

// 1s to 7d: long enough for the slowest dpkg run, short enough that a
// pending set whose recompile never came does not trust for days.
void apply_ttl(const YAML::Node& v, const std::string& file, Config& c, Diagnostics& diag) {
  auto s = policy::read_string(v, file, "pending_trust_ttl", diag);
  if (!s) return;
  auto d = parse_duration(*s);
  if (d && d->count() >= 1 && *d <= std::chrono::days(7)) c.pending_trust_ttl = *d;
  else diag.add(file, v.Mark(), "'pending_trust_ttl' must be a duration from 1s to 7d (e.g. 30m), got '" + *s + "'");
}

bool is_open_rule_key(std::string_view key) {
  return key == "script_trust" || key == "interpreters" || key == "library_readers";
}

// One of the `coverage: full` keys (is_open_rule_key): policy::OpenRules.
void apply_open_rule(const YAML::Node& v, const std::string& file, const std::string& key, Config& c,
                     Diagnostics& diag) {
  if (key == "script_trust") {
    auto s = policy::read_string(v, file, key, diag);
    if (!s) return;
    if (auto t = policy::parse_script_trust(*s)) c.open_rules.script_trust = *t;
    else diag.add(file, v.Mark(), "'script_trust' must be hash or hash_or_safe_path, got '" + *s + "'");
    return;
  }
  auto list = read_string_list(v, file, key, diag);
  if (!list) return;
  if (std::any_of(list->begin(), list->end(), [](const std::string& p) { return p.empty(); })) {
    diag.add(file, v.Mark(), "'" + key + "' must not contain an empty pattern");
    return;
  }
  (key == "interpreters" ? c.open_rules.interpreters : c.open_rules.library_readers) = *list;
}

void apply(const YAML::Node& root, const std::string& file, Config& c, Diagnostics& diag) {
  if (root.IsNull()) return;  // an empty file: all defaults
  if (!policy::check_keys(root, file, std::span<const std::string_view>(kKeys), diag)) return;
  for (const auto& item : root) {
    const std::string key = item.first.Scalar();
    const YAML::Node& v = item.second;
    if (key == "mode") {
      auto s = policy::read_string(v, file, key, diag);
      if (!s) continue;
      if (auto m = policy::parse_mode(*s)) c.mode = *m;
      else diag.add(file, v.Mark(), "'mode' must be audit or enforce, got '" + *s + "'");
    } else if (key == "coverage") {
      auto s = policy::read_string(v, file, key, diag);
      if (!s) continue;
      if (*s == "exec") c.coverage = Coverage::kExec;
      else if (*s == "full") c.coverage = Coverage::kFull;
      else diag.add(file, v.Mark(), "'coverage' must be exec or full, got '" + *s + "'");
    } else if (is_open_rule_key(key)) {
      apply_open_rule(v, file, key, c, diag);
    } else if (key == "on_error") {
      auto s = policy::read_string(v, file, key, diag);
      if (!s) continue;
      if (*s == "allow") c.on_error = policy::Verdict::kAllow;
      else if (*s == "deny") c.on_error = policy::Verdict::kDeny;
      else diag.add(file, v.Mark(), "'on_error' must be allow or deny, got '" + *s + "'");
    } else if (key == "syslog" || key == "log_allows") {
      auto b = policy::read_bool(v, file, key, diag);
      if (b) (key == "syslog" ? c.syslog : c.log_allows) = *b;
    } else if (key == "max_file_size") {
      auto s = policy::read_string(v, file, key, diag);
      if (!s) continue;
      auto n = parse_size(*s);
      if (n && *n >= (uint64_t{1} << 20) && *n <= (uint64_t{1} << 40)) c.max_file_size = *n;
      else
        diag.add(file, v.Mark(),
                 "'max_file_size' must be a size from 1M to 1T (bytes, or with K, M, G or T), got '" + *s + "'");
    } else if (apply_coverage_key(key, v, file, c, diag)) {
    } else if (key == "decision_timeout_ms") {
      if (auto n = policy::read_int(v, file, key, diag, 10, 60000)) c.decision_timeout_ms = static_cast<int>(*n);
    } else if (key == "pending_trust_ttl") {
      apply_ttl(v, file, c, diag);
    } else if (key == "nice") {
      if (auto n = policy::read_int(v, file, key, diag, -20, 19)) c.nice = static_cast<int>(*n);
    } else if (key == "max_ignore_marks") {
      if (auto n = policy::read_int(v, file, key, diag, 0, 1 << 20)) c.max_ignore_marks = static_cast<uint64_t>(*n);
    } else if (key == "admin_group") {
      if (auto s = policy::read_string(v, file, key, diag)) c.admin_group = *s;
    } else if (key == "watch") {
      apply_watch(v, file, c, diag);
    } else if (key == "must_allow") {
      auto list = read_string_list(v, file, key, diag);
      if (!list) continue;
      for (const auto& p : *list) check_absolute(v, file, key, p, diag);
      c.must_allow = *list;
    } else if (is_path_key(key)) {
      apply_path(v, file, key, c, diag);
    }
  }
  if (c.socket.empty()) diag.add_plain(file + ": 'socket' must not be empty");
  if (c.state_dir.empty()) diag.add_plain(file + ": 'state_dir' must not be empty");
}

}  // namespace

std::string_view to_string(Coverage coverage) { return coverage == Coverage::kExec ? "exec" : "full"; }

std::string_view to_string(OnUnwatched on_unwatched) { return on_unwatched == OnUnwatched::kLog ? "log" : "kill"; }

std::vector<std::string> Config::default_must_allow(const std::vector<std::string>& candidates,
                                                    const std::string& shells_file) {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (p.empty() || ::access(p.c_str(), F_OK) != 0) return;
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  for (const auto& p : candidates) add(p);
  std::ifstream shells(shells_file);
  std::string line;
  while (std::getline(shells, line)) {
    if (line.empty() || line.front() != '/') continue;
    add(line);
  }
  return out;
}

Result<Config> parse_config(const std::string& text, const std::string& name) {
  Diagnostics diag;
  auto root = policy::load_yaml_string(text, name, diag);
  Config c;
  c.path = name;
  if (root) apply(*root, name, c, diag);
  if (!diag.ok()) return std::unexpected(diag.to_error());
  return c;
}

Result<Config> load_config(const std::string& path) {
  auto text = read_file(path, 1u << 20);
  if (!text) return std::unexpected(text.error());
  return parse_config(*text, path);
}

Result<Config> load_config_or_default(const std::string& explicit_path, std::string_view program) {
  if (!explicit_path.empty()) return load_config(explicit_path);
  auto loaded = load_config(kDefaultConfigPath);
  if (loaded || loaded.error().code() != ErrorCode::kNotFound) return loaded;
  fmt::print(stderr, "{}: {} does not exist; using the built-in defaults\n", program, kDefaultConfigPath);
  return Config{};
}

}  // namespace tollgate::config
