// The approvals manifest (`approvals` in the config): the manifest `tollgate
// approve` appends to and `tollgate revoke` removes from. Edited as text, so
// the admin's comments, order and formatting survive; parsed with yaml-cpp
// only to find the entries' lines.
//
//   ApprovalsLock lock = ApprovalsLock::acquire(settings.approvals);  // held across edit+compile+install
//   auto doc = read_approvals(settings.approvals);
//   auto text = add_approvals(doc->text, {approval}, settings.approvals);
//   write_approvals(settings.approvals, *text);
//
// Entry format (docs/cli.md, "tollgate approve"):
//   - sha256: <64 hex>
//     origin: /opt/app/bin/tool
//     label: tool
//     ticket: OPS-12            # only when given
//     expires: 2027-01-01       # only when given
//     approved_by: alice
//     approved_at: 2026-12-01T10:00:00Z
//
// Pure text functions are thread-safe; the lock is per process (flock on a
// file beside the manifest) and serialises concurrent `tollgate` runs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace tollgate::tools {

struct Approval {
  std::string sha256;  // 64 lowercase hex
  std::string origin;  // path the hash was taken from ("" for --sha256)
  std::string label;
  std::string ticket, expires;
  std::string approved_by, approved_at;
  std::vector<std::string> comments;  // "# ..." lines written above the entry
  bool commented_out = false;         // emit the whole entry as comments (needs a human to enable it)
};

// An entry found in an existing approvals manifest.
struct ApprovalEntry {
  std::string sha256;
  std::string origin;
  std::string label;
  size_t line = 0;        // 1-based line of the entry's first key
  size_t first_line = 0;  // including the comment lines directly above it
  size_t last_line = 0;   // last line of the entry (comments after it excluded)
};

struct ApprovalsDoc {
  std::string text;  // "" when the file does not exist yet
  bool exists = false;
  std::vector<ApprovalEntry> entries;  // in file order
};

// Renders one entry (with its comments) at the given dash indentation.
std::string render_approval(const Approval& approval, size_t indent = 2);

// A new, empty approvals manifest.
std::string new_approvals_text();

// Finds the allow entries of `text`. Errors (InvalidInput) name `file` and
// line: not YAML, `allow` not a block sequence, an entry without sha256.
Result<ApprovalsDoc> parse_approvals(const std::string& text, const std::string& file);

// Reads `path` ("" text and no entries when it does not exist).
Result<ApprovalsDoc> read_approvals(const std::string& path);

// `text` with `approvals` appended at the end of the allow sequence (after
// the last entry; an `allow:` key is added when missing).
Result<std::string> add_approvals(const std::string& text, const std::vector<Approval>& approvals,
                                  const std::string& file);

// `text` without the lines of `remove` (entries from parse_approvals of the
// same text).
std::string remove_approvals(const std::string& text, const std::vector<ApprovalEntry>& remove);

// Atomic replace (temp + fsync + rename), keeping an existing file's mode;
// new files get 0644.
Status write_approvals(const std::string& path, const std::string& text);

// Exclusive flock on PATH.lock, held until destruction. Waits up to
// timeout_seconds for another tollgate to finish, then fails (Unavailable).
class ApprovalsLock {
 public:
  static Result<ApprovalsLock> acquire(const std::string& approvals_path, int timeout_seconds = 120);

 private:
  explicit ApprovalsLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// A YAML double-quoted scalar for any string (JSON string syntax, which YAML
// accepts).
std::string yaml_quote(const std::string& value);

}  // namespace tollgate::tools
