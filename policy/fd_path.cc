#include "policy/fd_path.h"

#include <limits.h>
#include <unistd.h>

#include <cstdio>

namespace tollgate::policy {

FdPath fd_path(int fd, const struct stat& st) {
  FdPath out;
  fd_path(fd, st, out);
  return out;
}

void fd_path(int fd, const struct stat& st, FdPath& out) {
  out.path.clear();
  out.display.clear();
  out.nameless = false;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  // One byte more than the longest path the kernel returns (PATH_MAX - 1):
  // a result that fills the buffer was cut and is refused.
  char buf[PATH_MAX + 1];
  ssize_t n = ::readlink(link, buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return;
  out.display.assign(buf, static_cast<size_t>(n));
  if (out.display.front() != '/') return;  // "anon_inode:...", "pipe:[...]": not a path
  std::string_view text = out.display;
  if (text.ends_with(kDeletedSuffix)) {
    struct stat named;
    bool same = ::lstat(out.display.c_str(), &named) == 0 && named.st_dev == st.st_dev && named.st_ino == st.st_ino;
    if (!same) {
      out.nameless = true;
      out.path.assign(text.substr(0, text.size() - kDeletedSuffix.size()));
      return;
    }
  }
  out.path = out.display;
}

}  // namespace tollgate::policy
