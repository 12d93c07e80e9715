// Facts about this host and its accounts that the daemon and the CLI both
// need: the host name written into every event, and group lookups for the
// admin_group checks (the control socket's peer, the CLI's own caller).
//
//   std::string host = host_name();                      // "web1"
//   if (auto gid = group_id(config.admin_group)) ...     // nullopt: no such group
//
// Thread-safe (reentrant libc calls only).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace tollgate {

// gethostname(2); "unknown" when it fails. "unknown" rather than
// "localhost": in a fleet's collected logs a real-looking name that every
// host shares would be mistaken for one machine.
std::string host_name();

// The gid of group `name` (getgrnam_r); nullopt when the name is empty or
// no such group exists.
std::optional<gid_t> group_id(const std::string& name);

// True when this process's real or effective gid, or one of its
// supplementary groups, is `gid`.
bool process_in_group(gid_t gid);

}  // namespace tollgate
