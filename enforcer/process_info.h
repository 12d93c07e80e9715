// What /proc says about the process that triggered a permission event, for
// its decision record (eventlog/builders.h, ProcessInfo: the schema's pid,
// ppid, uid, exe and comm fields). The /proc reading stays here, in the
// daemon's shell; the event log only names the fields.
//
//   DecisionRecord r;
//   r.process = read_process_info(event.pid);   // before the answer lets the exec proceed
//
// Thread-safe (reads /proc only).
#pragma once

#include <sys/types.h>

#include "eventlog/builders.h"

namespace tollgate::enforcer {

using eventlog::ProcessInfo;

// Reads /proc/PID/{exe,comm,status}; fields it cannot read stay empty/0.
ProcessInfo read_process_info(pid_t pid);

}  // namespace tollgate::enforcer
