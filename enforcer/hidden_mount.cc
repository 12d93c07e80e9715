#include "enforcer/hidden_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "census/process.h"
#include "common/io.h"

namespace tollgate::enforcer {
namespace {

// Mounts stacked on one another at one point are rare; a longer chain is a
// mount table changing under us.
constexpr int kMaxDetach = 16;

const census::MountEntry* find_mount(const std::vector<census::MountEntry>& mounts, int id) {
  auto it = std::find_if(mounts.begin(), mounts.end(), [&](const census::MountEntry& m) { return m.mount_id == id; });
  return it == mounts.end() ? nullptr : &*it;
}

// The directory `path` names or, when it does not exist in what covers it
// (ENOENT, ENOTDIR, ELOOP: a mount over one of its parents hides it), its
// deepest parent that does: either way, the mount the path leads into.
Result<UniqueFd> open_reached(const std::string& path) {
  std::string p = path;
  for (;;) {
    auto dir = open_mount_point(p);
    const int err = dir ? 0 : dir.error().sys_errno();
    if (dir || p == "/" || (err != ENOENT && err != ENOTDIR && err != ELOOP)) return dir;
    const size_t slash = p.rfind('/');
    if (slash == std::string::npos) return dir;  // not absolute (mountinfo's never are)
    p.resize(std::max<size_t>(slash, 1));
  }
}

// Detaches `top` in the thread's private namespace, through a descriptor of
// its root: umount2 on the path itself would detach whatever that path
// reaches by then.
Status detach(const census::MountEntry& top, const std::string& point) {
  auto dir = open_mount_point(top.mount_point);
  if (!dir) return std::unexpected(dir.error().with_prefix(point));
  struct statx sx {};
  if (::statx(dir->get(), "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) != 0)
    return fail_errno(errno, point, fmt::format("cannot statx {}", top.mount_point));
  const bool root = (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
  if (!(sx.stx_mask & STATX_MNT_ID) || static_cast<int>(sx.stx_mnt_id) != top.mount_id || !root)
    return fail(ErrorCode::kUnavailable, fmt::format("{}: {} is no longer the root of mount {}; nothing detached",
                                                     point, top.mount_point, top.mount_id));
  const std::string self = fmt::format("/proc/thread-self/fd/{}", dir->get());
  if (::umount2(self.c_str(), MNT_DETACH) != 0)
    return fail_errno(errno, point, fmt::format("cannot detach {} in the private mount namespace", top.mount_point));
  return {};
}

Status reach_in_private_copy(const census::MountEntry& hidden, const std::function<Status(int dir)>& use) {
  const std::string& point = hidden.mount_point;
  if (::unshare(CLONE_NEWNS) != 0)
    return fail_errno(errno, point,
                      errno == EPERM
                          ? "hidden under another mount; cannot unshare a private mount namespace to reach "
                            "it (under tollgated.service: allowed only by the drop-in in docs/configuration.md, "
                            "\"Filesystem marks\")"
                          : "hidden under another mount; cannot unshare a private mount namespace to reach it");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return fail_errno(errno, point,
                      "hidden under another mount; cannot make the private mount namespace's mounts private");
  for (int detached = 0;; ++detached) {
    auto dir = open_reached(point);
    if (!dir) return std::unexpected(dir.error().with_prefix(point));
    auto id = census::mount_id_at(dir->get(), "");
    if (!id) return std::unexpected(id.error().with_prefix(point));
    auto text = read_file("/proc/thread-self/mountinfo", 16u << 20);
    if (!text) return std::unexpected(text.error().with_prefix(point));
    const auto mounts = census::parse_mountinfo(*text);
    const census::MountEntry* top = find_mount(mounts, *id);
    if (!top)
      return fail(
          ErrorCode::kUnavailable,
          fmt::format("{}: reaches mount {}, which the private namespace's mountinfo does not list", point, *id));
    if (top->dev == hidden.dev) return use(dir->get());
    if (detached == kMaxDetach)
      return fail(ErrorCode::kUnavailable,
                  fmt::format("{}: still covered after {} mounts on top were detached in a private mount namespace",
                              point, detached));
    if (!detaching_can_uncover(mounts, *top, hidden))
      return fail(ErrorCode::kUnavailable,
                  fmt::format("{}: reaches {} ({}, at {}) even in a private mount namespace, and detaching that would "
                              "not uncover it (moved?)",
                              point, census::device_name(top->dev), top->fs_type, top->mount_point));
    if (auto st = detach(*top, point); !st) return st;
  }
}

}  // namespace

bool detaching_can_uncover(const std::vector<census::MountEntry>& mounts, const census::MountEntry& top,
                           const census::MountEntry& hidden) {
  for (const auto& copy : mounts) {
    if (copy.dev != hidden.dev || copy.mount_point != hidden.mount_point) continue;
    bool below_top = false;
    const census::MountEntry* m = &copy;
    for (size_t hops = 0; m && hops <= mounts.size() && !below_top; ++hops) {
      below_top = m->parent_id == top.mount_id;
      m = m->parent_id == m->mount_id ? nullptr : find_mount(mounts, m->parent_id);
    }
    if (!below_top) return true;
  }
  return false;
}

Result<UniqueFd> open_no_symlinks(const std::string& path, uint64_t flags, std::string_view what) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const int fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
  if (fd < 0) return fail_errno(errno, path, what);
  return UniqueFd(fd);
}

Result<UniqueFd> open_mount_point(const std::string& path) {
  return open_no_symlinks(path, O_RDONLY | O_DIRECTORY | O_NOCTTY, "cannot open the mount point");
}

Status reach_hidden(const census::MountEntry& hidden, const std::function<Status(int dir)>& use) {
  // A thread of its own: the private namespace ends with it, and no other
  // thread of the daemon ever sees it.
  Status result;
  std::thread([&] { result = reach_in_private_copy(hidden, use); }).join();
  return result;
}

}  // namespace tollgate::enforcer
