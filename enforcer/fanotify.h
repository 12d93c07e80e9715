// The kernel side of enforcement, behind a small interface so the event loop
// is unit-tested with a fake (tests/enforcer/engine_test.cc).
//
//   auto source = FanotifySource::create();                  // FAN_CLASS_CONTENT, FAN_UNLIMITED_QUEUE
//   source->mark_mount("/srv");                              // FAN_MARK_MOUNT, FAN_OPEN_EXEC_PERM
//   ReadNotes notes;
//   poll(source->poll_fd()) ... source->read_events(notes) ... source->respond(fd, true);
//
// SAFETY: only mount marks are ever placed (never a filesystem-wide mark), and
// tests place them only on a tmpfs inside a private mount namespace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
  // Reads whatever is waiting without blocking (empty when nothing is).
  // Overflows and transient failures are added to `notes`, not returned;
  // an error means the source is unusable.
  virtual Result<std::vector<RawEvent>> read_events(ReadNotes& notes) = 0;
  // Answers the event whose fd is `event_fd`. Thread-safe.
  virtual Status respond(int event_fd, bool allow) = 0;
};

class FanotifySource final : public EventSource, public InodeMarkApi {
 public:
  static Result<std::unique_ptr<FanotifySource>> create();
  // Marks the mount holding `path` for FAN_OPEN_EXEC_PERM, plus
  // FAN_OPEN_PERM when `plain_opens` (`coverage: full`).
  Status mark_mount(const std::string& path, bool plain_opens = false);

  int poll_fd() const override { return fd_.get(); }
  Result<std::vector<RawEvent>> read_events(ReadNotes& notes) override;
  Status respond(int event_fd, bool allow) override;
  int add_inode_mark(unsigned flags, uint64_t mask, int fd) override;
  int flush_inode_marks() override;

 private:
  explicit FanotifySource(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// One line of /proc/self/mountinfo, the fields we use.
struct MountEntry {
  int mount_id = 0;
  std::string mount_point;  // unescaped
  std::string fs_type;
  std::string source;
  bool noexec = false;
};

std::vector<MountEntry> parse_mountinfo(const std::string& text);
// `watch: auto`: the mounts of every local, exec-capable (not noexec),
// non-pseudo filesystem (no proc, sysfs, cgroup, devpts, network fs ...).
std::vector<std::string> select_auto_mounts(const std::vector<MountEntry>& mounts);
// True for filesystem types never worth watching (pseudo or remote).
bool is_excluded_fs_type(const std::string& fs_type);

}  // namespace tollgate::enforcer
