// Build identity of tollgated.
#pragma once

namespace tollgate::enforcer {
const char* version();
}  // namespace tollgate::enforcer
