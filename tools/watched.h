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

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "census/mounts.h"
#include "tools/admin.h"

namespace tollgate::tools {

struct Watched {
  std::vector<dev_t> devices;
  bool from_daemon = false;
  std::string note;                      // why the config was used instead of the daemon
  std::optional<nlohmann::json> status;  // the daemon's status object, when it answered
};

// `devices` as the daemon reports them ("M:m" strings of marked filesystems).
std::vector<dev_t> marked_devices(const nlohmann::json& status);

Watched watched_filesystems(const Settings& settings, const std::vector<census::MountEntry>& mounts);

}  // namespace tollgate::tools
