// Writes a complete policy database, atomically.
//
//   hashdb::WriteOptions opts{.generation = 7, .signing_key = key};
//   auto written = hashdb::write_database("/var/lib/tollgate/policy.db", content, opts);
//
// The database is built in a temporary file beside `path`, its content digest
// computed from the rows as stored, signed when a key is given, fsynced and
// renamed over `path`. On any error the file at `path` is left byte-identical
// and the temporary file is removed. Thread-safe for distinct paths.
#pragma once

#include <optional>
#include <string>

#include "common/error.h"
#include "hashdb/keys.h"
#include "hashdb/rules.h"

namespace tollgate::hashdb {

struct WriteOptions {
  uint64_t generation = 1;
  std::string created_at;  // RFC 3339; empty = now (UTC)
  std::optional<PrivateKey> signing_key;
};

struct WrittenDatabase {
  MetaMap meta;
  Sha256 content_digest{};
};

// Rejects (InvalidInput) a hash both allowed and denied, and duplicate keys.
Result<WrittenDatabase> write_database(const std::string& path, const PolicyContent& content,
                                       const WriteOptions& options);

}  // namespace tollgate::hashdb
