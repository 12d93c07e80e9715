// Which filesystems are watched, as `sweep` and `doctor` need it: what the
// running daemon reports it has marked (`tollgate status`, "filesystems"),
// else what the configuration's `watch:` selects in this namespace's mount
// table (census/mounts.h), which is what the daemon would mark.
//
//   auto w = watched_filesystems(settings, mounts);
//   if (!w.from_daemon) fmt::print(stderr, "{}\n", w.note);
//
// Not thread-safe (CLI).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "census/mounts.h"
#include "control/protocol.h"
#include "tools/admin.h"

namespace tollgate::tools {

struct Watched {
  std::vector<dev_t> devices;
  bool from_daemon = false;
  std::string note;  // why the config was used instead of the daemon
  // The daemon's status, when it answered; otherwise why not, and whether
  // it runs but refused us (not root, not admin_group).
  std::optional<control::StatusReply> status;
  std::string daemon_error;
  bool daemon_refused = false;
};

// The filesystems the daemon reports as marked.
std::vector<dev_t> marked_devices(const control::StatusReply& status);

// Asks the daemon at settings.socket (control::Client) once.
Watched watched_filesystems(const Settings& settings, const std::vector<census::MountEntry>& mounts);

}  // namespace tollgate::tools
