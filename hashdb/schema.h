// Schema v1 of the policy database (docs/database.md) and the canonical
// digests that make it tamper-evident. Internal to hashdb.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>

#include "common/error.h"
#include "hashdb/rules.h"

namespace tollgate::hashdb {

inline constexpr int kSchemaVersion = 1;

// The DDL of schema v1, including `PRAGMA user_version`.
extern const char* const kSchemaSql;

// SHA-256 over every rule row (hash_rules, path_rules, signers) in primary-key
// order, each column tagged with its SQLite type and length-prefixed. Does not
// cover meta or file_cache, so the same rules always give the same digest.
Result<Sha256> content_digest(sqlite3* db, std::string_view path);
// The same, over file_cache (the compiler's hash memory).
Result<Sha256> cache_digest(sqlite3* db, std::string_view path);

// The bytes a signature covers: a fixed header, then "key=value\n" for every
// meta row except `signature`, in key order. Covering every meta value means
// the generation, digests and key id cannot be changed without the key.
std::string signed_message(const MetaMap& meta);

Result<MetaMap> read_meta(sqlite3* db, std::string_view path);

}  // namespace tollgate::hashdb
