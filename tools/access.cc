#include "tools/access.h"

#include <fmt/core.h>
#include <unistd.h>

#include "common/host.h"
#include "control/client.h"

namespace tollgate::tools {

Status check_access(const Requirement& need, const config::Config* config, std::string_view command) {
  if (need.access == Access::kAnyone || ::geteuid() == 0) return {};
  const std::string action = need.action.empty() ? std::string(command) : need.action;
  const std::string admin_group = config ? config->admin_group : "";
  if (need.access == Access::kRoot)
    return fail(ErrorCode::kPermission, fmt::format("'{}' needs root{}; run it with sudo", action,
                                                    need.why.empty() ? "" : " (" + need.why + ")"));
  if (admin_group.empty())
    return fail(ErrorCode::kPermission,
                fmt::format("'{}' needs root (no admin_group is configured in {}); run it with sudo", action,
                            config ? config->file_name() : config::kDefaultConfigPath));
  std::string why = fmt::format("'{}' needs root or group {}", action, admin_group);
  auto gid = group_id(admin_group);
  if (!gid) return fail(ErrorCode::kPermission, why + " (the group does not exist)");
  if (process_in_group(*gid)) return {};
  return fail(ErrorCode::kPermission, why);
}

int check_daemon(const config::Config& config) {
  auto reachable = control::Client(config.socket).reachable();
  if (reachable) return kExitOk;
  if (reachable.error().code() == ErrorCode::kUnavailable) {
    fmt::print(stderr, "tollgate: {}; start it with 'systemctl start tollgated'\n", reachable.error().message());
    return kExitDaemon;
  }
  return report(reachable.error());
}

}  // namespace tollgate::tools
