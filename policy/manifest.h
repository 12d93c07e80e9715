// The manifest model and its strict loader (docs/manifest.md).
//
// A manifest is a YAML file with `version: 1`, `name`, `description`,
// `include:` (globs relative to the including file) and `allow:` / `deny:`
// lists of entries. load_manifest() reads the root file and every included
// file, validates all of them and returns one flat, ordered list of entries,
// each carrying the absolute file, line and column it came from.
//
//   auto manifest = policy::load_manifest("/etc/tollgate/policy.yaml");
//   if (!manifest) { std::cerr << manifest.error().message(); return; }  // FILE:LINE:COL lines
//   for (const auto& e : manifest->entries) ...
//
// Validation is purely syntactic plus include resolution: files named by
// `file:`/`dir:`/`signer:` are not opened here (the compiler does that and
// reports problems at the entry's location). Every error of a run is
// reported, up to LoadOptions::error_cap, as "FILE:LINE:COL: message" lines
// joined by "\n" in one ErrorCode::kInvalidInput error. Never throws.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "hashdb/rules.h"

namespace tollgate::policy {

enum class EntryKind { kFile, kDir, kSha256, kPath, kPathPrefix, kPackageManager, kSigner };
enum class DirMatch { kExecutables, kElf, kAll };

std::string_view to_string(EntryKind kind);  // the manifest key: "file", "dir", ...
std::string_view to_string(DirMatch match);

// Where an entry (or include) was written.
struct Location {
  std::string file;               // absolute path of the manifest
  int line = 0;                   // 1-based
  int column = 0;                 // 1-based
  std::string to_string() const;  // "FILE:LINE:COL"
};

struct Entry {
  EntryKind kind = EntryKind::kFile;
  hashdb::Action action = hashdb::Action::kAllow;
  Location where;
  // file/dir/path: the absolute path; path_prefix: the path ending in '/';
  // sha256: 64 lowercase hex; package_manager: "dpkg"; signer: the key path
  // made absolute relative to the manifest's directory.
  std::string value;

  // file:
  bool optional = false;
  // file: and dir: (allow only): trust files that fail the ownership rule
  // (not root-owned, or under a group/world-writable directory), with the
  // admin's reason, which is required. docs/manifest.md, "Ownership".
  bool allow_writable = false;
  std::string writable_reason;
  // dir:
  bool recursive = true;
  DirMatch match = DirMatch::kExecutables;
  std::vector<std::string> exclude;
  // package_manager: empty = every installed package.
  std::vector<std::string> packages;
  // sha256: the file it was taken from (informational).
  std::string origin;

  // Optional on every entry.
  std::string label;
  std::string owner;
  std::string ticket;
  std::string expires;                // as written
  std::optional<int64_t> expires_at;  // seconds since the epoch (UTC)
  std::string approved_by;
  std::string approved_at;  // RFC 3339, as written

  bool expired(int64_t now) const { return expires_at && *expires_at <= now; }
};

struct Manifest {
  std::string root_file;  // absolute
  std::string name;       // the root manifest's name
  std::string description;
  std::vector<std::string> files;  // every manifest read, root first, absolute
  std::vector<Entry> entries;      // in file order, includes expanded in place
};

struct LoadOptions {
  size_t error_cap = 50;
  // false: `include:` is validated but not followed (used by the fuzzer).
  bool follow_includes = true;
};

Result<Manifest> load_manifest(const std::string& path, const LoadOptions& options = {});

// Loads manifest text as if it were the file `name` (includes resolve
// relative to its directory). The fuzz target's entry point.
Result<Manifest> load_manifest_text(const std::string& text, const std::string& name, const LoadOptions& options = {});

}  // namespace tollgate::policy
