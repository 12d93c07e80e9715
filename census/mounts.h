// What is mounted, and which filesystems `watch:` covers. Pure: mountinfo
// text in, plain values out; used by tollgated (which marks the filesystems),
// the census (which asks whether a process runs from a filesystem that
// exists in the daemon's namespace) and the CLI (`sweep`, `doctor`).
//
//   auto mounts = parse_mountinfo(read_file("/proc/self/mountinfo"));
//   auto watched = select_watched(mounts, {"/"});          // watch: auto
//   for (const auto& fs : watched) ... fs.dev, fs.fs_type, fs.mounts
//
// A `watch:` entry is a mount-point prefix: it covers the filesystem that
// holds the path and every filesystem mounted at or below it, now or later.
// `watch: auto` is the prefix "/". A filesystem is watched as a whole (one
// FAN_MARK_FILESYSTEM mark on its superblock), so every mount of it, in any
// mount namespace, is covered once one of its mounts qualifies.
//
// Which filesystems are watched: every filesystem that can hold a file to
// run (fs_kind() is kLocal or kNetwork), whether or not this mount of it is
// `noexec` (the same superblock can be mounted exec elsewhere, e.g. in a
// container, and `coverage: full` decides scripts interpreters read from
// noexec mounts). Pseudo filesystems (proc, sysfs, cgroup, ...) hold no
// such file and are never marked. docs/configuration.md has the lists.
// Thread-safety: pure functions over values.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace tollgate::census {

// One line of a mountinfo file (proc(5)), the fields we use.
struct MountEntry {
  int mount_id = 0;
  int parent_id = 0;
  dev_t dev = 0;            // the filesystem (superblock): st_dev of its files, except btrfs subvolumes
  std::string root;         // the directory of the filesystem mounted here ("/" for all of it)
  std::string mount_point;  // unescaped
  std::string fs_type;
  std::string source;
  bool noexec = false;
};

// Lines that do not parse are skipped.
std::vector<MountEntry> parse_mountinfo(std::string_view text);

// "8:1", as mountinfo and `tollgate status` write a device.
std::string device_name(dev_t dev);

enum class FsKind {
  kPseudo,   // holds no file anyone can run (proc, sysfs, cgroup, devpts, ...): never marked
  kLocal,    // tmpfs, ext4, xfs, btrfs, overlay, squashfs, vfat, fuse, ... and any type not listed
  kNetwork,  // nfs, cifs, ceph, 9p, ...: marked and hashed like local ones (docs/configuration.md)
};
FsKind fs_kind(std::string_view fs_type);
// True for kLocal and kNetwork: a file on it can be executed.
bool holds_executables(std::string_view fs_type);

// True when `mount_point` is `prefix` or below it, by whole path components
// ("/srv" covers "/srv" and "/srv/a", not "/srvx").
bool at_or_below(std::string_view mount_point, std::string_view prefix);

// The mount a path lives on: the last listed mount whose mount point is the
// longest prefix of `path` (a later mount on the same point hides an earlier
// one). Null when nothing matches (an empty table, a relative path).
const MountEntry* holding_mount(const std::vector<MountEntry>& mounts, std::string_view path);

// The prefixes of a `watch:` value: {"/"} for "auto"; otherwise each path,
// resolved with realpath(3) when it exists (symlinks in the admin's own
// config are followed). Reads the filesystem; not pure.
std::vector<std::string> resolve_watch_prefixes(const std::vector<std::string>& watch);

// One watched filesystem and the mounts of it in this namespace.
struct WatchedFs {
  dev_t dev = 0;
  std::string fs_type;
  std::string source;
  std::vector<const MountEntry*> mounts;  // into the table passed to select_watched; qualifying ones first
};

// The filesystems `prefixes` cover in `mounts` (see the top of this file),
// in the order of their first qualifying mount. Each lists every mount of
// that filesystem in the table, so a caller can mark it through any of them.
std::vector<WatchedFs> select_watched(const std::vector<MountEntry>& mounts, const std::vector<std::string>& prefixes);

}  // namespace tollgate::census
