#include "policy/policy_diff.h"

#include <fmt/core.h>

#include <algorithm>
#include <tuple>

#include "hashdb/store.h"

namespace tollgate::policy {
namespace {

using nlohmann::json;

auto hash_key(const hashdb::HashRule& r) { return std::tie(r.sha256, r.action); }
auto path_key(const hashdb::PathRule& r) { return std::tie(r.path, r.match, r.action); }
auto signer_key(const hashdb::Signer& r) { return std::tie(r.key_id); }

// Merge of two key-sorted lists into added / removed / changed.
template <typename T, typename KeyFn>
void merge(std::vector<T> a, std::vector<T> b, KeyFn key, std::vector<T>& added, std::vector<T>& removed,
           std::vector<T>& changed) {
  auto less = [&](const T& x, const T& y) { return key(x) < key(y); };
  std::sort(a.begin(), a.end(), less);
  std::sort(b.begin(), b.end(), less);
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && less(a[i], b[j]))) {
      removed.push_back(std::move(a[i++]));
    } else if (i == a.size() || less(b[j], a[i])) {
      added.push_back(std::move(b[j++]));
    } else {
      if (!(a[i] == b[j])) changed.push_back(std::move(b[j]));
      ++i;
      ++j;
    }
  }
}

std::string source_text(const hashdb::Source& s) {
  if (s.file.empty()) return "-";
  return s.line > 0 ? fmt::format("{}:{}", s.file, s.line) : s.file;
}

json hash_json(const hashdb::HashRule& r) {
  return {{"sha256", hashdb::to_hex(r.sha256)}, {"action", hashdb::to_string(r.action)}, {"label", r.label},
          {"origin_path", r.origin_path},       {"source", source_text(r.source)},       {"approved_by", r.approved_by},
          {"approved_at", r.approved_at}};
}
json path_json(const hashdb::PathRule& r) {
  return {{"path", r.path},
          {"match", hashdb::to_string(r.match)},
          {"action", hashdb::to_string(r.action)},
          {"label", r.label},
          {"source", source_text(r.source)}};
}
json signer_json(const hashdb::Signer& r) {
  return {{"key_id", hashdb::to_hex(r.key_id)}, {"label", r.label}, {"source", source_text(r.source)}};
}

template <typename T, typename Fn>
json list_json(const std::vector<T>& v, Fn fn) {
  json out = json::array();
  for (const auto& x : v) out.push_back(fn(x));
  return out;
}

std::string hash_text(char sign, const hashdb::HashRule& r) {
  return fmt::format("{} hash {:<5} {} {} {}\n", sign, hashdb::to_string(r.action), hashdb::to_hex(r.sha256),
                     r.origin_path.empty() ? "-" : r.origin_path, r.label.empty() ? "-" : r.label);
}
std::string path_text(char sign, const hashdb::PathRule& r) {
  return fmt::format("{} path {:<5} {:<6} {} {}\n", sign, hashdb::to_string(r.action), hashdb::to_string(r.match),
                     r.path, r.label.empty() ? "-" : r.label);
}
std::string signer_text(char sign, const hashdb::Signer& r) {
  return fmt::format("{} signer {} {}\n", sign, hashdb::to_hex(r.key_id), r.label.empty() ? "-" : r.label);
}

}  // namespace

bool PolicyDiff::empty() const {
  return hash_added.empty() && hash_removed.empty() && hash_changed.empty() && path_added.empty() &&
         path_removed.empty() && path_changed.empty() && signer_added.empty() && signer_removed.empty() &&
         signer_changed.empty();
}

json PolicyDiff::to_json() const {
  return {{"old", {{"path", old_path}, {"generation", old_generation}}},
          {"new", {{"path", new_path}, {"generation", new_generation}}},
          {"identical", empty()},
          {"hash_rules",
           {{"added", list_json(hash_added, hash_json)},
            {"removed", list_json(hash_removed, hash_json)},
            {"changed", list_json(hash_changed, hash_json)}}},
          {"path_rules",
           {{"added", list_json(path_added, path_json)},
            {"removed", list_json(path_removed, path_json)},
            {"changed", list_json(path_changed, path_json)}}},
          {"signers",
           {{"added", list_json(signer_added, signer_json)},
            {"removed", list_json(signer_removed, signer_json)},
            {"changed", list_json(signer_changed, signer_json)}}}};
}

std::string PolicyDiff::to_text() const {
  std::string out = fmt::format("--- {} (generation {})\n+++ {} (generation {})\n", old_path, old_generation, new_path,
                                new_generation);
  for (const auto& r : hash_removed) out += hash_text('-', r);
  for (const auto& r : hash_added) out += hash_text('+', r);
  for (const auto& r : hash_changed) out += hash_text('~', r);
  for (const auto& r : path_removed) out += path_text('-', r);
  for (const auto& r : path_added) out += path_text('+', r);
  for (const auto& r : path_changed) out += path_text('~', r);
  for (const auto& r : signer_removed) out += signer_text('-', r);
  for (const auto& r : signer_added) out += signer_text('+', r);
  for (const auto& r : signer_changed) out += signer_text('~', r);
  out += fmt::format("hash rules: +{} -{} ~{}; path rules: +{} -{} ~{}; signers: +{} -{} ~{}\n", hash_added.size(),
                     hash_removed.size(), hash_changed.size(), path_added.size(), path_removed.size(),
                     path_changed.size(), signer_added.size(), signer_removed.size(), signer_changed.size());
  return out;
}

Result<PolicyRules> read_policy_rules(const std::string& path) {
  auto store = hashdb::PolicyStore::open(path);
  if (!store) return std::unexpected(store.error());
  PolicyRules out{.path = path, .generation = (*store)->generation()};
  auto st = (*store)->for_each_hash_rule([&](const hashdb::HashRule& r) { out.hash_rules.push_back(r); });
  if (!st) return std::unexpected(st.error());
  out.path_rules = (*store)->path_rules();
  out.signers = (*store)->signers();
  return out;
}

PolicyDiff diff_rules(PolicyRules a, PolicyRules b) {
  PolicyDiff d;
  d.old_path = std::move(a.path);
  d.new_path = std::move(b.path);
  d.old_generation = a.generation;
  d.new_generation = b.generation;
  merge(std::move(a.hash_rules), std::move(b.hash_rules), hash_key, d.hash_added, d.hash_removed, d.hash_changed);
  merge(std::move(a.path_rules), std::move(b.path_rules), path_key, d.path_added, d.path_removed, d.path_changed);
  merge(std::move(a.signers), std::move(b.signers), signer_key, d.signer_added, d.signer_removed, d.signer_changed);
  return d;
}

Result<PolicyDiff> diff_policies(const std::string& old_path, const std::string& new_path) {
  auto a = read_policy_rules(old_path);
  if (!a) return std::unexpected(a.error());
  auto b = read_policy_rules(new_path);
  if (!b) return std::unexpected(b.error());
  return diff_rules(std::move(*a), std::move(*b));
}

}  // namespace tollgate::policy
