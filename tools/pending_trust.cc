#include "tools/pending_trust.h"

#include <fmt/core.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>

#include "common/host.h"
#include "common/time.h"
#include "control/client.h"
#include "eventlog/builders.h"
#include "eventlog/writer.h"
#include "policy/manifest.h"
#include "policy/state_store.h"
#include "policy/trust_sources.h"
#include "tools/command.h"

namespace tollgate::tools {

bool DpkgScope::covers(const DebInfo& deb) const {
  if (all) return true;
  return std::any_of(packages.begin(), packages.end(), [&](const std::string& p) {
    auto colon = p.find(':');
    if (colon == std::string::npos) return p == deb.package;
    return p.substr(0, colon) == deb.package && p.substr(colon + 1) == deb.architecture;
  });
}

Result<std::optional<DpkgScope>> dpkg_scope(const config::Config& settings) {
  if (settings.manifest.empty() || ::access(settings.manifest.c_str(), F_OK) != 0) return std::optional<DpkgScope>();
  auto manifest = policy::load_manifest(settings.manifest);
  if (!manifest) return std::unexpected(manifest.error());
  DpkgScope scope{.manifest = settings.manifest};
  bool any = false;
  const int64_t now = now_us() / 1000000;
  for (const auto& e : manifest->entries) {
    if (e.kind != policy::EntryKind::kPackageManager || e.action != hashdb::Action::kAllow || e.expired(now)) continue;
    any = true;
    if (e.packages.empty()) scope.all = true;
    scope.packages.insert(scope.packages.end(), e.packages.begin(), e.packages.end());
  }
  if (!any) return std::optional<DpkgScope>();
  return std::optional<DpkgScope>(std::move(scope));
}

Result<DebPending> pending_for_deb(const std::string& deb, const DpkgScope& scope) {
  // The dpkg trust source's own match (policy/trust_sources.h): the same files.
  auto contents = read_deb(
      deb,
      [](const std::string& path, mode_t mode, std::string_view head) {
        return policy::file_matches(policy::DirMatch::kExecutables, mode, path, head);
      },
      [&](const DebInfo& info) { return scope.covers(info); });
  if (!contents) return std::unexpected(contents.error());
  DebPending out{.info = std::move(contents->info), .covered = contents->data_read};
  if (!out.covered) return out;
  out.files.reserve(contents->files.size() + contents->scripts.size());
  for (auto& f : contents->files)
    out.files.push_back({f.sha256, out.info.package, out.info.version, std::move(f.path)});
  for (const auto& f : contents->scripts)
    out.files.push_back({f.sha256, out.info.package, out.info.version, std::string(policy::kControlPrefix) + f.path});
  for (const auto& f : out.files)
    if (auto st = policy::validate_pending_file(f, deb); !st) return std::unexpected(st.error());
  return out;
}

namespace {

// tollgated is not running: the set goes where its next start reads it.
Result<HandOver> store_for_next_start(const config::Config& settings, std::vector<policy::PendingFile> files,
                                      const std::string& by) {
  policy::StateStore state(settings.state_dir);
  if (auto st = state.prepare(); !st) return std::unexpected(st.error());
  auto stored = state.load_pending();
  if (!stored) return std::unexpected(stored.error());
  policy::PendingTrust set;
  const int64_t now = now_us() / 1000000;
  if (*stored && (*stored)->expires_at > now) set = std::move(**stored);
  auto packages = policy::pending_packages(files);
  auto added = policy::merge_pending(set.files, std::move(files), state.pending_file());
  if (!added) return std::unexpected(added.error());
  set.expires_at = now + settings.pending_trust_ttl.count();
  if (auto st = state.save_pending(set); !st) return std::unexpected(st.error());
  HandOver out{.daemon = false,
               .reply = {.added = *added,
                         .files = set.files.size(),
                         .packages = policy::pending_packages(set.files),
                         .expires = format_rfc3339(set.expires_at * 1000000)}};
  auto event = eventlog::pending_trust_event(host_name(), {.action = "add",
                                                           .reason = "request",
                                                           .by = by,
                                                           .by_uid = static_cast<int64_t>(::getuid()),
                                                           .files = *added,
                                                           .total = set.files.size(),
                                                           .packages = std::move(packages),
                                                           .expires = out.reply.expires});
  if (auto st = eventlog::append_event(settings.event_log, event); !st)
    fmt::print(stderr, "tollgate: warning: {}\n", st.error().message());
  return out;
}

}  // namespace

Result<HandOver> hand_over(const config::Config& settings, std::vector<policy::PendingFile> files,
                           const std::string& by) {
  // A large set is a large request: a minute, not the default five seconds.
  control::Client daemon(settings.socket, 60000);
  if (auto up = daemon.reachable(); !up) {
    if (up.error().code() != ErrorCode::kUnavailable) return std::unexpected(up.error());
    return store_for_next_start(settings, std::move(files), by);
  }
  auto reply = control::accepted(daemon.trust_pending(std::move(files), by), "tollgated refused the pending trust");
  if (!reply) return std::unexpected(reply.error());
  return HandOver{.daemon = true, .reply = std::move(*reply)};
}

std::vector<std::string> debs_from_apt_hook(std::string_view input) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    lines.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  size_t first = 0;
  if (!lines.empty() && lines[0].starts_with("VERSION ")) {
    // The configuration dump runs up to the first blank line.
    first = 1;
    while (first < lines.size() && !lines[first].empty()) ++first;
    ++first;
  }
  std::vector<std::string> debs;
  for (size_t i = first; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    auto space = line.rfind(' ');
    std::string_view last = space == std::string_view::npos ? line : line.substr(space + 1);
    if (last.starts_with('/') && last.ends_with(".deb")) debs.emplace_back(last);
  }
  return debs;
}

namespace {

// The hook's failures must be seen: apt's output and the journal.
class Reporter {
 public:
  explicit Reporter(bool apt_hook) : apt_hook_(apt_hook) {
    if (apt_hook_) ::openlog("tollgate", LOG_PID, LOG_AUTHPRIV);
  }
  ~Reporter() {
    if (apt_hook_) ::closelog();
  }
  void problem(const std::string& line) {
    fmt::print(stderr, "tollgate: {}\n", line);
    if (apt_hook_) ::syslog(LOG_WARNING, "trust-debs: %s", line.c_str());
  }
  void note(const std::string& line) { fmt::print(stderr, "tollgate: {}\n", line); }
  // After a failure: what it means for the run.
  int failed(int code) {
    if (!apt_hook_) return code;
    problem(
        "pending trust is INCOMPLETE: enforcement stays on, so the new maintainer scripts of these packages, "
        "and binaries of theirs that a script runs, are denied until the Post-Invoke recompile ('tollgate "
        "refresh'; then 'apt-get -f install' finishes the configuration)");
    return kExitOk;  // apt must go on
  }

 private:
  bool apt_hook_;
};

}  // namespace

int trust_debs(const config::Config& settings, const std::vector<std::string>& debs, const std::string& by,
               bool apt_hook) {
  Reporter out(apt_hook);
  auto scope = dpkg_scope(settings);
  if (!scope) {
    out.problem(scope.error().message());
    return out.failed(exit_code_for(scope.error()));
  }
  if (!*scope) {
    std::string why = fmt::format(
        "the policy does not trust dpkg (no 'package_manager: dpkg' allow entry in {}): "
        "no pending trust; nothing was changed",
        settings.manifest);
    if (apt_hook) {
      out.note(why);  // a choice of the policy, not a failure
      return kExitOk;
    }
    out.problem(why);
    return kExitNo;
  }
  int status = kExitOk;
  std::vector<policy::PendingFile> files;
  size_t packages = 0;
  for (const auto& deb : debs) {
    auto got = pending_for_deb(deb, **scope);
    if (!got) {
      out.problem(got.error().message());
      status = exit_code_for(got.error());
      continue;
    }
    if (!got->covered) {
      out.note(fmt::format("{}: package {} is not among the packages {} trusts through dpkg: not trusted", deb,
                           got->info.package, (*scope)->manifest));
      continue;
    }
    ++packages;
    files.insert(files.end(), std::make_move_iterator(got->files.begin()), std::make_move_iterator(got->files.end()));
  }
  if (files.empty()) {
    if (packages == 0 && status == kExitOk) fmt::print("tollgate: no package to trust\n");
    return status == kExitOk ? kExitOk : out.failed(status);
  }
  const size_t count = files.size();
  auto done = hand_over(settings, std::move(files), by);
  if (!done) {
    out.problem(done.error().message());
    return out.failed(exit_code_for(done.error()));
  }
  fmt::print("tollgate: pending trust: {} files of {} packages {} ({} new; {} files pending until {})\n", count,
             packages,
             done->daemon
                 ? "handed to tollgated"
                 : "stored in " + policy::StateStore(settings.state_dir).pending_file() + " for tollgated's next start",
             done->reply.added, done->reply.files, done->reply.expires);
  return status == kExitOk ? kExitOk : out.failed(status);
}

}  // namespace tollgate::tools
