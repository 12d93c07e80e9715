// The kernel side of enforcement, behind a small interface so the event loop
// is unit-tested with a fake (tests/enforcer/engine_test.cc).
//
//   auto source = FanotifySource::create(false);             // FAN_CLASS_CONTENT, FAN_UNLIMITED_QUEUE
//   source->mark_filesystem("/srv", 42);                     // FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM
//   ReadNotes notes;
//   poll(source->poll_fd()) ... source->read_events(events, notes) ... source->respond(fd, true);
//
// SAFETY: a filesystem mark covers the superblock everywhere: every mount of
// it in every namespace. The daemon places them on what `watch:` selects
// (census/mounts.h); tests place them only on a tmpfs they mounted inside
// their own private mount namespace, never on a filesystem the host uses,
// and never with `watch: auto` (DEVELOPERS.md).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "census/mounts.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "enforcer/ignore_marks.h"

namespace tollgate::enforcer {

// One permission event. The fd is the kernel's descriptor of the file being
// opened; its number is also the key for the response, so it must stay open
// until respond() has been called for it.
struct RawEvent {
  UniqueFd fd;
  pid_t pid = 0;
  uint64_t mask = 0;
};

// What a read_events() call met besides events.
struct ReadNotes {
  uint64_t overflows = 0;  // FAN_Q_OVERFLOW notifications
  // Reads that failed for one event (EMFILE, ENFILE, ENOMEM, or any error
  // opening the file for us): the kernel answered that event FAN_DENY
  // itself. Transient: the caller keeps reading (after a short pause).
  uint64_t failed_reads = 0;
  int last_errno = 0;
};

// Whether an event's mask is the exec open (FAN_OPEN_EXEC_PERM) rather than
// a plain open (FAN_OPEN_PERM).
bool is_exec_event(uint64_t mask);

// Whether a read(2) error of a fanotify group is fatal. Only a bad
// descriptor, buffer or argument is; every other error is the kernel failing
// to hand over one event (it denies that event) and reading goes on.
bool is_fatal_read_errno(int err);

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Readable (POLLIN) when events are waiting.
  virtual int poll_fd() const = 0;
  // Reads whatever is waiting without blocking, appending it to `events`
  // (the caller's, reused: no allocation per read; nothing appended when
  // nothing is waiting). Overflows and transient failures are added to
  // `notes`, not returned; an error means the source is unusable.
  virtual Status read_events(std::vector<RawEvent>& events, ReadNotes& notes) = 0;
  // Answers the event whose fd is `event_fd`. Thread-safe.
  virtual Status respond(int event_fd, bool allow) = 0;
};

// Places one filesystem mark (enforcer/mount_watcher.h); FanotifySource
// implements it, tests fake it.
class FilesystemMarker {
 public:
  virtual ~FilesystemMarker() = default;
  // kUnavailable: the path does not reach that mount (try another one).
  virtual Status mark_filesystem(const std::string& mount_point, int mount_id) = 0;
  // For a filesystem none of whose mounts the path reaches: marks it from a
  // private copy of the mount namespace in which what hides `hidden` is
  // detached (enforcer/hidden_mount.h).
  virtual Status mark_hidden_filesystem(const census::MountEntry& hidden) = 0;
};

class FanotifySource final : public EventSource, public FilesystemMarker, public InodeMarkApi {
 public:
  // `plain_opens` (`coverage: full`): every mark also asks about plain opens
  // (FAN_OPEN_PERM), not only exec opens.
  static Result<std::unique_ptr<FanotifySource>> create(bool plain_opens);
  // Marks the filesystem mounted at `mount_point` (FAN_MARK_FILESYSTEM) for
  // FAN_OPEN_EXEC_PERM, plus FAN_OPEN_PERM when created with `plain_opens`,
  // only if the path reaches the mount `mount_id`
  // (mountinfo's first field): it is opened without following any symlink
  // (openat2 RESOLVE_NO_SYMLINKS) and its mount id checked, so a path a user
  // swapped for a symlink, or a mount hidden under a later one, is never
  // marked by mistake (kUnavailable: try another mount of that filesystem).
  Status mark_filesystem(const std::string& mount_point, int mount_id) override;
  // Marks a filesystem every mount of which is hidden under another mount,
  // from a private copy of the mount namespace (enforcer/hidden_mount.h).
  Status mark_hidden_filesystem(const census::MountEntry& hidden) override;

  int poll_fd() const override { return fd_.get(); }
  Status read_events(std::vector<RawEvent>& events, ReadNotes& notes) override;
  Status respond(int event_fd, bool allow) override;
  int add_inode_mark(unsigned flags, uint64_t mask, int fd) override;
  int flush_inode_marks() override;

 private:
  FanotifySource(UniqueFd fd, uint64_t mark_mask) : fd_(std::move(fd)), mark_mask_(mark_mask) {}
  // The filesystem mark on the filesystem of the open directory `dir`.
  Status mark_directory(int dir, const std::string& name);
  UniqueFd fd_;
  uint64_t mark_mask_;  // FAN_OPEN_EXEC_PERM, | FAN_OPEN_PERM under full coverage
};

}  // namespace tollgate::enforcer
