// The compile status line on stderr ("compile: 120/800 files, 1.2 GiB
// hashed, 900.0 MiB/s, ETA 3s"), drawn from policy::CompileProgress reports.
//
//   options.progress = terminal_progress(!json && ::isatty(STDERR_FILENO));
//
// Not thread-safe; the compiler calls it from one thread.
#pragma once

#include "policy/compiler.h"

namespace tollgate::tools {

// The drawer when `enabled` (a terminal that is not reading JSON), else empty.
policy::ProgressFn terminal_progress(bool enabled);

}  // namespace tollgate::tools
