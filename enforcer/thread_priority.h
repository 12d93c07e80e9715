// Per-thread CPU priorities of tollgated (docs/architecture.md, "Thread
// priorities"). Linux keeps the nice value per thread: setpriority on a
// thread id changes that thread only, and a new thread starts with the nice
// value of the thread that created it.
//
//   set_thread_nice(config.nice);     // the reading thread: answers every exec on the host
//   keep_thread_at_most_normal();     // hashing workers, the logger: never above normal
//   make_thread_idle();               // the content scanner: only when the CPU is idle
//
// Each applies to the calling thread only. Failures are returned (or, for
// the best-effort ones, ignored): a priority is a performance matter, never
// a reason to stop answering.
#pragma once

#include "common/error.h"

namespace tollgate::enforcer {

// setpriority(PRIO_PROCESS, gettid(), nice). Raising priority (nice < 0)
// needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (the shipped unit:
// LimitNICE=-20, no CAP_SYS_NICE). Errors name the value.
Status set_thread_nice(int nice);
// The calling thread's nice value.
int thread_nice();
// Raises the calling thread's nice to 0 when it is below (an inherited
// elevated priority, e.g. a unit with Nice=); leaves a higher one alone.
void keep_thread_at_most_normal();
// SCHED_IDLE (falling back to nice 19) and the idle I/O class.
void make_thread_idle();

}  // namespace tollgate::enforcer
