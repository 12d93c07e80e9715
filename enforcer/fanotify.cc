#include "enforcer/fanotify.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>

#include "census/process.h"
#include "enforcer/hidden_mount.h"

namespace tollgate::enforcer {

bool is_exec_event(uint64_t mask) { return (mask & FAN_OPEN_EXEC_PERM) != 0; }

bool is_fatal_read_errno(int err) { return err == EBADF || err == EFAULT || err == EINVAL; }

Result<std::unique_ptr<FanotifySource>> FanotifySource::create(bool plain_opens) {
  // FAN_UNLIMITED_QUEUE: a full queue (16384 events by default) makes the
  // kernel drop permission events and *allow* them; unlimited, every event
  // waits for our answer. FAN_UNLIMITED_MARKS: `watch: auto` on a host with
  // many mounts never runs out of marks. Both need CAP_SYS_ADMIN, which
  // fanotify permission events need anyway. O_NONBLOCK for the event fds:
  // with FAN_OPEN_PERM, the kernel opens a FIFO for us while its opener
  // waits for our answer; a blocking open would wait for a writer that
  // never comes (it is the opener). Regular files ignore it.
  int fd = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE | FAN_UNLIMITED_MARKS,
                           O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return fail_errno(errno, "fanotify", "fanotify_init failed (needs CAP_SYS_ADMIN)");
  const uint64_t mask = FAN_OPEN_EXEC_PERM | (plain_opens ? FAN_OPEN_PERM : 0);
  return std::unique_ptr<FanotifySource>(new FanotifySource(UniqueFd(fd), mask));
}

namespace {

// Whether `path` opens (no symlink followed) as something other than a directory.
bool names_a_non_directory(const std::string& path) {
  auto fd = open_no_symlinks(path, O_PATH, "cannot open");
  struct stat st {};
  return fd && ::fstat(fd->get(), &st) == 0 && !S_ISDIR(st.st_mode);
}

}  // namespace

Status FanotifySource::mark_filesystem(const std::string& mount_point, int mount_id) {
  auto dir = open_mount_point(mount_point);
  if (!dir) {
    // It names nothing, or passes a symlink or a file, in what covers one of
    // its parents. (A mount point that is itself a file, a file bind mount,
    // is not hidden: that error stands.)
    const int err = dir.error().sys_errno();
    if (err == ENOENT || err == ELOOP || (err == ENOTDIR && !names_a_non_directory(mount_point)))
      return fail(ErrorCode::kUnavailable, dir.error().message() + " (hidden under another mount, or moved)");
    return std::unexpected(dir.error());
  }
  auto id = census::mount_id_at(dir->get(), "");
  if (!id) return std::unexpected(id.error().with_prefix(mount_point));
  if (*id != mount_id)
    return fail(ErrorCode::kUnavailable, fmt::format("{}: reaches mount {}, not mount {} (hidden under another "
                                                     "mount, or moved)",
                                                     mount_point, *id, mount_id));
  return mark_directory(dir->get(), mount_point);
}

Status FanotifySource::mark_hidden_filesystem(const census::MountEntry& hidden) {
  return reach_hidden(hidden, [&](int dir) { return mark_directory(dir, hidden.mount_point); });
}

Status FanotifySource::mark_directory(int dir, const std::string& name) {
  // pathname NULL: the mark goes on the filesystem of `dir` itself. No
  // FAN_ONDIR: opening a directory is never asked about.
  if (::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mark_mask_, dir, nullptr) != 0)
    return fail_errno(errno, name, "cannot mark the filesystem");
  return {};
}

Status FanotifySource::read_events(std::vector<RawEvent>& events, ReadNotes& notes) {
  alignas(fanotify_event_metadata) std::array<char, 16384> buf;
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      if (is_fatal_read_errno(errno)) return fail_errno(errno, "fanotify", "read failed");
      // The kernel could not pass the next event on (no fd, no memory, the
      // file failed to open for us) and denied it. Return what we have.
      ++notes.failed_reads;
      notes.last_errno = errno;
      break;
    }
    if (n == 0) break;
    auto* meta = reinterpret_cast<const fanotify_event_metadata*>(buf.data());
    size_t len = static_cast<size_t>(n);
    while (FAN_EVENT_OK(meta, len)) {
      if (meta->vers != FANOTIFY_METADATA_VERSION) {
        if (meta->fd >= 0) ::close(meta->fd);
        return fail(ErrorCode::kIo, "fanotify: unexpected metadata version");
      }
      if (meta->mask & FAN_Q_OVERFLOW) {
        ++notes.overflows;
      } else if (meta->fd >= 0) {
        events.push_back({UniqueFd(meta->fd), meta->pid, meta->mask});
      }
      meta = FAN_EVENT_NEXT(meta, len);
    }
    if (static_cast<size_t>(n) < buf.size() / 2) break;  // likely drained
  }
  return {};
}

Status FanotifySource::respond(int event_fd, bool allow) {
  fanotify_response response{};
  response.fd = event_fd;
  response.response = allow ? FAN_ALLOW : FAN_DENY;
  for (;;) {
    ssize_t n = ::write(fd_.get(), &response, sizeof response);
    if (n == static_cast<ssize_t>(sizeof response)) return {};
    if (n < 0 && errno == EINTR) continue;
    return fail_errno(n < 0 ? errno : EIO, "fanotify", "cannot write response");
  }
}

int FanotifySource::add_inode_mark(unsigned flags, uint64_t mask, int fd) {
  return ::fanotify_mark(fd_.get(), FAN_MARK_ADD | flags, mask, fd, nullptr) == 0 ? 0 : errno;
}

int FanotifySource::flush_inode_marks() {
  // Without FAN_MARK_MOUNT or FAN_MARK_FILESYSTEM: inode marks only.
  return ::fanotify_mark(fd_.get(), FAN_MARK_FLUSH, 0, AT_FDCWD, nullptr) == 0 ? 0 : errno;
}

}  // namespace tollgate::enforcer
