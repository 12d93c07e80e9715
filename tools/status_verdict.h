// The one-line health verdict `tollgate status` prints first, computed from
// the daemon's status object (control/protocol.h, StatusReply; {"cmd":"status"}).
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tollgate::tools {

// "health: OK ...", "health: WARNING ..." or "health: DEGRADED ...": the
// worst finding, in this order: the daemon's own DEGRADED health (the policy
// in force is not the live database as configured: its reason is quoted),
// no database loaded, kernel queue overflows,
// event-log lines dropped, a watched filesystem tollgated could not mark,
// decisions answered by on_error (errors, timeouts); otherwise what the mode
// means for the admin right now. `holes`: the open holes `tollgate doctor`
// names (tools/doctor.h, open_holes), appended as
// "; 2 holes open (memfd exec, user namespaces): run tollgate doctor".
std::string health_verdict(const nlohmann::json& status, const std::vector<std::string>& holes = {});
// True for a "health: DEGRADED" verdict (`tollgate status` then exits 1).
bool is_degraded(const std::string& verdict);

}  // namespace tollgate::tools
