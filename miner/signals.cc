#include "miner/signals.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "miner/markers.h"

namespace tollgate::miner {
namespace {

using enum Signal;

// Weights (docs/miner-detection.md explains each). A suspect needs 50:
// one strong signal (a blocklisted hash, a stratum URL, an open MSR
// device), or two medium ones, or a medium one with context.
const std::vector<SignalInfo> kSignals = {
    {kKnownBad, "known-bad", 100, true, "hash on an imported blocklist"},
    {kStratumUrl, "stratum-url", 60, true, "mining-pool URL"},
    {kMsrDevice, "msr-device", 50, true, "CPU model-specific registers open, as miners tune the CPU"},
    {kPoolHost, "pool-host", 40, true, "well-known mining pool"},
    {kFakeKernelThread, "fake-kernel-thread", 40, true, "a user process named like a kernel thread"},
    {kStratumPort, "stratum-port", 40, true, "connected to a typical stratum port"},
    {kAlgorithm, "algorithm", 30, true, "proof-of-work algorithm name"},
    {kMinerConfig, "miner-config", 30, true, "miner configuration key"},
    {kBusyCpu, "busy-cpu", 20, true, "a core held busy"},
    {kHugePages, "huge-pages", 20, true, "huge pages reserved, as memory-hard miners do"},
    {kMinerName, "miner-name", 20, false, "context: name"},
    {kKernelThreadName, "kernel-thread-name", 15, false, "context: name"},
    {kTempDir, "temp-dir", 10, false, "context: location"},
    {kHiddenName, "hidden-name", 10, false, "context: location"},
    {kDeletedFile, "deleted-file", 10, false, "context: location"},
    {kWebUser, "web-user", 10, false, "context: user"},
    {kWebLauncher, "web-launcher", 10, false, "context: launcher"},
    {kDownloader, "downloader", 10, false, "context: launcher"},
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "php-fpm8.2" and "php8.2" count as php-fpm and php.
bool process_is(std::string_view exe, std::string_view name) {
  std::string base = lower(base_name(exe));
  if (base == name) return true;
  if (!base.starts_with(name)) return false;
  char next = base[name.size()];
  return std::isdigit(static_cast<unsigned char>(next)) || next == '.' || next == ':';
}

// The first hidden component of `path`: "runs from a hidden directory" or
// "hidden file name"; "" when there is none ("/./" and "/../" are not hidden).
std::string hidden_component(std::string_view path) {
  for (size_t pos = 0; (pos = path.find("/.", pos)) != std::string_view::npos; ++pos) {
    size_t end = path.find('/', pos + 1);
    std::string_view comp =
        path.substr(pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
    if (comp != "." && comp != ".." && !comp.empty())
      return end == std::string_view::npos ? "hidden file name" : "runs from a hidden directory";
  }
  return {};
}

}  // namespace

const SignalInfo& info(Signal signal) {
  for (const auto& s : kSignals)
    if (s.signal == signal) return s;
  return kSignals.front();  // unreachable: every enumerator has a row (signals_test)
}

std::optional<Signal> signal_from_id(std::string_view id) {
  for (const auto& s : kSignals)
    if (s.id == id) return s.signal;
  return std::nullopt;
}

const std::vector<SignalInfo>& all_signals() { return kSignals; }

bool Assessment::has_evidence() const {
  return std::ranges::any_of(reasons, [](const Reason& r) { return info(r.signal).evidence; });
}

std::string Assessment::strongest() const { return reasons.empty() ? std::string() : reasons.front().text; }

std::vector<std::string> Assessment::reason_lines() const {
  std::vector<std::string> out;
  for (const auto& r : reasons) {
    const auto& i = info(r.signal);
    out.push_back(fmt::format("{} ({}, +{})", r.text, i.summary, i.weight));
  }
  return out;
}

std::vector<Reason> context_reasons(const Context& c) {
  std::vector<Reason> out;
  std::string path = c.path;
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) {
    out.push_back({kDeletedFile, "runs from a deleted file"});
    path.resize(path.size() - kDeleted.size());
  }
  std::string base = lower(base_name(path));
  for (auto name : miner_names()) {
    if (base.find(name) != std::string::npos) {
      out.push_back({kMinerName, fmt::format("name matches known miner '{}'", name)});
      break;
    }
  }
  if (looks_like_kernel_thread(base_name(path)))
    out.push_back({kKernelThreadName, fmt::format("file named like a kernel thread ('{}')", base_name(path))});
  for (auto dir : temp_dirs())
    if (path.starts_with(dir)) out.push_back({kTempDir, fmt::format("runs from {}", dir.substr(0, dir.size() - 1))});
  if (auto hidden = hidden_component(path); !hidden.empty()) out.push_back({kHiddenName, hidden});
  for (const auto& user : c.user_names)
    for (auto web : web_users())
      if (user == web) out.push_back({kWebUser, fmt::format("launched as web-server user {}", user)});
  for (const auto& exe : c.launchers) {
    for (auto web : web_processes())
      if (process_is(exe, web)) out.push_back({kWebLauncher, fmt::format("launched by web-server process {}", exe)});
    for (auto dl : downloaders())
      if (process_is(exe, dl)) out.push_back({kDownloader, fmt::format("launched by downloader {}", exe)});
  }
  return out;
}

Assessment assess(std::vector<Reason> evidence, const Context& context) {
  Assessment a;
  auto add = [&](Reason r) {
    if (std::ranges::find(a.reasons, r) == a.reasons.end()) a.reasons.push_back(std::move(r));
  };
  for (auto& r : evidence) add(std::move(r));
  if (a.has_evidence())
    for (auto& r : context_reasons(context)) add(std::move(r));
  std::set<Signal> counted;
  for (const auto& r : a.reasons)
    if (counted.insert(r.signal).second) a.score += info(r.signal).weight;
  std::ranges::stable_sort(a.reasons, [](const Reason& x, const Reason& y) {
    const auto &ix = info(x.signal), &iy = info(y.signal);
    if (ix.weight != iy.weight) return ix.weight > iy.weight;
    return ix.evidence && !iy.evidence;
  });
  a.suspect = a.has_evidence() && a.score >= kSuspectScore;
  return a;
}

}  // namespace tollgate::miner
