// The one-line health verdict `tollgate status` prints first, computed from
// the daemon's status object (control/protocol.h, StatusReply; {"cmd":"status"}).
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tollgate::tools {

// "health: OK ...", "health: WARNING ..." or "health: DEGRADED ...": the
// worst finding, in this order: the daemon's own DEGRADED health (the policy
// in force is not the live database as configured: its reason is quoted),
// no database loaded, kernel queue overflows,
// event-log lines dropped, decisions answered by on_error (errors,
// timeouts); otherwise what the mode means for the admin right now.
std::string health_verdict(const nlohmann::json& status);
// True for a "health: DEGRADED" verdict (`tollgate status` then exits 1).
bool is_degraded(const std::string& verdict);

}  // namespace tollgate::tools
