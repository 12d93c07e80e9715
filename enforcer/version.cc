#include "enforcer/version.h"

namespace tollgate::enforcer {
const char* version() { return TOLLGATE_VERSION; }
}  // namespace tollgate::enforcer
