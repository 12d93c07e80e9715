#include "enforcer/thread_priority.h"

#include <errno.h>
#include <fmt/core.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tollgate::enforcer {
namespace {

// linux/ioprio.h is not in every libc's headers.
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassIdle = 3;
constexpr int kIoprioClassShift = 13;

id_t self_tid() { return static_cast<id_t>(::gettid()); }

}  // namespace

Status set_thread_nice(int nice) {
  if (::setpriority(PRIO_PROCESS, self_tid(), nice) != 0)
    return fail_errno(errno, "nice", fmt::format("cannot set the reading thread's nice value to {}", nice));
  return {};
}

int thread_nice() {
  errno = 0;
  const int n = ::getpriority(PRIO_PROCESS, self_tid());
  return errno ? 0 : n;
}

void keep_thread_at_most_normal() {
  if (thread_nice() < 0) (void)::setpriority(PRIO_PROCESS, self_tid(), 0);
}

void make_thread_idle() {
  sched_param param{};
  if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0) (void)::setpriority(PRIO_PROCESS, self_tid(), 19);
  (void)::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, kIoprioClassIdle << kIoprioClassShift);
}

}  // namespace tollgate::enforcer
