// The policy compiler: manifests in, a signed policy database out.
//
//   policy::CompileOptions opts{.manifest_path = "/etc/tollgate/policy.yaml",
//                               .output_path = "/var/lib/tollgate/policy.db",
//                               .signing_key_path = "/etc/tollgate/signing.key"};
//   auto summary = policy::compile_policy(opts);
//   if (!summary) { std::cerr << summary.error().message() << "\n"; return 4; }
//   std::cout << summary->to_text();
//
// The ownership rule: a file found by an allow `file:` or `dir:` entry is
// trusted only when it and every parent directory are root-owned and not
// group/world-writable (policy::chain_is_safe, the rule `approve` and path
// allow rules apply), because the apt hook recompiles unattended and would
// otherwise approve whatever an unprivileged user dropped into a trusted
// directory. A failing file is left out and listed (untrusted_writable);
// `allow_writable: true` (with a `reason:`) on the entry trusts it anyway and
// lists it under writable_allowed; `strict` makes it a compile error. Files
// of `package_manager: dpkg` are exempt: their content is verified against
// dpkg's md5sums wherever they sit. Their maintainer scripts
// (ADMINDIR/info/PKG.postinst ..., which dpkg executes during upgrades and
// removals) have no md5sum: they follow the ownership rule, with no
// `allow_writable` opt-in. Deny entries are never checked.
//
// Steps: load and validate the manifests (policy/manifest.h); expand every
// entry into files: `dir:` trees are walked, and their files classified and
// hashed, by a pool of std::jthread workers (all cores by default) sharing
// one work queue of directory and file jobs; dpkg's file lists are verified
// against dpkg's md5sums in the same pass as the SHA-256. The hash of every
// file whose path, size, mtime and inode match the previous database's
// file_cache at the same output path is reused without opening the file
// (when signing, only from a previous database signed by the same key).
// Then: check that no hash is both allowed and denied, keep one rule per
// hash, and write the database atomically with generation = previous + 1
// (hashdb::write_database, which leaves the old file byte-identical on any
// error). A dry run writes into a private temporary directory and removes
// it, so its content digest is the real one.
//
// Errors: validation problems (manifest syntax, missing `file:` entries,
// unreadable signer keys, hash conflicts) come back as one
// ErrorCode::kInvalidInput error whose message is every "FILE:LINE:COL:
// message" line joined by "\n". I/O problems with the output or the signing
// key carry their own code. Never throws.
//
// Thread-safety: compile_policy may run concurrently for distinct output
// paths. `progress` is called on compile_policy's own thread while the
// workers examine files; the library prints nothing (the CLI draws the line).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "hashdb/rules.h"

namespace tollgate::policy {

// Where a compile stands while its files are examined.
struct CompileProgress {
  size_t files_done = 0;
  size_t files_total = 0;  // known so far
  bool walking = false;    // directories are still being listed: the total may grow
  uint64_t bytes_hashed = 0;
  double seconds = 0;     // since the workers started
  bool finished = false;  // the last call (clear the line)
};
using ProgressFn = std::function<void(const CompileProgress&)>;

struct CompileOptions {
  std::string manifest_path;
  std::string output_path;
  std::optional<std::string> signing_key_path;
  unsigned jobs = 0;  // 0 = all cores
  bool dry_run = false;
  std::string dpkg_admindir = "/var/lib/dpkg";
  // Called about every 200 ms while files are examined, then once with
  // `finished` set; empty = no reports.
  ProgressFn progress;
  // Fail (kInvalidInput, one "FILE:LINE:COL: PATH is not trusted ..." line
  // each, nothing written) when a file fails the ownership rule.
  bool strict = false;
};

struct SkippedFile {
  std::string path;
  std::string reason;  // "unreadable", "vanished", "changed while hashing", "not a regular file", ...
};

// A file of an allow `file:`/`dir:` entry that fails the ownership rule.
struct WritableFile {
  std::string path;
  std::string why;    // "/srv/drop is group- or world-writable", "... is owned by uid 1000, not root"
  std::string entry;  // "FILE:LINE:COL" of the entry
};

struct ModifiedPackageFile {
  std::string package;
  std::string path;
  std::string expected_md5;
  std::string actual_md5;
};

struct CompileSummary {
  std::string policy_name;
  std::string output_path;
  bool dry_run = false;
  uint64_t generation = 0;
  std::string content_digest;          // hex
  std::string signer_key_id;           // hex, empty when unsigned
  std::vector<std::string> manifests;  // every manifest read

  // Entries per "ACTION KIND" ("allow dir", "deny sha256", ...), expired ones excluded.
  std::map<std::string, uint64_t> entries;
  hashdb::RuleCounts rules;
  uint64_t duplicate_hashes = 0;  // files whose hash another file already gave

  uint64_t files_hashed = 0;
  uint64_t files_reused = 0;
  uint64_t bytes_hashed = 0;
  uint64_t files_not_matched = 0;  // walked but not covered by `match`
  std::map<std::string, uint64_t> skipped_by_reason;
  std::vector<SkippedFile> skipped;  // the first kMaxListed, sorted by path
  uint64_t skipped_total = 0;
  std::vector<ModifiedPackageFile> modified_package_files;  // sorted by path
  // Files failing the ownership rule: not trusted (first kMaxListed, by path) ...
  std::vector<WritableFile> untrusted_writable;
  uint64_t untrusted_writable_total = 0;
  // ... and trusted anyway by `allow_writable: true`.
  std::vector<WritableFile> writable_allowed;
  uint64_t writable_allowed_total = 0;
  uint64_t expired_entries = 0;
  std::vector<std::string> warnings;  // "FILE:LINE:COL: ..." lines
  double seconds = 0;

  static constexpr size_t kMaxListed = 1000;

  nlohmann::json to_json() const;
  std::string to_text() const;
};

Result<CompileSummary> compile_policy(const CompileOptions& options);

}  // namespace tollgate::policy
