// tollgate mode audit|enforce: switch the daemon, after proving (by replaying
// the recent history and checking for lockout) that enforcement will not
// break the server; persist the mode in the config and record the switch.
// `mode audit --for DURATION`: a time-boxed audit window in the running
// daemon only, which returns to enforce by itself (docs/upgrades.md).
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>

#include "common/host.h"
#include "common/io.h"
#include "control/client.h"
#include "eventlog/builders.h"
#include "eventlog/writer.h"
#include "policy/facts.h"
#include "policy/lockout.h"
#include "tools/admin.h"
#include "tools/approvals.h"
#include "tools/command.h"
#include "tools/config_edit.h"
#include "tools/policy_install.h"

namespace tollgate::tools {
namespace {

class ModeCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kDbOption | kLogOption | kSocketOption);
    app.add_option("mode", mode_, "audit or enforce")->required()->check(CLI::IsMember({"audit", "enforce"}));
    app.add_flag("--force", force_,
                 "Switch to enforce even though the recent history has binaries it would deny (never overrides "
                 "the lockout check)");
    app.add_option("--since", since_, "History replayed before enforcing (30m, 24h, 7d)")->capture_default_str();
    app.add_option("--for", for_,
                   "With audit: only for this long (10m, 1h; at most 24h), then tollgated enforces again by itself; "
                   "the config file is not changed");
  }

  int prepare() override {
    if (int rc = ConfiguredCommand::prepare(); rc != kExitOk) return rc;
    if (for_.empty()) return kExitOk;
    if (mode_ != "audit") {
      fmt::print(stderr, "tollgate: --for applies to 'mode audit' only\n");
      return kExitUsage;
    }
    auto d = parse_duration(for_);
    if (!d) return usage_error(d.error());
    if (d->count() < 1 || d->count() > control::kMaxTimedAuditSeconds) {
      fmt::print(stderr, "tollgate: --for '{}': use a duration from 1s to 24h\n", for_);
      return kExitUsage;
    }
    duration_ = *d;
    return kExitOk;
  }

  int run() override {
    if (duration_.count() > 0) return run_timed();
    auto& settings = settings_;
    // Serialise with approve/revoke: the database must not change between
    // the pre-flight and the switch.
    std::optional<ApprovalsLock> lock;
    if (!settings->approvals.empty()) {
      auto acquired = ApprovalsLock::acquire(settings->approvals);
      if (!acquired) return report(acquired.error());
      lock.emplace(std::move(*acquired));
    }
    bool forced = false;
    if (mode_ == "enforce") {
      int preflight = enforce_preflight(*settings, forced);
      if (preflight != kExitOk) return preflight;
    }
    std::string by = invoking_user();
    const policy::Mode to = *policy::parse_mode(mode_);
    auto answer = control::Client(settings->socket).set_mode(to, by, forced);
    bool daemon_running = true;
    if (!answer) {
      if (answer.error().code() != ErrorCode::kUnavailable) return report(answer.error());
      daemon_running = false;
    } else if (!*answer) {
      fmt::print(stderr, "tollgate: {}\n", answer->error().to_error().message());
      return kExitNo;
    }
    if (!daemon_running) {
      // Nobody else will record the switch.
      auto event = eventlog::mode_event(host_name(), settings->mode, to, by, forced, ::getuid());
      if (auto st = eventlog::append_event(settings->event_log, event); !st)
        fmt::print(stderr, "tollgate: warning: could not record the switch: {}\n", st.error().message());
    }
    std::string persisted;
    if (settings->from_file()) {
      auto text = read_file(settings->file_name());
      if (!text) return report(text.error());
      struct stat st {};
      mode_t perms = ::stat(settings->file_name().c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
      if (auto w = write_file_atomic(settings->file_name(), set_config_mode(*text, mode_), perms); !w)
        return report(w.error());
      persisted = "persisted in " + settings->file_name();
    } else {
      persisted = "NOT persisted: " + settings->file_name() + " does not exist";
    }
    fmt::print("mode {} -> {}{} by {}; {}; {}\n", policy::to_string(settings->mode), mode_, forced ? " (forced)" : "",
               by, daemon_running ? "tollgated switched" : "tollgated is not running (it starts in this mode)",
               persisted);
    return kExitOk;
  }

 private:
  // Lockout check, then replay. Returns kExitOk to go ahead.
  int enforce_preflight(const Settings& settings, bool& forced) {
    auto db = open_policy(settings);
    if (!db) {
      fmt::print(stderr, "tollgate: enforce mode refused: {}\n", db.error().message());
      return exit_code_for(db.error());
    }
    auto hits = policy::find_lockouts(**db, policy::signer_keys(**db), cli_lockout_candidates(settings));
    if (!hits.empty()) {
      fmt::print(stderr,
                 "tollgate: enforce mode refused: {} would deny {} (must_allow; --force cannot override this)\n",
                 settings.database, policy::describe_lockouts(hits));
      return kExitNo;
    }
    auto cutoff = since_cutoff(since_);
    if (!cutoff) return usage_error(cutoff.error());
    struct stat st {};
    if (::stat(settings.event_log.c_str(), &st) != 0) {
      if (!force_) {
        fmt::print(stderr,
                   "tollgate: enforce mode refused: no recorded history ({} does not exist) to show enforcement is "
                   "safe; run in audit mode first, or pass --force\n",
                   settings.event_log);
        return kExitNo;
      }
      forced = true;
      return kExitOk;
    }
    auto replayed = replay_history(settings.event_log, **db, *cutoff);
    if (!replayed) return report(replayed.error());
    if (replayed->denied.empty()) {
      fmt::print("Replayed {} exec events since {}: nothing would be denied.\n", replayed->events,
                 format_rfc3339(*cutoff));
      return kExitOk;
    }
    if (!force_) {
      fmt::print("Enforce mode refused: {} binaries ran since {} that {} would deny:\n", replayed->denied.size(),
                 format_rfc3339(*cutoff), settings.database);
      print_would_deny(replayed->denied);
      fmt::print(
          "Approve them (tollgate approve PATH, or tollgate approve --from-report --interactive), or pass "
          "--force to deny them from now on.\n");
      return kExitNo;
    }
    fmt::print("Forced: {} binaries from the recent history will be denied:\n", replayed->denied.size());
    print_would_deny(replayed->denied);
    forced = true;
    return kExitOk;
  }

  // Only the running daemon: a window it cannot close by itself is no window.
  int run_timed() {
    const std::string by = invoking_user();
    auto answer = control::accepted(control::Client(settings_->socket).timed_audit(duration_, by));
    if (!answer) {
      if (answer.error().code() == ErrorCode::kUnavailable)
        fmt::print(stderr, "tollgate: {}; a timed audit window needs the running daemon\n", answer.error().message());
      else fmt::print(stderr, "tollgate: {}\n", answer.error().message());
      return exit_code_for(answer.error());
    }
    auto status = control::accepted(control::Client(settings_->socket).status());
    std::string until = status ? status->audit_until : "";
    fmt::print("mode audit for {} by {}: tollgated audits{}, then enforces again by itself; {} is not changed\n", for_,
               by, until.empty() ? "" : " until " + until, settings_->file_name());
    return kExitOk;
  }

  std::string mode_;
  std::string for_;
  std::chrono::seconds duration_{0};
  bool force_ = false;
  std::string since_ = "24h";
};

}  // namespace

CommandSpec mode_command() {
  return {.name = "mode",
          .summary = "Switch between audit and enforce (enforce replays recent history first)",
          .example =
              "  sudo tollgate mode enforce\n"
              "  sudo tollgate mode enforce --since 7d\n"
              "  sudo tollgate mode audit\n"
              "  sudo tollgate mode audit --for 10m   # back to enforce by itself\n",
          .needs = Access::kAdmin,
          .make = [] { return std::make_unique<ModeCommand>(); }};
}

}  // namespace tollgate::tools
