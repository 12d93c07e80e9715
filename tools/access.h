// The checks main.cc runs before every command, from what the command
// declares (tools/command.h): who may run it, and whether tollgated must be
// running. The commands themselves never check permissions.
//
//   if (auto ok = check_access(command.requirement(spec.needs), command.settings(), spec.name); !ok)
//     return report(ok.error());                                // exit 6
//
// Not thread-safe (CLI, single thread).
#pragma once

#include <string_view>

#include "common/error.h"
#include "config/config.h"
#include "tools/command.h"

namespace tollgate::tools {

// kAnyone: ok. kRoot: ok for euid 0, else Permission "'ACTION' needs root
// (WHY); run it with sudo". kAdmin: ok for euid 0 and for members (real,
// effective or supplementary group) of `config`'s admin_group, else
// Permission "'ACTION' needs root or group G" (" (the group does not
// exist)" when it does not), or "'ACTION' needs root (no admin_group is
// configured in FILE); run it with sudo" without one. `command` names the
// action when the requirement does not.
Status check_access(const Requirement& need, const config::Config* config, std::string_view command);

// For needs_daemon commands: ok when tollgated accepts connections on the
// config's socket. Otherwise prints "tollgate: SOCKET: tollgated is not
// running (WHY); start it with 'systemctl start tollgated'" and returns
// kExitDaemon, or the exit code of another failure (6: the socket refuses
// us). Returns kExitOk to go on.
int check_daemon(const config::Config& config);

}  // namespace tollgate::tools
