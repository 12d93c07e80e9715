// The path of an open file, as the kernel names it, made safe for path rules.
//
//   FdPath p = fd_path(event_fd, st);          // st: fstat of that fd
//   facts.path = p.path;                       // "" = unknown: no path rule matches
//   record.path = p.display;                   // what the event log shows
//
// readlink(/proc/self/fd/N) is the only source of an event's path, and it
// can mislead a path rule in three ways, each decided here:
// - Too long: the kernel refuses (ENAMETOOLONG) above PATH_MAX, and a short
//   buffer would cut it, turning "/srv/trusted/<4 KiB>/evil" into a prefix
//   of something else. A path that does not fit, cannot be read, or is not
//   absolute is unknown (empty): no path rule can match it, the hash rules
//   still apply.
// - Deleted: for an unlinked file (an fd kept open, then fexecve) the
//   kernel appends " (deleted)" to its last name. That text is not a name
//   the file has, so path-allow must never vouch for it; but it was where the
//   file lived, so a path-deny still applies. `nameless` is set and `path`
//   is the last name without the suffix; policy::decide_file then never
//   builds the ownership chain, so only deny rules can match.
// - A real name that ends in " (deleted)": taken as is when lstat() of it is
//   this very inode (dev, ino); otherwise it is treated as deleted.
// Thread-safe (no shared state).
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

namespace tollgate::policy {

struct FdPath {
  std::string path;       // for path rules; empty = unknown
  std::string display;    // for the log: the kernel's text, empty when unreadable
  bool nameless = false;  // unlinked: path-deny may match `path`, path-allow must not
};

inline constexpr std::string_view kDeletedSuffix = " (deleted)";

FdPath fd_path(int fd, const struct stat& st);
// The same into `out`, reusing its buffers (a hot path allocates nothing).
void fd_path(int fd, const struct stat& st, FdPath& out);

}  // namespace tollgate::policy
