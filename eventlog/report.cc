#include "eventlog/report.h"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <tuple>

namespace tollgate::eventlog {
namespace {

constexpr std::array<std::string_view, 16> kMinerNames = {
    "xmrig",   "minerd",      "cpuminer", "nbminer", "t-rex",      "lolminer", "phoenixminer", "kdevtmpfsi",
    "kinsing", "ethminer",    "ccminer",  "cgminer", "bfgminer",   "nanominer", "gminer",      "xmr-stak"};
constexpr std::array<std::string_view, 3> kTempDirs = {"/tmp/", "/var/tmp/", "/dev/shm/"};
constexpr std::array<std::string_view, 6> kWebUsers = {"www-data", "nginx", "apache", "http", "httpd", "php-fpm"};
constexpr std::array<std::string_view, 6> kWebProcesses = {"nginx", "apache2", "httpd", "php-fpm", "php", "lighttpd"};
constexpr std::array<std::string_view, 2> kDownloaders = {"curl", "wget"};

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

}  // namespace

MinerAssessment assess_miner(const BinaryReport& b) {
  MinerAssessment m;
  auto add = [&](std::string reason) {
    if (std::find(m.reasons.begin(), m.reasons.end(), reason) == m.reasons.end()) m.reasons.push_back(std::move(reason));
  };
  std::string path = b.path;
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.ends_with(kDeleted)) {
    add("runs from a deleted file");
    path.resize(path.size() - kDeleted.size());
  }
  std::string base = lower(base_name(path));
  for (auto name : kMinerNames) {
    if (base.find(name) != std::string::npos) {
      add(fmt::format("name matches known miner '{}'", name));
      break;
    }
  }
  for (auto dir : kTempDirs) {
    if (path.starts_with(dir)) add(fmt::format("runs from {}", dir.substr(0, dir.size() - 1)));
  }
  for (size_t pos = 0; (pos = path.find("/.", pos)) != std::string::npos; ++pos) {
    // "/./" and "/../" are not hidden names; the path is resolved anyway.
    size_t end = path.find('/', pos + 1);
    std::string_view comp = std::string_view(path).substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    if (comp != "." && comp != "..") {
      add(end == std::string::npos ? "hidden file name" : "runs from a hidden directory");
      break;
    }
  }
  for (const auto& u : b.users) {
    for (auto web : kWebUsers) {
      if (u.name == web) add(fmt::format("launched as web-server user {}", u.name));
    }
  }
  for (const auto& l : b.launchers) {
    for (auto web : kWebProcesses) {
      if (process_is(l.exe, web)) add(fmt::format("launched by web-server process {}", l.exe));
    }
    for (auto dl : kDownloaders) {
      if (process_is(l.exe, dl)) add(fmt::format("launched by downloader {}", l.exe));
    }
  }
  m.suspect = !m.reasons.empty();
  return m;
}

void ReportBuilder::add(const Event& e) {
  if (!e.denied_or_would()) return;
  if (options_.since_us && e.ts_us < *options_.since_us) return;
  ++decisions_;
  auto& acc = by_key_[{e.sha256, e.path}];
  auto& r = acc.row;
  if (r.count == 0) {
    r.path = e.path;
    r.sha256 = e.sha256;
    r.first_us = r.last_us = e.ts_us;
    r.first_seen = r.last_seen = e.ts;
  }
  ++r.count;
  if (e.decision == policy::Verdict::kDeny) ++r.denied;
  else ++r.would_deny;
  if (e.size) r.size = e.size;
  if (e.ts_us < r.first_us) {
    r.first_us = e.ts_us;
    r.first_seen = e.ts;
  }
  if (e.ts_us >= r.last_us) {
    r.last_us = e.ts_us;
    r.last_seen = e.ts;
    r.rule = e.rule;
  }
  if (!e.exe.empty()) ++acc.launchers[e.exe];
  if (e.uid >= 0) ++acc.users[e.uid];
}

Report ReportBuilder::finish() && {
  Report report;
  report.since_us = options_.since_us;
  report.decisions = decisions_;
  for (auto& [key, acc] : by_key_) {
    auto& r = acc.row;
    for (const auto& [exe, n] : acc.launchers) r.launchers.push_back({exe, n});
    std::stable_sort(r.launchers.begin(), r.launchers.end(),
                     [](const LauncherCount& a, const LauncherCount& b) { return a.count > b.count; });
    for (const auto& [uid, n] : acc.users)
      r.users.push_back({uid, options_.user_name ? options_.user_name(uid) : std::string(), n});
    std::stable_sort(r.users.begin(), r.users.end(),
                     [](const UserCount& a, const UserCount& b) { return a.count > b.count; });
    r.miner = assess_miner(r);
    report.binaries.push_back(std::move(r));
  }
  std::sort(report.binaries.begin(), report.binaries.end(), [](const BinaryReport& a, const BinaryReport& b) {
    return std::tuple(b.count, b.last_us, a.path, a.sha256) < std::tuple(a.count, a.last_us, b.path, b.sha256);
  });
  return report;
}

Report build_report(const std::vector<Event>& events, const ReportOptions& options) {
  ReportBuilder builder(options);
  for (const auto& e : events) builder.add(e);
  return std::move(builder).finish();
}

}  // namespace tollgate::eventlog
