// Reaching a filesystem whose every mount is hidden under a later mount.
//
// mountinfo lists such a mount, but its mount point reaches the mount on top
// (some systems stack two tmpfs at /dev/shm from boot). New processes cannot
// reach it by path, but one that kept a descriptor or its working directory
// there, or another namespace without the mount on top, can still run files
// from it, so it must be marked like any other filesystem:
//
//   auto st = reach_hidden(entry, [&](int dir) { return mark(dir); });
//
// reach_hidden() works in a private copy of the daemon's mount namespace,
// on a thread of its own (a thread may unshare its mount namespace: it gets
// a private fs_struct with it). It:
//   1. unshares the mount namespace;
//   2. makes every mount of the copy private, before anything else: a copy
//      keeps the propagation of what it copied (a shared mount stays a peer
//      of the original), and a private one propagates nothing anywhere;
//   3. detaches, in the copy only, whatever the mount point reaches instead
//      of the hidden filesystem, until it reaches it (never a mount that
//      holds the hidden one, which would go with it);
//   4. opens it without following symlinks, checks that it is that very
//      filesystem (its device), and calls `use` with the directory.
// The copy goes when the thread ends. The daemon's own namespace and the
// host's are never changed. Needs CAP_SYS_ADMIN, unshare(CLONE_NEWNS), mount
// and umount2, which the shipped unit does not allow: there a hidden
// filesystem stops the start unless a drop-in allows them
// (docs/configuration.md, "Filesystem marks", says what that costs).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "census/mounts.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace tollgate::enforcer {

// `path` opened with `flags` (and O_CLOEXEC), no symlink followed on the
// way (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS); an error says
// "PATH: WHAT: strerror".
Result<UniqueFd> open_no_symlinks(const std::string& path, uint64_t flags, std::string_view what);
// A mount point opened as a directory, the same way.
Result<UniqueFd> open_mount_point(const std::string& path);

// See above. `hidden` is the mount as the daemon's mountinfo lists it; `use`
// runs on the private thread and its result is returned. A mount hidden by
// one over a parent directory (its mount point then names nothing) is
// reached the same way: what covers the deepest parent that exists is
// detached. Each detach goes through a descriptor of the covering mount's
// root, checked to be that mount's root (STATX_ATTR_MOUNT_ROOT), so it
// detaches exactly the mount that was checked (nothing can be mounted on
// that root meanwhile: only this thread changes the private copy).
Status reach_hidden(const census::MountEntry& hidden, const std::function<Status(int dir)>& use);

// Whether detaching `top` can uncover a copy of `hidden` (same filesystem,
// same mount point) in the table `mounts`: some copy is not below `top` in
// the mount tree. Detaching a mount that holds the hidden one would take it
// along.
bool detaching_can_uncover(const std::vector<census::MountEntry>& mounts, const census::MountEntry& top,
                           const census::MountEntry& hidden);

}  // namespace tollgate::enforcer
