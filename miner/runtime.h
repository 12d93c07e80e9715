// The runtime signals: what a running, unapproved process does that miners
// do (docs/miner-detection.md). Pure: plain facts about one process in,
// reasons out; miner/proc_sample.h gathers the facts from /proc.
//
//   miner::ProcessFacts f = ...;                     // or miner::sample_process(...)
//   miner::Assessment a = miner::assess_process(f);  // context from f.exe
//   // a.reasons: "held 1.00 cores busy over 2.0 s", "connected to 203.0.113.7:3333 ..."
//
// Signals: a core held busy over the sampling window (kBusyCores of one
// core or more); an open /dev/cpu/N/msr; hugetlb pages; a TCP connection
// (established or connecting) to a typical stratum port; a comm or argv[0]
// that poses as a kernel thread in a process that is not one. A kernel
// thread itself yields nothing.
//
// Thread-safety: pure functions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "miner/signals.h"

namespace tollgate::miner {

// At least this share of one core, averaged over the window, is "busy".
inline constexpr double kBusyCores = 0.9;

struct Connection {
  std::string remote;  // "203.0.113.7:3333", "[2001:db8::1]:3333"
  uint16_t port = 0;   // remote port
  bool operator==(const Connection&) const = default;
};

struct ProcessFacts {
  pid_t pid = 0;
  std::string comm;                 // /proc/PID/comm
  std::string argv0;                // first word of /proc/PID/cmdline
  std::string exe;                  // /proc/PID/exe target; "" when unreadable
  bool kernel_thread = false;       // PF_KTHREAD
  std::optional<double> cpu_cores;  // CPU time / wall time over the window; nullopt: not sampled
  double window_s = 0;
  uint64_t hugetlb_kb = 0;               // HugetlbPages of /proc/PID/status
  std::vector<std::string> msr_devices;  // open fds on /dev/cpu/N/msr
  std::vector<Connection> connections;   // TCP sockets it holds, established or connecting
};

std::vector<Reason> runtime_evidence(const ProcessFacts& facts);

// runtime_evidence plus context; an empty context.path means facts.exe.
Assessment assess_process(const ProcessFacts& facts, Context context = {});

}  // namespace tollgate::miner
