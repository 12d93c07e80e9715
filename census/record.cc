#include "census/record.h"

#include <chrono>

#include <fmt/chrono.h>
#include <fmt/core.h>

#include "miner/scan_record.h"

namespace tollgate::census {

std::string format_time_us(int64_t unix_us) {
  using namespace std::chrono;
  const sys_time<microseconds> t{microseconds(unix_us)};
  const auto secs = floor<seconds>(t);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", secs, (t - secs).count());
}

nlohmann::json to_json(const ProcessRecord& r) {
  nlohmann::json j = {{"finding", to_string(r.finding)},
                      {"pid", r.id.pid},
                      {"ppid", r.ppid},
                      {"uid", r.uid},
                      {"user", r.user},
                      {"exe", r.exe},
                      {"parent_exe", r.parent_exe},
                      {"comm", r.comm},
                      {"cmdline", r.cmdline},
                      {"start_time", format_time_us(r.start_time_us)},
                      {"reason", r.reason},
                      {"rule", r.rule},
                      {"sha256", r.sha256},
                      {"filesystem", r.filesystem}};
  if (!r.exempt.empty()) j["exempt"] = r.exempt;
  if (r.cpu_share) j["cpu_share"] = *r.cpu_share;
  if (r.rss_bytes) j["rss_bytes"] = *r.rss_bytes;
  if (r.miner) j["miner"] = miner::assessment_json(*r.miner);
  return j;
}

}  // namespace tollgate::census
