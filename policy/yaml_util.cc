#include "policy/yaml_util.h"

#include <algorithm>
#include <charconv>

#include "common/io.h"

namespace tollgate::policy {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string location(std::string_view file, const YAML::Mark& mark) {
  // yaml-cpp marks are 0-based; -1 when unknown.
  int line = mark.line >= 0 ? mark.line + 1 : 1;
  int col = mark.column >= 0 ? mark.column + 1 : 1;
  return std::string(file) + ":" + std::to_string(line) + ":" + std::to_string(col);
}

std::optional<std::string> closest_match(std::string_view word, std::initializer_list<std::string_view> candidates) {
  return closest_match(word, std::span(candidates.begin(), candidates.size()));
}

std::optional<std::string> closest_match(std::string_view word, std::span<const std::string_view> candidates) {
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (auto candidate : candidates) {
    size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(candidate);
    }
  }
  return best;
}

void Diagnostics::add(std::string_view file, const YAML::Mark& mark, std::string_view message) {
  add_plain(location(file, mark) + ": " + std::string(message));
}

void Diagnostics::add_plain(std::string message) {
  ++total_;
  if (messages_.size() < cap_) messages_.push_back(std::move(message));
}

Error Diagnostics::to_error() const {
  std::string text;
  for (const auto& m : messages_) {
    if (!text.empty()) text += "\n";
    text += m;
  }
  if (total_ > messages_.size()) text += "\n... and " + std::to_string(total_ - messages_.size()) + " more errors";
  return Error(ErrorCode::kInvalidInput, std::move(text));
}

std::optional<YAML::Node> load_yaml_string(const std::string& text, const std::string& name, Diagnostics& diag) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diag.add(name, e.mark, e.msg);
  } catch (const std::exception& e) {
    diag.add_plain(name + ": " + e.what());
  }
  return std::nullopt;
}

std::optional<YAML::Node> load_yaml_file(const std::string& path, Diagnostics& diag) {
  auto text = read_file(path, 16u << 20);
  if (!text) {
    diag.add_plain(text.error().message());
    return std::nullopt;
  }
  return load_yaml_string(*text, path, diag);
}

bool check_keys(const YAML::Node& node, std::string_view file, std::initializer_list<std::string_view> allowed,
                Diagnostics& diag, std::string_view what) {
  return check_keys(node, file, std::span(allowed.begin(), allowed.size()), diag, what);
}

bool check_keys(const YAML::Node& node, std::string_view file, std::span<const std::string_view> allowed,
                Diagnostics& diag, std::string_view what) {
  if (!node.IsMap()) {
    diag.add(file, node.Mark(), "expected a mapping of keys to values");
    return false;
  }
  for (const auto& item : node) {
    std::string key = item.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    std::string message = "unknown " + std::string(what) + " '" + key + "'";
    if (auto hint = closest_match(key, allowed)) message += "; did you mean '" + *hint + "'?";
    diag.add(file, item.first.Mark(), message);
  }
  return true;
}

std::optional<std::string> read_string(const YAML::Node& node, std::string_view file, std::string_view key,
                                       Diagnostics& diag) {
  if (!node.IsScalar()) {
    diag.add(file, node.Mark(), "'" + std::string(key) + "' must be a string");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<bool> read_bool(const YAML::Node& node, std::string_view file, std::string_view key, Diagnostics& diag) {
  if (node.IsScalar()) {
    const std::string& v = node.Scalar();
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
  }
  diag.add(file, node.Mark(), "'" + std::string(key) + "' must be true or false");
  return std::nullopt;
}

std::optional<long long> read_int(const YAML::Node& node, std::string_view file, std::string_view key,
                                  Diagnostics& diag, long long min, long long max) {
  if (node.IsScalar()) {
    const std::string& v = node.Scalar();
    long long out = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec == std::errc() && ptr == v.data() + v.size() && out >= min && out <= max) return out;
  }
  diag.add(
      file, node.Mark(),
      "'" + std::string(key) + "' must be a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  return std::nullopt;
}

}  // namespace tollgate::policy
