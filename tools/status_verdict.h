// The one-line health verdict `tollgate status` prints first, computed from
// the daemon's status object (enforcer control socket, {"cmd":"status"}).
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace tollgate::tools {

// "health: OK ...", "health: WARNING ..." or "health: DEGRADED ...": the
// worst finding, in this order: no database loaded, kernel queue overflows,
// event-log lines dropped, decisions answered by on_error (errors,
// timeouts); otherwise what the mode means for the admin right now.
std::string health_verdict(const nlohmann::json& status);

}  // namespace tollgate::tools
