// tollgate refresh [--pre]: the apt hook. Recompile the configured manifest,
// install it and reload the daemon; around a dpkg run, open (--pre) and
// close the upgrade window. docs/upgrades.md explains the window.
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>

#include "common/io.h"
#include "control/client.h"
#include "tools/admin.h"
#include "tools/approvals.h"
#include "tools/command.h"
#include "tools/policy_install.h"
#include "tools/trust_report.h"

namespace tollgate::tools {
namespace {

constexpr const char* kHookUser = "apt-hook";

// The window marker lives beside the control socket (/run/tollgate), so a
// reboot in the middle of an upgrade forgets it and the daemon starts in the
// configured mode.
std::string window_marker(const Settings& s) { return parent_dir(s.socket) + "/upgrade-window"; }

Result<control::ModeReply> set_mode(const Settings& s, policy::Mode mode) {
  return control::accepted(control::Client(s.socket).set_mode(mode, kHookUser, /*forced=*/false),
                           fmt::format("tollgated refused {} mode", policy::to_string(mode)));
}

class RefreshCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kDbOption | kSocketOption);
    app.add_flag("--pre", pre_, "Open the upgrade window (apt's DPkg::Pre-Invoke): enforce -> audit until refresh");
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
    return pre_ ? open_window(*settings_) : refresh(*settings_);
  }

 private:
  int open_window(const Settings& s) {
    auto status = control::Client(s.socket).status();
    if (!status) {
      if (status.error().code() == ErrorCode::kUnavailable) return kExitOk;  // nothing to open
      return report(status.error());
    }
    if (!*status || (*status)->mode != policy::Mode::kEnforce) return kExitOk;
    // The marker first: if the switch below succeeds and we crash, the
    // Post-Invoke still knows to switch back.
    if (auto st = write_file_atomic(window_marker(s), "enforce\n", 0600); !st) return report(st.error());
    if (auto r = set_mode(s, policy::Mode::kAudit); !r) return report(r.error());
    fmt::print("tollgate: upgrade window open: tollgated audits (logs, does not deny) until 'tollgate refresh'\n");
    return kExitOk;
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
      } else {
        // Keep going: the window must close even when the compile fails
        // (the daemon keeps its previous policy).
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
          .example = "  sudo tollgate refresh            # after installing software by hand\n"
                     "  sudo tollgate refresh --pre      # what apt's DPkg::Pre-Invoke runs\n",
          .needs = Access::kAdmin,
          .make = [] { return std::make_unique<RefreshCommand>(); }};
}

}  // namespace tollgate::tools
