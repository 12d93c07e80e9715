#include "tools/policy_install.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "common/host.h"
#include "common/io.h"
#include "control/client.h"
#include "eventlog/builders.h"
#include "eventlog/writer.h"
#include "hashdb/store.h"
#include "policy/lockout.h"
#include "policy/manifest.h"
#include "policy/policy_gate.h"
#include "tools/compile_progress.h"

namespace tollgate::tools {
namespace {

// Verifying a large database can take a while; a daemon that accepts the
// connection is given this long before the CLI gives up (and never then
// acts in its place).
constexpr int kInstallTimeoutMs = 300000;

uint64_t generation_of(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0) return 0;
  auto store = hashdb::PolicyStore::open(path, {.verify_content = false});
  return store ? (*store)->generation() : 0;
}

// The candidate starts as a copy of the newest database we can read, so the
// compiler continues its generation and reuses its file cache. The last-known-
// good copy is newer than the live file when the daemon runs degraded (an
// older database was put back in place of the live one).
Status stage_base(const Settings& s, const std::string& candidate) {
  if (::unlink(candidate.c_str()) != 0 && errno != ENOENT) return fail_errno(errno, candidate, "cannot remove");
  const std::string lkg = policy::StateStore(s.state_dir).lkg_file();
  uint64_t live_gen = generation_of(s.database), lkg_gen = generation_of(lkg);
  if (live_gen == 0 && lkg_gen == 0) return {};
  const std::string& base = lkg_gen > live_gen ? lkg : s.database;
  auto in = open_fd(base, O_RDONLY | O_NONBLOCK);
  if (!in) return std::unexpected(in.error());
  auto out = AtomicFile::create(candidate, 0600);
  if (!out) return std::unexpected(out.error());
  if (auto c = copy_fd(in->get(), out->fd(), base); !c) return c;
  return out->commit();
}

// Lockout is checked when tollgated will start enforcing: the executables it
// recorded in state_dir at its last start (itself among them), and ours.
policy::AdmitOptions admit_options(const Settings& s, const policy::PolicyGate& gate) {
  policy::AdmitOptions options;
  options.check_lockout = s.mode == policy::Mode::kEnforce;
  if (!options.check_lockout) return options;
  options.lockout_candidates = cli_lockout_candidates(s, gate.state().load_lockout_candidates());
  return options;
}

std::string not_running(const Settings& s) { return fmt::format("tollgated is not running ({})", s.socket); }

// Where a request is carried out: by the daemon (what it reports), or, when
// nothing listens on the socket, here with the gate it would have used.
struct Route {
  std::optional<Installation> by_daemon;
  std::optional<policy::PolicyGate> here;
};

// `ask` sends the request (control::Client::install or ::rollback).
template <typename Ask>
Result<Route> route(const Settings& s, Ask ask) {
  const control::Client daemon(s.socket, kInstallTimeoutMs);
  auto reply = control::accepted(ask(daemon));
  if (reply) return Route{Installation{.generation = reply->generation, .by_daemon = true}, {}};
  if (reply.error().code() != ErrorCode::kUnavailable || daemon.reachable()) return std::unexpected(reply.error());
  auto gate = policy::PolicyGate::make(s.database, s.state_dir, s.public_key);
  if (!gate.state_usable())
    return fail(ErrorCode::kPermission,
                fmt::format("{} and its state cannot be used here ({}); run this as root (the same user as "
                            "tollgated) or start tollgated",
                            not_running(s), gate.state_problem()));
  return Route{{}, std::move(gate)};
}

}  // namespace

std::vector<std::string> cli_lockout_candidates(const Settings& settings, const std::vector<std::string>& extra) {
  std::vector<std::string> must = settings.must_allow;
  must.insert(must.end(), extra.begin(), extra.end());
  must.push_back("/proc/1/exe");
  // tollgated beside this tollgate binary (/usr/sbin/tollgated), if present:
  // the daemon refuses a policy that would deny itself.
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string path(self, static_cast<size_t>(n));
    path = path.substr(0, path.rfind('/') + 1) + "tollgated";
    if (::access(path.c_str(), X_OK) == 0) must.push_back(path);
  }
  return policy::lockout_candidates(must, /*include_self=*/false);
}

Result<Installation> install_staged(const Settings& s, const std::string& by) {
  const std::string candidate = policy::candidate_path(s.database);
  auto r = route(s, [&](const control::Client& daemon) { return daemon.install(candidate, by); });
  if (!r) return std::unexpected(r.error());
  if (r->by_daemon) return *r->by_daemon;
  const auto& gate = *r->here;
  auto floor = policy::resolve_floor(gate);
  if (!floor.problem.empty()) fmt::print(stderr, "tollgate: warning: {}\n", floor.problem);
  auto done = policy::install_candidate(gate, floor.floor, admit_options(s, gate));
  if (!done) return std::unexpected(done.error());
  Installation out{.generation = done->admitted.floor.generation,
                   .note = not_running(s) +
                           "; the candidate passed the same checks here and is installed, it is "
                           "loaded when tollgated starts"};
  if (!done->warning.empty()) out.note += "; warning: " + done->warning;
  return out;
}

Result<Installation> rollback_to(const Settings& s, const std::string& file, const std::string& by) {
  auto r = route(s, [&](const control::Client& daemon) { return daemon.rollback(file, by); });
  if (!r) return std::unexpected(r.error());
  if (r->by_daemon) return *r->by_daemon;
  const auto& gate = *r->here;
  eventlog::PolicyChange change{.type = eventlog::EventType::kRollback,
                                .database = s.database,
                                .file = file,
                                .by = by,
                                .by_uid = static_cast<int64_t>(::getuid()),
                                .from_generation = policy::resolve_floor(gate).floor.generation};
  auto done = policy::install_rollback(gate, file, admit_options(s, gate));
  change.ok = done.has_value();
  if (done) change.to_generation = done->admitted.floor.generation;
  else change.error = done.error().message();
  // The admin's intent is recorded whether or not it went through.
  auto logged = eventlog::append_event(s.event_log, eventlog::policy_change_event(host_name(), change));
  if (!done) return std::unexpected(done.error());
  Installation out{.generation = change.to_generation,
                   .from_generation = change.from_generation,
                   .note = not_running(s) + "; rolled back here, it is loaded when tollgated starts"};
  if (!done->warning.empty()) out.note += "; warning: " + done->warning;
  if (!logged) out.note += "; warning: the rollback could not be recorded: " + logged.error().message();
  return out;
}

Result<InstallResult> compile_and_install(const Settings& settings, bool progress, bool strict) {
  if (settings.manifest.empty())
    return fail(ErrorCode::kInvalidInput, settings.file_name() + ": 'manifest' is not set; cannot recompile");
  const std::string candidate = policy::candidate_path(settings.database);
  if (auto st = stage_base(settings, candidate); !st) return std::unexpected(st.error());
  policy::CompileOptions options{
      .manifest_path = settings.manifest, .output_path = candidate, .progress = terminal_progress(progress)};
  options.strict = strict;
  if (!settings.signing_key.empty()) options.signing_key_path = settings.signing_key;
  auto summary = policy::compile_policy(options);
  if (!summary) {
    ::unlink(candidate.c_str());
    return std::unexpected(summary.error());
  }
  auto installed = install_staged(settings, invoking_user());
  if (!installed)
    return std::unexpected(installed.error().with_prefix(
        fmt::format("generation {} was not installed, {} is unchanged", summary->generation, settings.database)));
  return InstallResult{.summary = std::move(*summary), .installation = std::move(*installed)};
}

Status check_approvals_included(const Settings& settings) {
  auto manifest = policy::load_manifest(settings.manifest);
  if (!manifest) return std::unexpected(manifest.error());
  char resolved[PATH_MAX];
  std::string approvals = ::realpath(settings.approvals.c_str(), resolved) ? resolved : settings.approvals;
  for (const auto& file : manifest->files)
    if (file == approvals) return {};
  return fail(ErrorCode::kInvalidInput,
              fmt::format("{} does not include {}, so approvals would not reach the policy; add to it: include: "
                          "[{{path: {}, optional: true}}]",
                          settings.manifest, approvals, approvals));
}

std::string describe_install(const Settings& settings, const InstallResult& r) {
  const auto& s = r.summary;
  std::string out = fmt::format("{}: generation {}", settings.database, r.installation.generation);
  if (!s.signer_key_id.empty()) out += fmt::format(", signed by {}", s.signer_key_id.substr(0, 16));
  out += fmt::format(" ({} files hashed, {} reused)", s.files_hashed, s.files_reused);
  out += r.installation.by_daemon ? "; daemon reloaded" : "; " + r.installation.note;
  return out;
}

}  // namespace tollgate::tools
