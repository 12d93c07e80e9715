#include "miner/runtime.h"

#include <fmt/core.h>

#include <algorithm>

#include "miner/markers.h"

namespace tollgate::miner {

std::vector<Reason> runtime_evidence(const ProcessFacts& f) {
  std::vector<Reason> out;
  if (f.kernel_thread) return out;
  for (const auto& dev : f.msr_devices) out.push_back({Signal::kMsrDevice, fmt::format("holds {} open", dev)});
  for (const std::string* name : {&f.comm, &f.argv0}) {
    if (!name->empty() && looks_like_kernel_thread(*name)) {
      out.push_back({Signal::kFakeKernelThread, fmt::format("user process named '{}' like a kernel thread (exe {})",
                                                            *name, f.exe.empty() ? "unknown" : f.exe)});
      break;
    }
  }
  const auto ports = stratum_ports();
  for (const auto& c : f.connections)
    if (std::ranges::find(ports, c.port) != ports.end())
      out.push_back({Signal::kStratumPort, fmt::format("connected to {} (a stratum port)", c.remote)});
  if (f.cpu_cores && *f.cpu_cores >= kBusyCores)
    out.push_back({Signal::kBusyCpu, fmt::format("held {:.2f} cores busy over {:.1f} s", *f.cpu_cores, f.window_s)});
  if (f.hugetlb_kb > 0)
    out.push_back({Signal::kHugePages, fmt::format("holds {} KiB of huge pages (hugetlb)", f.hugetlb_kb)});
  return out;
}

Assessment assess_process(const ProcessFacts& facts, Context context) {
  if (context.path.empty()) context.path = facts.exe;
  return assess(runtime_evidence(facts), context);
}

}  // namespace tollgate::miner
