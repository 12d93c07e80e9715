// The /proc adapter for the runtime signals (miner/runtime.h): reads
// PROC/PID/{stat,comm,cmdline,exe,status,fd/*} and PROC/PID/net/tcp{,6}
// (the process's own network namespace) under a configurable proc root, so
// tests hand in a fake tree and a census can read another pid namespace's
// /proc.
//
//   auto facts = miner::sample_process("/proc", pid, std::chrono::seconds(2));
//   if (facts) auto a = miner::assess_process(*facts);
//
//   // Many processes, one window (the sweep): snapshot all, wait once, snapshot again.
//   auto all = miner::sample_processes("/proc", pids, std::chrono::seconds(2));
//
// Bounded: at most kMaxFds descriptors are examined per process, and each
// /proc file is read up to a size cap; a process with more is judged on
// what was read. A pid that exits during the window, or is reused by
// another process (its start time changed), is left out.
//
// Thread-safety: no shared state; calls may run concurrently.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "miner/runtime.h"

namespace tollgate::miner {

inline constexpr size_t kMaxFds = 4096;

// One reading of a process.
struct ProcSnapshot {
  pid_t pid = 0;
  std::string comm, argv0, exe;
  bool kernel_thread = false;
  uint64_t cpu_ticks = 0;    // utime + stime, in clock ticks
  uint64_t start_ticks = 0;  // start time after boot, in clock ticks (identifies the process)
  uint64_t hugetlb_kb = 0;
  std::vector<std::string> msr_devices;
  std::vector<uint64_t> socket_inodes;
};

// Reads PROC/PID. Errors: NotFound when the process is gone; InvalidInput
// when its stat line cannot be parsed (naming the file).
Result<ProcSnapshot> read_snapshot(const std::string& proc_root, pid_t pid);

// The TCP sockets among `inodes` from PROC/PID/net/tcp and tcp6 that are
// established or connecting. Unreadable tables yield nothing.
std::vector<Connection> read_connections(const std::string& proc_root, pid_t pid, const std::vector<uint64_t>& inodes);

// Facts from two snapshots of the same process `window_s` apart; cpu_cores
// is the CPU time between them over the window.
ProcessFacts facts_from(const ProcSnapshot& first, const ProcSnapshot& last, double window_s, long ticks_per_second,
                        std::vector<Connection> connections);

// Snapshots each pid, waits `window`, snapshots again; connections from
// the second snapshot. Pids that vanished or were reused are left out.
std::vector<ProcessFacts> sample_processes(const std::string& proc_root, const std::vector<pid_t>& pids,
                                           std::chrono::milliseconds window);
Result<ProcessFacts> sample_process(const std::string& proc_root, pid_t pid, std::chrono::milliseconds window);

// Parses one line of /proc/net/tcp or tcp6 ("  0: 0100007F:0D05 0100007F:8F2C 01 ... 12345 ...").
// nullopt for the header or a malformed line.
struct TcpLine {
  std::string remote;
  uint16_t remote_port = 0;
  int state = 0;  // 1 ESTABLISHED, 2 SYN_SENT, ...
  uint64_t inode = 0;
};
std::optional<TcpLine> parse_tcp_line(std::string_view line);

}  // namespace tollgate::miner
