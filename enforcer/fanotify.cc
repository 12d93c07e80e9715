#include "enforcer/fanotify.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/fanotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <set>
#include <sstream>

namespace tollgate::enforcer {

bool is_exec_event(uint64_t mask) { return (mask & FAN_OPEN_EXEC_PERM) != 0; }

bool is_fatal_read_errno(int err) { return err == EBADF || err == EFAULT || err == EINVAL; }

Result<std::unique_ptr<FanotifySource>> FanotifySource::create() {
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
  return std::unique_ptr<FanotifySource>(new FanotifySource(UniqueFd(fd)));
}

Status FanotifySource::mark_mount(const std::string& path, bool plain_opens) {
  // No FAN_ONDIR: opening a directory is never asked about.
  const uint64_t mask = FAN_OPEN_EXEC_PERM | (plain_opens ? FAN_OPEN_PERM : 0);
  if (::fanotify_mark(fd_.get(), FAN_MARK_ADD | FAN_MARK_MOUNT, mask, AT_FDCWD, path.c_str()) != 0)
    return fail_errno(errno, path, "cannot mark mount");
  return {};
}

Result<std::vector<RawEvent>> FanotifySource::read_events(ReadNotes& notes) {
  std::vector<RawEvent> events;
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
  return events;
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

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && std::all_of(s.begin() + static_cast<long>(i) + 1,
                                                             s.begin() + static_cast<long>(i) + 4,
                                                             [](char c) { return c >= '0' && c <= '7'; })) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::vector<MountEntry> parse_mountinfo(const std::string& text) {
  std::vector<MountEntry> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    std::string word;
    while (fields >> word) f.push_back(word);
    auto sep = std::find(f.begin(), f.end(), "-");
    if (f.size() < 7 || sep == f.end() || std::distance(sep, f.end()) < 3) continue;
    MountEntry m;
    try {
      m.mount_id = std::stoi(f[0]);
    } catch (const std::exception&) {
      continue;
    }
    m.mount_point = unescape(f[4]);
    std::string opts = "," + f[5] + ",";
    m.noexec = opts.find(",noexec,") != std::string::npos;
    m.fs_type = *(sep + 1);
    m.source = unescape(*(sep + 2));
    out.push_back(std::move(m));
  }
  return out;
}

bool is_excluded_fs_type(const std::string& t) {
  static const std::set<std::string, std::less<>> kExcluded = {
      // pseudo
      "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs", "securityfs", "pstore", "bpf",
      "configfs", "fusectl", "hugetlbfs", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs", "efivarfs", "selinuxfs",
      "devtmpfs", "ramfs", "squashfs-fuse",
      // remote
      "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "9p", "afs", "glusterfs", "lustre", "davfs", "fuse.sshfs",
      "fuse.s3fs"};
  return kExcluded.contains(t);
}

std::vector<std::string> select_auto_mounts(const std::vector<MountEntry>& mounts) {
  std::vector<std::string> out;
  for (const auto& m : mounts) {
    if (m.noexec || is_excluded_fs_type(m.fs_type)) continue;
    if (std::find(out.begin(), out.end(), m.mount_point) != out.end()) continue;
    out.push_back(m.mount_point);
  }
  return out;
}

}  // namespace tollgate::enforcer
