// The file-system side of the compiler's trust sources: which files a `dir:`
// entry covers, what counts as an executable, and what dpkg says is
// installed. Plain functions; the compiler hashes what they return.
//
//   scan_dir(fd, "/usr/local/bin", "", {}, on_file, on_subdir, on_skip);
//   auto files = read_dpkg_files("/var/lib/dpkg", {"coreutils"});
//
// Thread-safety: every function is reentrant (no shared state).
#pragma once

#include <sys/stat.h>

#include <array>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
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

// One level of a `dir:` walk. Reads the open directory `dir_fd` (not
// closed; `path` is its absolute path, `rel` its path relative to the walk's
// root, "" for the root) and reports each child:
//  - regular files to on_file (with their fstatat result),
//  - directories to on_subdir (the caller decides whether to descend),
//  - FIFOs, sockets and devices to on_skip as "not a regular file", and
//    children that vanish or cannot be stat'ed with that reason.
// Symlinks are never reported, so a walk never follows one out of its tree
// or into a loop. Children matching an `exclude` glob (fnmatch on the path
// relative to the root, or on the base name) are left out, directories
// included.
struct DirChild {
  std::string path;
  std::string rel;
  std::string name;
  struct stat st {};
};
void scan_dir(int dir_fd, const std::string& path, const std::string& rel, const std::vector<std::string>& exclude,
              const std::function<void(DirChild&&)>& on_file, const std::function<void(DirChild&&)>& on_subdir,
              const std::function<void(const std::string&, std::string_view reason)>& on_skip);

// Opens a directory reported by scan_dir (O_NOFOLLOW) and checks it is still
// the one that was listed (same device and inode), so a directory swapped
// for a symlink between listing and opening is not followed. A vanished or
// swapped directory is ErrorCode::kNotFound.
Result<UniqueFd> open_listed_dir(const DirChild& dir);

// The maintainer scripts of a package (deb-maintscripts(5); `config` is
// debconf's): their names in the package's control archive, and after
// "PKG." (or "PKG:ARCH.") in ADMINDIR/info once installed. dpkg executes
// them directly.
inline constexpr std::array<std::string_view, 5> kMaintainerScripts = {"preinst", "postinst", "prerm", "postrm",
                                                                       "config"};
bool is_maintainer_script(std::string_view name);

// One file installed by a Debian package, with its md5 from dpkg.
struct DpkgFile {
  std::string package;
  std::string path;  // absolute, as dpkg lists it
  std::string md5;   // 32 lowercase hex; empty when dpkg has no md5sum for it
};

struct DpkgFiles {
  std::vector<DpkgFile> files;  // sorted by path, then package
  // The maintainer scripts present in ADMINDIR/info (md5 empty: dpkg
  // records none), sorted by path.
  std::vector<DpkgFile> scripts;
  std::vector<std::string> missing;  // requested packages that are not installed
  size_t packages = 0;               // packages read
};

// Reads ADMINDIR/status (a package counts as installed in every state from
// "unpacked" to "installed", whatever its want: "hold ok installed" and
// "install ok half-configured" (a failed postinst) do, "install reinstreq
// half-installed" does not) and
// ADMINDIR/info/PKG[:ARCH].{list,md5sums}. `packages` empty = every
// installed package; a name may carry ":ARCH". Every listed path is
// returned (directories and symlinks among them are for the caller to pass
// over; nothing is stat'ed here). `scripts`: the kMaintainerScripts in
// ADMINDIR/info of those packages that exist (lstat; a symlink is for the
// caller to pass over), and with `packages` empty also of the packages
// removed but not purged ("deinstall ok config-files": dpkg keeps their
// postrm to run at purge). Errors name the file.
Result<DpkgFiles> read_dpkg_files(const std::string& admindir, const std::vector<std::string>& packages);

}  // namespace tollgate::policy
