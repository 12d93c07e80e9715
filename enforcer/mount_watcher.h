// MountWatcher: which filesystems tollgated watches, kept true as mounts come
// and go. One FAN_MARK_FILESYSTEM mark per watched filesystem (superblock),
// so an exec through any mount of it, in any mount namespace, is decided.
//
//   MountWatcher watcher(*source, &log, {.prefixes = {"/srv"}, .host = "web1"});
//   if (auto st = watcher.start(); !st) ...    // local filesystems marked before the socket opens
//   std::thread t([&] { watcher.run(); });     // follows /proc/self/mountinfo
//   ...
//   watcher.stop(); t.join();
//
// `watch:` entries are mount-point prefixes (census/mounts.h): each covers
// the filesystem holding the path and every filesystem mounted at or below
// it, now or later; `watch: auto` is "/". run() waits for POLLPRI on
// /proc/self/mountinfo (the kernel raises it on every mount change in the
// daemon's namespace, including mounts propagated into it from the host
// when the daemon runs in a namespace of its own with slave propagation)
// and marks what appeared, typically within milliseconds; a change that
// leaves the table looking the same (a filesystem unmounted and another
// mounted in its place, device and mount id reused) re-marks everything.
// Failed marks are retried on every change and every `rescan_ms`.
//
// Network filesystems are marked by the thread, not by start(): a path
// lookup on a hard-mounted NFS whose server does not answer blocks, and must
// never keep the daemon from starting. Each new mark, and each failure, is
// a "mark" event.
//
// Thread-safety: start() once, then run() on one thread; stop(),
// filesystems(), view() and reached_through_our_mount() from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "census/classify.h"
#include "census/mounts.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "control/protocol.h"
#include "enforcer/fanotify.h"
#include "eventlog/builders.h"

namespace tollgate::eventlog {
class EventLog;
}

namespace tollgate::enforcer {

using eventlog::EventLog;

// One watched filesystem, for `tollgate status` and the mark event.
struct WatchedFilesystem {
  dev_t dev = 0;
  std::string fs_type;
  std::string source;
  std::vector<std::string> mount_points;  // where it is mounted in the daemon's namespace
  bool network = false;
  bool marked = false;
  bool hidden = false;       // every mount of it is hidden under another: marked from a private namespace
  std::string error;         // why it is not marked ("pending" before the thread's first pass)
  int64_t marked_at_us = 0;  // Unix µs
};
// Its `mark` event's fields; `trigger`: "start", "mount" or "rescan".
eventlog::MarkRecord mark_record(const WatchedFilesystem& fs, std::string_view trigger);
// Its entry in the status reply's `filesystems`.
control::StatusReply::Filesystem status_entry(const WatchedFilesystem& fs);

struct MountWatcherOptions {
  std::vector<std::string> prefixes;  // absolute; {"/"} for watch: auto
  std::string mountinfo = "/proc/self/mountinfo";
  std::string host;
  int rescan_ms = 30000;
};

class MountWatcher {
 public:
  MountWatcher(FilesystemMarker& marker, EventLog* log, MountWatcherOptions options);
  ~MountWatcher();
  MountWatcher(const MountWatcher&) = delete;
  MountWatcher& operator=(const MountWatcher&) = delete;

  // The first pass: marks every local filesystem `watch:` covers. Fails
  // when the mount table cannot be read, when a prefix covers no
  // filesystem, or when a local filesystem cannot be marked.
  Status start();
  // Follows the mount table until stop().
  void run();
  // One pass now, as run() makes when the kernel reports a change
  // (`notified`) or a rescan is due. For tests; run() calls it.
  Status rescan(bool notified) { return scan(true, notified, notified ? "mount" : "rescan"); }
  void stop();

  std::vector<WatchedFilesystem> filesystems() const;
  // The daemon's namespace for the census: its mounts and what is marked.
  std::shared_ptr<const census::MountView> view() const;
  // Whether the file open on `fd` was reached through a mount of the
  // daemon's namespace. A path the kernel gives for a file reached through
  // another namespace's mount is that namespace's path: it names something
  // else here, so path-allow rules must not vouch for it.
  bool reached_through_our_mount(int fd) const;

 private:
  // Reads the table and marks what is new or failed; `network`: network
  // filesystems too; `notified`: the kernel said the table changed (if it
  // looks the same, everything is re-marked).
  Status scan(bool network, bool notified, const char* trigger);

  FilesystemMarker& marker_;
  EventLog* log_;
  MountWatcherOptions options_;
  std::mutex scan_mu_;     // one scan at a time
  std::string last_text_;  // guarded by scan_mu_
  mutable std::mutex mu_;
  std::vector<WatchedFilesystem> filesystems_;     // guarded by mu_
  std::vector<std::vector<int>> mount_ids_;        // guarded by mu_, parallel to filesystems_
  std::shared_ptr<const census::MountView> view_;  // guarded by mu_
  UniqueFd wake_fd_;
  std::atomic<bool> stopping_{false};
};

}  // namespace tollgate::enforcer
