// Helpers for strict YAML loading shared by the manifest loader and the
// configuration loader: FILE:LINE:COL locations, "did you mean"
// suggestions, and an error list with a cap.
//
//   Diagnostics diag(path);
//   auto root = load_yaml_file(path, diag);            // parse errors land in diag
//   check_keys(*root, {"version", "name"}, diag);      // unknown keys, with suggestions
//   if (!diag.ok()) return diag.to_error();           // all messages, one per line
//
// yaml-cpp throws; every throw is caught inside these helpers and inside the
// loaders that use them, never passed to callers.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace tollgate::policy {

// "FILE:LINE:COL" (1-based) for a node's position.
std::string location(std::string_view file, const YAML::Mark& mark);

// The closest candidate within a small edit distance, if any (the first of
// equally close ones).
std::optional<std::string> closest_match(std::string_view word, std::span<const std::string_view> candidates);
std::optional<std::string> closest_match(std::string_view word, std::initializer_list<std::string_view> candidates);

// Collects "FILE:LINE:COL: message" lines, up to `cap` (further ones are
// counted, not kept).
class Diagnostics {
 public:
  explicit Diagnostics(size_t cap = 50) : cap_(cap) {}
  void add(std::string_view file, const YAML::Mark& mark, std::string_view message);
  void add_plain(std::string message);  // already formatted
  void warn(std::string message) { warnings_.push_back(std::move(message)); }
  bool ok() const { return total_ == 0; }
  size_t count() const { return total_; }
  const std::vector<std::string>& messages() const { return messages_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // One Error (InvalidInput) whose message is every kept line joined by "\n",
  // plus "... and N more errors" past the cap.
  Error to_error() const;

 private:
  size_t cap_;
  size_t total_ = 0;
  std::vector<std::string> messages_;
  std::vector<std::string> warnings_;
};

// Parses a YAML file; syntax errors become one diagnostic with the line and
// column. Returns nullopt when the file cannot be read or parsed.
std::optional<YAML::Node> load_yaml_file(const std::string& path, Diagnostics& diag);
std::optional<YAML::Node> load_yaml_string(const std::string& text, const std::string& name, Diagnostics& diag);

// Reports every key of map `node` not in `allowed`, with a suggestion.
// Returns false when `node` is not a map (also reported).
bool check_keys(const YAML::Node& node, std::string_view file, std::span<const std::string_view> allowed,
                Diagnostics& diag, std::string_view what = "key");
bool check_keys(const YAML::Node& node, std::string_view file, std::initializer_list<std::string_view> allowed,
                Diagnostics& diag, std::string_view what = "key");

// Typed scalar reads that report a wrong type at the node's position.
std::optional<std::string> read_string(const YAML::Node& node, std::string_view file, std::string_view key,
                                       Diagnostics& diag);
std::optional<bool> read_bool(const YAML::Node& node, std::string_view file, std::string_view key, Diagnostics& diag);
std::optional<long long> read_int(const YAML::Node& node, std::string_view file, std::string_view key,
                                  Diagnostics& diag, long long min, long long max);

}  // namespace tollgate::policy
