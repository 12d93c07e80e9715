// tollgate refresh [--pre]: the apt hook's Post-Invoke. Recompile the
// configured manifest, install it and reload the daemon, then end the
// pending trust `trust-debs` gave the packages just unpacked
// (docs/upgrades.md). --pre is kept for hook files of older versions and
// changes nothing: the mode stays as it is; an audit window an older
// version opened (its marker) is still closed here.
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/io.h"
#include "control/client.h"
#include "policy/state_store.h"
#include "tools/admin.h"
#include "tools/approvals.h"
#include "tools/command.h"
#include "tools/policy_install.h"
#include "tools/trust_report.h"

namespace tollgate::tools {
namespace {

constexpr const char* kHookUser = "apt-hook";

// The marker of an audit window an older version's `refresh --pre` opened:
// beside the control socket (/run/tollgate). This version opens none, but
// still closes one left by an upgrade that straddled the update.
std::string window_marker(const Settings& s) { return parent_dir(s.socket) + "/upgrade-window"; }

Result<control::ModeReply> set_mode(const Settings& s, policy::Mode mode) {
  return control::accepted(control::Client(s.socket).set_mode(mode, kHookUser, /*forced=*/false),
                           fmt::format("tollgated refused {} mode", policy::to_string(mode)));
}

class RefreshCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kDbOption | kSocketOption);
    app.add_flag("--pre", pre_, "Kept for older apt hook files: does nothing (the mode is never switched)");
    app.add_flag("--syslog", syslog_, "Also log the newly trusted rules to syslog (authpriv; the apt hook)");
  }

  // Installed but not set up yet (no config file): nothing to do, and the
  // apt hook, whoever runs it, must stay quiet.
  Requirement requirement(Access declared) const override {
    return {.access = settings_->from_file() ? declared : Access::kAnyone};
  }

  int run() override {
    if (!settings_->from_file()) {
      fmt::print(stderr, "tollgate: not configured ({} is missing); nothing to refresh\n", settings_->file_name());
      return kExitOk;
    }
    if (pre_) {
      // Enforcement stays on through the dpkg run: trust-debs (the
      // Pre-Install-Pkgs hook) trusts the packages before they are unpacked.
      fmt::print(stderr, "tollgate: refresh --pre: nothing to do (the mode is no longer switched during upgrades)\n");
      return kExitOk;
    }
    return refresh(*settings_);
  }

 private:
  // The recompile landed: what trust-debs trusted is now in the policy
  // itself (the dpkg trust source), so the pending set ends.
  static void end_pending(const Settings& s) {
    control::Client daemon(s.socket);
    if (auto up = daemon.reachable(); up) {
      auto r = control::accepted(daemon.end_pending(kHookUser), "tollgated refused to end the pending trust");
      if (!r) fmt::print(stderr, "tollgate: {} (it ends by itself after pending_trust_ttl)\n", r.error().message());
      else if (r->ended > 0) fmt::print("tollgate: pending trust ended ({} files)\n", r->ended);
      return;
    }
    if (::geteuid() != 0) return;  // state_dir is root's
    policy::StateStore state(s.state_dir);
    auto st = state.prepare();
    if (st) st = state.save_pending({});
    if (!st)
      fmt::print(stderr,
                 "tollgate: warning: the pending trust is not ended: {} (it ends by itself after "
                 "pending_trust_ttl)\n",
                 st.error().message());
  }

  int refresh(const Settings& s) {
    int status = kExitOk;
    struct stat st {};
    if (!s.manifest.empty() && ::stat(s.manifest.c_str(), &st) != 0 && errno == ENOENT) {
      // The package's default config before the admin wrote a manifest, or a
      // fleet host that installs a policy compiled and signed in CI: nothing
      // to recompile, and the apt hook must stay quiet. The window still closes.
      fmt::print(stderr, "tollgate: no manifest at {}: nothing to recompile, the installed policy stays\n", s.manifest);
    } else {
      std::optional<ApprovalsLock> lock;
      if (!s.approvals.empty()) {
        auto acquired = ApprovalsLock::acquire(s.approvals);
        if (!acquired) return report(acquired.error());
        lock.emplace(std::move(*acquired));
      }
      auto before = snapshot_before_install(s.database);  // to list what this install newly trusts
      auto installed = compile_and_install(s);
      if (installed) {
        fmt::print("tollgate: {}\n", describe_install(s, *installed));
        auto added = before ? newly_trusted_lines(std::move(*before), s.database)
                            : Result<std::vector<std::string>>(std::unexpected(before.error()));
        if (added) report_newly_trusted(*added, syslog_);
        else fmt::print(stderr, "tollgate: cannot list the newly trusted rules: {}\n", added.error().message());
        report_untrusted(installed->summary.untrusted_writable, installed->summary.untrusted_writable_total, syslog_);
        end_pending(s);
      } else {
        // Keep going: an old window must close even when the compile fails
        // (the daemon keeps its previous policy, and the pending trust until
        // its TTL, so `apt-get -f install` can still finish).
        fmt::print(stderr, "tollgate: refresh failed, the previous policy stays: {}\n", installed.error().message());
        status = exit_code_for(installed.error());
      }
    }
    std::string marker = window_marker(s);
    if (::stat(marker.c_str(), &st) != 0) return status;
    auto r = set_mode(s, policy::Mode::kEnforce);
    if (!r && r.error().code() != ErrorCode::kUnavailable) {
      // E.g. the new policy would lock out sshd: stay in audit, loudly.
      fmt::print(stderr, "tollgate: upgrade window NOT closed, tollgated stays in audit: {}\n", r.error().message());
      return kExitNo;
    }
    ::unlink(marker.c_str());
    if (r) fmt::print("tollgate: upgrade window closed: tollgated enforces again\n");
    return status;
  }

  bool pre_ = false;
  bool syslog_ = false;
};

}  // namespace

CommandSpec refresh_command() {
  return {.name = "refresh",
          .summary = "Recompile the configured policy and reload (the apt hook)",
          .example = "  sudo tollgate refresh            # after installing software by hand\n",
          .needs = Access::kAdmin,
          .make = [] { return std::make_unique<RefreshCommand>(); }};
}

}  // namespace tollgate::tools
