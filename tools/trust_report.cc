#include "tools/trust_report.h"

#include <fmt/core.h>
#include <sys/stat.h>
#include <syslog.h>

#include "common/text.h"
#include "hashdb/keys.h"

namespace tollgate::tools {
namespace {

std::string labelled(const std::string& label) { return label.empty() ? "" : " (label " + label + ")"; }

}  // namespace

Result<policy::PolicyRules> snapshot_before_install(const std::string& database) {
  struct stat st {};
  if (::stat(database.c_str(), &st) != 0 && errno == ENOENT) return policy::PolicyRules{.path = database};
  return policy::read_policy_rules(database);
}

Result<std::vector<std::string>> newly_trusted_lines(policy::PolicyRules before, const std::string& database) {
  auto after = policy::read_policy_rules(database);
  if (!after) return std::unexpected(after.error());
  auto d = policy::diff_rules(std::move(before), std::move(*after));
  std::vector<std::string> lines;
  for (const auto& r : d.hash_added)
    if (r.action == hashdb::Action::kAllow)
      lines.push_back(printable(fmt::format("sha256 {} {}{}", hashdb::to_hex(r.sha256),
                                            r.origin_path.empty() ? "(by hash)" : r.origin_path, labelled(r.label))));
  for (const auto& r : d.path_added)
    if (r.action == hashdb::Action::kAllow)
      lines.push_back(printable(fmt::format("{} {}{}", r.match == hashdb::PathMatch::kExact ? "path" : "path_prefix",
                                            r.path, labelled(r.label))));
  for (const auto& s : d.signer_added)
    lines.push_back(printable(fmt::format("signer {}{}", hashdb::to_hex(s.key_id), labelled(s.label))));
  return lines;
}

void report_newly_trusted(const std::vector<std::string>& lines, bool to_syslog) {
  if (to_syslog) ::openlog("tollgate", LOG_PID, LOG_AUTHPRIV);
  fmt::print("tollgate: newly trusted: {} rule{}\n", lines.size(), lines.size() == 1 ? "" : "s");
  size_t shown = std::min(lines.size(), kMaxShown);
  for (size_t i = 0; i < shown; ++i) {
    fmt::print("  + {}\n", lines[i]);
    if (to_syslog) ::syslog(LOG_NOTICE, "refresh: newly trusted %s", lines[i].c_str());
  }
  if (lines.size() > shown) {
    fmt::print("  ... and {} more (tollgate db dump lists every rule)\n", lines.size() - shown);
    if (to_syslog) ::syslog(LOG_NOTICE, "refresh: ... and %zu more newly trusted rules", lines.size() - shown);
  }
  if (to_syslog) ::closelog();
}

void report_untrusted(const std::vector<policy::WritableFile>& files, uint64_t total, bool to_syslog) {
  if (total == 0) return;
  if (to_syslog) ::openlog("tollgate", LOG_PID, LOG_AUTHPRIV);
  fmt::print("tollgate: NOT trusted (an unprivileged user could have placed or changed them): {}\n", total);
  for (const auto& f : files) {
    std::string line = printable(fmt::format("{}: {} ({})", f.path, f.why, f.entry));
    fmt::print("  - {}\n", line);
    if (to_syslog) ::syslog(LOG_WARNING, "refresh: not trusted %s", line.c_str());
  }
  if (total > files.size())
    fmt::print("  ... and {} more (tollgate compile --json lists them)\n", total - files.size());
  if (to_syslog) ::closelog();
}

}  // namespace tollgate::tools
