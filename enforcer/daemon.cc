#include "enforcer/daemon.h"

#include <unistd.h>

#include <fmt/core.h>

#include "common/io.h"
#include "common/text.h"
#include "enforcer/version.h"
#include "hashdb/keys.h"
#include "hashdb/store.h"
#include "policy/facts.h"
#include "policy/lockout.h"

namespace tollgate::enforcer {

using nlohmann::json;

namespace {

void warn_degraded(const std::string& reason) {
  if (!reason.empty()) fmt::print(stderr, "tollgated: DEGRADED: {}\n", reason);
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts)
    if (!p.empty()) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

Daemon::Daemon(config::Config config, Engine& engine, eventlog::EventLog& log, Metrics& metrics,
               std::vector<std::string> watched, std::string host, bool mode_pinned)
    : config_(std::move(config)),
      engine_(engine),
      log_(log),
      metrics_(metrics),
      watched_(std::move(watched)),
      host_(std::move(host)),
      mode_pinned_(mode_pinned),
      started_(std::chrono::steady_clock::now()),
      gate_(policy::PolicyGate::make(config_.database, config_.state_dir, config_.public_key)) {}

policy::Mode Daemon::restart_mode() const {
  if (mode_pinned_ || config_.path.empty()) return config_.mode;
  // `tollgate mode` persists the mode in the file; unreadable: assume the strict one.
  auto file = config::load_config(config_.path);
  return file ? file->mode : policy::Mode::kEnforce;
}

policy::AdmitOptions Daemon::admit_options(policy::Mode now) const {
  policy::AdmitOptions options;
  options.check_lockout = now == policy::Mode::kEnforce || restart_mode() == policy::Mode::kEnforce;
  if (options.check_lockout) options.lockout_candidates = policy::lockout_candidates(config_.must_allow);
  return options;
}

Result<policy::Admitted> Daemon::admit_live(const policy::AdmitOptions& options) const {
  return gate_.state_usable() ? gate_.admit(config_.database, floor_, options)
                              : gate_.admit_in_place(config_.database, floor_, options);
}

std::string Daemon::enforce(policy::Admitted& admitted, const std::string& source, bool persist) {
  std::string problem;
  if (persist) {
    if (auto st = gate_.commit(admitted); !st)
      problem = fmt::format("generation {} is in force but could not be persisted: {}", admitted.floor.generation,
                            st.error().message());
  }
  engine_.set_policy(make_policy_state(admitted.store, admitted.store, engine_.next_epoch()));
  floor_ = admitted.floor;
  source_ = source;
  return problem;
}

void Daemon::initial_load() {
  std::lock_guard lock(mu_);
  auto mode = config_.mode;
  auto floor = policy::resolve_floor(gate_);
  floor_ = floor.floor;
  if (gate_.state_usable()) {
    if (auto st = gate_.state().save_lockout_candidates(policy::lockout_candidates(config_.must_allow)); !st)
      fmt::print(stderr, "tollgated: warning: {}\n", st.error().message());
  }
  auto options = admit_options(mode);
  std::string live_error, lkg_error, persisted, fallback;
  bool loaded = false;
  if (::access(config_.database.c_str(), F_OK) != 0) {
    live_error = fmt::format("no policy database at {}", config_.database);
  } else if (auto admitted = admit_live(options)) {
    persisted = enforce(*admitted, config_.database, true);
    loaded = true;
  } else {
    live_error = admitted.error().message();
  }
  const std::string lkg = gate_.state().lkg_file();
  if (!loaded && gate_.state_usable() && ::access(lkg.c_str(), F_OK) == 0) {
    if (auto admitted = gate_.admit_in_place(lkg, floor_, options)) {
      enforce(*admitted, lkg, false);
      loaded = true;
      fallback = fmt::format("{} was refused ({}); enforcing the last-known-good copy {} (generation {})",
                             config_.database, live_error, lkg, admitted->floor.generation);
    } else {
      lkg_error = admitted.error().message();
    }
  }
  std::string note;
  if (!loaded) {
    note = live_error.starts_with("no policy database")
               ? live_error + ": running in AUDIT mode, nothing is denied"
               : fmt::format("policy refused: {}; running in AUDIT mode without a policy, nothing is denied",
                             live_error);
    if (!lkg_error.empty()) note += fmt::format(" (last-known-good copy refused too: {})", lkg_error);
    fmt::print(stderr, "tollgated: WARNING: {}\n", note);
    mode = policy::Mode::kAudit;
  }
  degraded_ = join({loaded ? fallback : note, floor.problem, persisted});
  warn_degraded(degraded_);
  engine_.set_mode(mode);
  auto policy = engine_.policy();
  log_.submit(eventlog::start_event(host_, mode, policy->store ? source_ : config_.database, policy->generation(),
                                    version(), note, degraded_));
  fmt::print(stderr, "tollgated: {} mode, database {} generation {}\n", policy::to_string(mode),
             policy->store ? source_ : "(none)", policy->generation());
}

Status Daemon::reload() {
  std::lock_guard lock(mu_);
  auto current = engine_.policy();
  auto admitted = admit_live(admit_options(engine_.mode()));
  if (!admitted) {
    metrics_.reloads_failed.fetch_add(1);
    degraded_ = current->store ? fmt::format("the live database was refused on reload ({}); generation {} from {} "
                                             "stays in force",
                                             admitted.error().message(), current->generation(), source_)
                               : fmt::format("the live database was refused on reload ({}); no policy is in force",
                                             admitted.error().message());
    fmt::print(stderr, "tollgated: reload refused, the old policy stays: {}\n", admitted.error().message());
    log_.submit(eventlog::reload_event(host_, false, config_.database, current->generation(),
                                       admitted.error().message(), degraded_));
    return std::unexpected(admitted.error());
  }
  degraded_ = enforce(*admitted, config_.database, true);
  warn_degraded(degraded_);
  metrics_.reloads_ok.fetch_add(1);
  fmt::print(stderr, "tollgated: reloaded {} generation {}\n", config_.database, admitted->floor.generation);
  log_.submit(eventlog::reload_event(host_, true, config_.database, admitted->floor.generation, "", degraded_));
  return {};
}

Result<uint64_t> Daemon::install(const std::string& candidate, const std::string& by, uid_t uid) {
  std::lock_guard lock(mu_);
  eventlog::PolicyChange change{.type = eventlog::EventType::kInstall,
                                .database = config_.database,
                                .file = policy::candidate_path(config_.database),
                                .by = by,
                                .by_uid = uid,
                                .from_generation = engine_.policy()->generation()};
  // Only the fixed name beside the live database: a request cannot make the
  // daemon read, rename or remove any other file.
  auto done = [&]() -> Result<policy::Installed> {
    if (!candidate.empty() && candidate != change.file)
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: refused: the candidate must be {}, beside the live database", candidate, change.file));
    return policy::install_candidate(gate_, floor_, admit_options(engine_.mode()));
  }();
  (done ? metrics_.reloads_ok : metrics_.reloads_failed).fetch_add(1);
  return finish_change(done, change);
}

Result<uint64_t> Daemon::rollback(const std::string& file, const std::string& by, uid_t uid) {
  std::lock_guard lock(mu_);
  eventlog::PolicyChange change{.type = eventlog::EventType::kRollback,
                                .database = config_.database,
                                .file = file,
                                .by = by,
                                .by_uid = uid,
                                .from_generation = engine_.policy()->generation()};
  auto done = policy::install_rollback(gate_, file, admit_options(engine_.mode()));
  return finish_change(done, change);
}

Result<uint64_t> Daemon::finish_change(Result<policy::Installed>& done, eventlog::PolicyChange& change) {
  if (!done) {
    change.error = done.error().message();
    fmt::print(stderr, "tollgated: {} by {} refused, the live database stays: {}\n", eventlog::to_string(change.type),
               printable(change.by), change.error);
    log_.submit(eventlog::policy_change_event(host_, change));
    return std::unexpected(done.error());
  }
  degraded_ = join({done->warning, enforce(done->admitted, config_.database, false)});
  warn_degraded(degraded_);
  change.ok = true;
  change.to_generation = done->admitted.floor.generation;
  change.degraded = degraded_;
  fmt::print(stderr, "tollgated: {} by {} (uid {}): {} generation {} -> {}\n", eventlog::to_string(change.type),
             printable(change.by), change.by_uid, config_.database, change.from_generation, change.to_generation);
  log_.submit(eventlog::policy_change_event(host_, change));
  return change.to_generation;
}

Status Daemon::set_mode(policy::Mode mode, const std::string& by, bool forced, uid_t by_uid) {
  std::lock_guard lock(mu_);
  auto from = engine_.mode();
  if (mode == policy::Mode::kEnforce) {
    auto state = engine_.policy();
    if (!state->store) return fail(ErrorCode::kInvalidInput, "no policy database is loaded; enforce mode refused");
    auto hits =
        policy::find_lockouts(*state->rules, state->signer_keys, policy::lockout_candidates(config_.must_allow));
    if (!hits.empty())
      return fail(ErrorCode::kInvalidInput,
                  "enforce mode refused: the policy would deny " + policy::describe_lockouts(hits));
  }
  engine_.set_mode(mode);
  if (from != mode)
    fmt::print(stderr, "tollgated: mode {} -> {} by {} (uid {})\n", policy::to_string(from), policy::to_string(mode),
               printable(by), by_uid);
  log_.submit(eventlog::mode_event(host_, from, mode, by, forced, by_uid));
  return {};
}

control::StatusReply::Health Daemon::health() const {
  if (degraded_.empty()) return {"OK", ""};
  return {"DEGRADED", degraded_};
}

control::StatusReply Daemon::status() const {
  std::lock_guard lock(mu_);
  auto state = engine_.policy();
  control::StatusReply s;
  s.database = {.path = state->store ? source_ : config_.database,
                .loaded = state->store != nullptr,
                .generation = state->generation()};
  if (state->store) {
    const auto& c = state->store->counts();
    s.database.content_digest = state->store->meta_value("content_digest");
    s.database.is_signed = state->store->is_signed();
    s.database.counts = {c.hash_allow, c.hash_deny, c.path_allow, c.path_deny, c.signers};
  }
  s.integrity = {.live_database = config_.database,
                 .state_dir = gate_.state().dir(),
                 .last_known_good = gate_.state().lkg_file(),
                 .state_usable = gate_.state_usable(),
                 .floor_generation = floor_.generation,
                 .floor_content_digest = floor_.content_digest,
                 .public_key_pinned = gate_.key_pinned()};
  auto v = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  s.version = version();
  s.pid = ::getpid();
  s.mode = engine_.mode();
  s.coverage = std::string(config::to_string(config_.coverage));
  s.uptime_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  s.health = health();
  s.watched = watched_;
  s.ignore_marks.reason = "not wired";
  if (const IgnoreMarks* m = engine_.ignore_marks())
    s.ignore_marks = {.enabled = m->enabled(),
                      .reason = m->disabled_reason(),
                      .flavour = m->flavour(),
                      .count = v(metrics_.ignore_marks),
                      .max = m->max_marks(),
                      .added = v(metrics_.ignore_marks_added),
                      .flushes = v(metrics_.ignore_mark_flushes),
                      .failures = v(metrics_.ignore_mark_failures)};
  s.counters = {.allowed = v(metrics_.allowed),
                .denied = v(metrics_.denied),
                .would_deny = v(metrics_.would_deny),
                .errors = v(metrics_.errors),
                .timeouts = v(metrics_.timeouts),
                .too_large = v(metrics_.too_large),
                .overloads = v(metrics_.overloads),
                .read_errors = v(metrics_.read_errors),
                .cache_hits = v(metrics_.cache_hits),
                .cache_misses = v(metrics_.cache_misses),
                .hash_bytes = v(metrics_.hash_bytes),
                .overflows = v(metrics_.overflows),
                .log_dropped = v(metrics_.log_dropped),
                .log_coalesced = v(metrics_.log_coalesced),
                .plain_opens = v(metrics_.plain_opens),
                .queue_depth = v(metrics_.queue_depth)};
  s.latency_p50_us = metrics_.latency_percentile_us(0.5);
  s.latency_p99_us = metrics_.latency_percentile_us(0.99);
  if (status_extra_) status_extra_(s);
  return s;
}

json Daemon::handle(const control::ControlRequest& request, const control::PeerCred& peer) {
  using Cmd = control::ControlRequest::Cmd;
  std::string by = request.by.empty() ? fmt::format("uid {}", peer.uid) : request.by;
  switch (request.cmd) {
    case Cmd::kStatus: return control::to_json(status());
    case Cmd::kReload: {
      if (auto st = reload(); !st) return control::control_error(st.error().message());
      return control::to_json(control::GenerationReply{config_.database, engine_.policy()->generation()});
    }
    case Cmd::kSetMode: {
      if (auto st = set_mode(request.mode, by, request.forced, peer.uid); !st)
        return control::control_error(st.error().message());
      return control::to_json(control::ModeReply{engine_.mode()});
    }
    case Cmd::kInstall: {
      auto generation = install(request.path, by, peer.uid);
      if (!generation) return control::control_error(generation.error().message());
      return control::to_json(control::GenerationReply{config_.database, *generation});
    }
    case Cmd::kRollback: {
      // Lowering the floor is root's decision alone, never admin_group's.
      if (peer.uid != 0)
        return control::control_error(fmt::format("permission denied: rollback needs root (uid {})", peer.uid));
      auto generation = rollback(request.path, by, peer.uid);
      if (!generation) return control::control_error(generation.error().message());
      return control::to_json(control::GenerationReply{config_.database, *generation});
    }
  }
  return control::control_error("unknown command");
}

Status Daemon::write_metrics() const {
  if (config_.metrics_file.empty()) return {};
  bool degraded;
  {
    std::lock_guard lock(mu_);
    degraded = !degraded_.empty();
  }
  return write_file_atomic(config_.metrics_file,
                           metrics_.prometheus_text() +
                               "# HELP tollgate_policy_degraded 1 while the policy in force is not the live database "
                               "as configured (tollgate status says why).\n"
                               "# TYPE tollgate_policy_degraded gauge\n" +
                               fmt::format("tollgate_policy_degraded {}\n", degraded ? 1 : 0),
                           0644);
}

}  // namespace tollgate::enforcer
