// The file-system side of the compiler's trust sources: which files a `dir:`
// entry covers, what counts as an executable, and what dpkg says is
// installed. Plain functions; the compiler hashes what they return.
//
//   walk_dir({.root = "/usr/local/bin"}, on_file, on_skip);
//   auto files = read_dpkg_files("/var/lib/dpkg", {"coreutils"});
//
// Thread-safety: every function is reentrant (no shared state).
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "policy/manifest.h"

namespace tollgate::policy {

// What a worker needs to know about a file before deciding whether `match`
// covers it: the mode from stat and, when the mode does not decide, the
// first bytes of the content.
bool is_elf(std::string_view header);
bool is_shebang(std::string_view header);
bool is_shared_library_name(std::string_view path);  // "libfoo.so", "libfoo.so.6.1"

// Whether the decision needs the header (false: decided from mode and name).
bool match_needs_header(DirMatch match, mode_t mode, std::string_view path);
bool file_matches(DirMatch match, mode_t mode, std::string_view path, std::string_view header);

struct WalkOptions {
  std::string root;                  // absolute directory
  bool recursive = true;
  std::vector<std::string> exclude;  // fnmatch globs on the path relative to root, or on the base name
};

// Calls on_file for every regular file under the root (symlinks are never
// followed, so a tree cannot loop or lead outside itself), and on_skip for
// what was passed over with a reason ("unreadable", "vanished", "not a
// regular file"). Fails only when the root itself cannot be opened as a
// directory.
Status walk_dir(const WalkOptions& options, const std::function<void(const std::string&, const struct stat&)>& on_file,
                const std::function<void(const std::string&, std::string_view reason)>& on_skip);

// One file installed by a Debian package, with its md5 from dpkg.
struct DpkgFile {
  std::string package;
  std::string path;  // absolute, as dpkg lists it
  std::string md5;   // 32 lowercase hex; empty when dpkg has no md5sum for it
};

struct DpkgFiles {
  std::vector<DpkgFile> files;            // sorted by path, then package
  std::vector<std::string> missing;       // requested packages that are not installed
  size_t packages = 0;                    // packages read
};

// Reads ADMINDIR/status (only "install ok installed" packages count) and
// ADMINDIR/info/PKG[:ARCH].{list,md5sums}. `packages` empty = every
// installed package; a name may carry ":ARCH". Only non-directory paths are
// returned. Errors name the file.
Result<DpkgFiles> read_dpkg_files(const std::string& admindir, const std::vector<std::string>& packages);

}  // namespace tollgate::policy
