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

#include <string_view>

#include "eventlog/builders.h"

namespace tollgate::enforcer {

using eventlog::ProcessInfo;

// Reads /proc/PID/{exe,comm,status}; fields it cannot read stay empty/0.
ProcessInfo read_process_info(pid_t pid);

// Only the parent pid, from one read of /proc/PID/stat (the cheap read a
// coalesced repeat gets instead of read_process_info); 0 when unreadable.
pid_t read_ppid(pid_t pid);
// The ppid field of a /proc/PID/stat line ("42 (comm) S 7 ..."): after the
// last ')', since comm may hold spaces and parentheses; 0 when malformed.
pid_t parse_stat_ppid(std::string_view stat);

}  // namespace tollgate::enforcer
