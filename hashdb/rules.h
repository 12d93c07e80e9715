// The rows of a policy database, as plain structs. Shared by the writer (the
// compiler fills them), the reader (the enforcer looks them up) and the
// decision function in policy/.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hashdb/sha256.h"

namespace tollgate::hashdb {

enum class Action { kAllow, kDeny };
enum class PathMatch { kExact, kPrefix };

std::string_view to_string(Action action);
std::string_view to_string(PathMatch match);
std::optional<Action> parse_action(std::string_view text);
std::optional<PathMatch> parse_path_match(std::string_view text);

// Where a rule came from: a manifest file and line (line 0 = unknown).
struct Source {
  std::string file;
  int line = 0;
  bool operator==(const Source&) const = default;
};

struct HashRule {
  Sha256 sha256{};
  Action action = Action::kAllow;
  std::string label;
  std::string origin_path;  // the file the hash was taken from, if any
  Source source;
  std::string approved_by;
  std::string approved_at;
  // Set only on rules that come from outside a database (pending trust,
  // policy/pending_trust.h): the decision's rule id instead of
  // "hash-allow:HEX". Never stored.
  std::string rule_id;
  bool operator==(const HashRule&) const = default;
};

struct PathRule {
  std::string path;
  PathMatch match = PathMatch::kExact;
  Action action = Action::kAllow;
  std::string label;
  Source source;
  bool operator==(const PathRule&) const = default;
};

struct Signer {
  Sha256 key_id{};  // SHA-256 of the DER public key
  std::string pem;
  std::string label;
  Source source;
  bool operator==(const Signer&) const = default;
};

// The compiler's memory of files it hashed, so an unchanged file is not
// hashed again on the next compile into the same database path.
struct FileCacheEntry {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t ino = 0;
  Sha256 sha256{};
  bool operator==(const FileCacheEntry&) const = default;
};

// Everything a database holds besides its meta table.
struct PolicyContent {
  std::string policy_name;
  std::vector<HashRule> hash_rules;
  std::vector<PathRule> path_rules;
  std::vector<Signer> signers;
  std::vector<FileCacheEntry> file_cache;
};

// Well-known meta keys (docs/database.md).
namespace meta_key {
inline constexpr std::string_view kSchemaVersion = "schema_version";
inline constexpr std::string_view kGeneration = "generation";
inline constexpr std::string_view kCreatedAt = "created_at";
inline constexpr std::string_view kToolVersion = "tool_version";
inline constexpr std::string_view kPolicyName = "policy_name";
inline constexpr std::string_view kContentDigest = "content_digest";
inline constexpr std::string_view kCacheDigest = "cache_digest";
inline constexpr std::string_view kSignerKeyId = "signer_key_id";
inline constexpr std::string_view kSignature = "signature";
}  // namespace meta_key

using MetaMap = std::map<std::string, std::string, std::less<>>;

struct RuleCounts {
  uint64_t hash_allow = 0;
  uint64_t hash_deny = 0;
  uint64_t path_allow = 0;
  uint64_t path_deny = 0;
  uint64_t signers = 0;
};

}  // namespace tollgate::hashdb
