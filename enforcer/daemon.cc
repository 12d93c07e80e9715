#include "enforcer/daemon.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>

#include "common/io.h"
#include "common/text.h"
#include "common/time.h"
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

int64_t now_s() { return now_us() / 1000000; }

std::string rfc3339_s(int64_t seconds) { return format_rfc3339(seconds * 1000000); }

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
  options.pending = &pending_.files;
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
  drop_covered(*admitted.store);
  publish(admitted.store);
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
  load_pending();  // before the gate: it counts for the lockout check
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
    note =
        live_error.starts_with("no policy database")
            ? live_error + ": running in AUDIT mode, nothing is denied"
            : fmt::format("policy refused: {}; running in AUDIT mode without a policy, nothing is denied", live_error);
    if (!lkg_error.empty()) note += fmt::format(" (last-known-good copy refused too: {})", lkg_error);
    fmt::print(stderr, "tollgated: WARNING: {}\n", note);
    mode = policy::Mode::kAudit;
  }
  degraded_ = join({loaded ? fallback : note, floor.problem, persisted});
  warn_degraded(degraded_);
  if (!loaded) publish(nullptr);
  if (loaded) mode = load_timed_audit(mode);
  engine_.set_mode(mode);
  // A set that expired while the daemon was down ends now, not at the first tick.
  if (!pending_.empty() && pending_.expires_at <= now_s()) expire_pending(now_s());
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
    degraded_ = current->store ? fmt::format(
                                     "the live database was refused on reload ({}); generation {} from {} "
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
      return fail(
          ErrorCode::kInvalidInput,
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

Status Daemon::set_mode(policy::Mode mode, const std::string& by, bool forced, uid_t by_uid, int64_t for_s) {
  std::lock_guard lock(mu_);
  auto from = engine_.mode();
  std::optional<policy::TimedAudit> window;
  if (for_s > 0) {
    if (mode != policy::Mode::kAudit) return fail(ErrorCode::kInvalidInput, "a timed window is for audit mode only");
    if (from != policy::Mode::kEnforce && !timed_audit_)
      return fail(ErrorCode::kInvalidInput,
                  "tollgated is not enforcing; there is nothing to return to after the window");
    window = policy::TimedAudit{now_s() + for_s, by};
  }
  if (mode == policy::Mode::kEnforce) {
    auto state = engine_.policy();
    if (!state->store) return fail(ErrorCode::kInvalidInput, "no policy database is loaded; enforce mode refused");
    auto hits =
        policy::find_lockouts(*state->rules, state->signer_keys, policy::lockout_candidates(config_.must_allow));
    if (!hits.empty())
      return fail(ErrorCode::kInvalidInput,
                  "enforce mode refused: the policy would deny " + policy::describe_lockouts(hits));
  }
  // Persisted first: a restart inside the window must neither extend nor lose it.
  if (gate_.state_usable() && (window || timed_audit_)) {
    if (auto st = gate_.state().save_timed_audit(window); !st) return std::unexpected(st.error());
  }
  engine_.set_mode(mode);
  timed_audit_ = window;  // an explicit mode ends a timed window
  const std::string until = window ? rfc3339_s(window->until) : "";
  if (from != mode || window)
    fmt::print(stderr, "tollgated: mode {} -> {} by {} (uid {}){}\n", policy::to_string(from), policy::to_string(mode),
               printable(by), by_uid, until.empty() ? "" : ", back to enforce at " + until);
  log_.submit(eventlog::mode_event(host_, from, mode, by, forced, by_uid, until));
  return {};
}

void Daemon::publish(std::shared_ptr<const hashdb::PolicyStore> store) {
  std::shared_ptr<const hashdb::RuleSet> rules = store;
  if (!rules) rules = std::make_shared<hashdb::MemoryRuleSet>(hashdb::PolicyContent{});
  if (!pending_.empty()) rules = std::make_shared<policy::PendingRuleSet>(std::move(rules), pending_.files);
  engine_.set_policy(make_policy_state(std::move(rules), std::move(store), engine_.next_epoch()));
}

Status Daemon::commit_pending(policy::PendingTrust next, eventlog::PendingTrustChange change) {
  if (next.empty()) next.expires_at = 0;
  if (gate_.state_usable()) {
    if (auto st = gate_.state().save_pending(next); !st) return st;
  } else {
    fmt::print(stderr, "tollgated: warning: state_dir is unusable: pending trust is kept in memory only\n");
  }
  pending_ = std::move(next);
  publish(engine_.policy()->store);
  change.total = pending_.files.size();
  change.expires = pending_.empty() ? "" : rfc3339_s(pending_.expires_at);
  fmt::print(stderr, "tollgated: pending trust {} ({}) by {}: {} files, {} pending\n", change.action, change.reason,
             printable(change.by), change.files, change.total);
  log_.submit(eventlog::pending_trust_event(host_, change));
  return {};
}

void Daemon::drop_covered(const hashdb::PolicyStore& store) {
  if (pending_.empty()) return;
  auto next = pending_;
  auto before = policy::pending_packages(next.files);
  auto dropped = policy::drop_covered(next.files, store);
  if (!dropped || *dropped == 0) return;  // a lookup error keeps the set: the TTL still ends it
  auto after = policy::pending_packages(next.files);
  std::vector<std::string> gone;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(gone));
  (void)commit_pending(std::move(next), {.action = "end",
                                         .reason = "covered",
                                         .by = "tollgated",
                                         .by_uid = 0,
                                         .files = *dropped,
                                         .packages = std::move(gone)});
}

Result<control::PendingReply> Daemon::trust_pending(std::vector<policy::PendingFile> files, const std::string& by,
                                                    uid_t uid) {
  std::lock_guard lock(mu_);
  auto next = pending_;
  auto packages = policy::pending_packages(files);
  auto added = policy::merge_pending(next.files, std::move(files), "trust_pending");
  if (!added) return std::unexpected(added.error());
  next.expires_at = now_s() + config_.pending_trust_ttl.count();
  if (auto st = commit_pending(std::move(next), {.action = "add",
                                                 .reason = "request",
                                                 .by = by,
                                                 .by_uid = uid,
                                                 .files = *added,
                                                 .packages = std::move(packages)});
      !st)
    return std::unexpected(st.error());
  auto reply = pending_reply();
  reply.added = *added;
  return reply;
}

Result<control::PendingReply> Daemon::end_pending(const std::string& by, uid_t uid) {
  std::lock_guard lock(mu_);
  const uint64_t ended = pending_.files.size();
  if (ended > 0) {
    if (auto st = commit_pending({}, {.action = "end",
                                      .reason = "refresh",
                                      .by = by,
                                      .by_uid = uid,
                                      .files = ended,
                                      .packages = policy::pending_packages(pending_.files)});
        !st)
      return std::unexpected(st.error());
  }
  auto reply = pending_reply();
  reply.ended = ended;
  return reply;
}

control::PendingReply Daemon::pending_reply() const {
  control::PendingReply r;
  r.files = pending_.files.size();
  r.packages = policy::pending_packages(pending_.files);
  if (!pending_.empty()) r.expires = rfc3339_s(pending_.expires_at);
  return r;
}

void Daemon::tick(int64_t now) {
  std::unique_lock lock(mu_);
  clamp_ends(now);
  if (!pending_.empty() && pending_.expires_at <= now) expire_pending(now);
  if (!timed_audit_ || timed_audit_->until > now) return;
  lock.unlock();
  if (auto st = leave_timed_audit("tollgated (timed audit ended)"); !st) {
    std::lock_guard again(mu_);
    degraded_ = join({degraded_, "the timed audit window ended but enforce was refused: " + st.error().message()});
    warn_degraded(degraded_);
  }
}

// Anti-lockout, as for a policy load: when the policy without the pending
// set would deny a must_allow executable that the set allows (the recompile
// never came, and sshd was upgraded), the files it needs, and only those,
// are kept one more TTL and the daemon says DEGRADED, rather than lock the
// admin out. The rest of the set ends on time.
void Daemon::expire_pending(int64_t now) {
  auto state = engine_.policy();
  std::shared_ptr<const hashdb::RuleSet> base = state->store;
  if (!base) base = std::make_shared<hashdb::MemoryRuleSet>(hashdb::PolicyContent{});
  policy::LockoutKeep keep;
  if (engine_.mode() == policy::Mode::kEnforce || restart_mode() == policy::Mode::kEnforce)
    keep = policy::keep_against_lockout(*base, pending_.files, policy::lockout_candidates(config_.must_allow));
  if (!keep.files.empty()) {
    std::vector<policy::PendingFile> ended;
    for (const auto& f : pending_.files)
      if (std::find(keep.files.begin(), keep.files.end(), f) == keep.files.end()) ended.push_back(f);
    const std::string why = fmt::format(
        "pending trust of {} files kept past pending_trust_ttl: without it the policy "
        "would deny {}; run 'tollgate refresh'",
        keep.files.size(), policy::describe_lockouts(keep.saved));
    if (degraded_.find("pending trust of ") == std::string::npos) degraded_ = join({degraded_, why});
    warn_degraded(degraded_);
    (void)commit_pending({std::move(keep.files), now + config_.pending_trust_ttl.count()},
                         {.action = "end",
                          .reason = "lockout",
                          .by = "tollgated",
                          .by_uid = 0,
                          .files = ended.size(),
                          .packages = policy::pending_packages(ended)});
    return;
  }
  (void)commit_pending({}, {.action = "end",
                            .reason = "expired",
                            .by = "tollgated",
                            .by_uid = 0,
                            .files = pending_.files.size(),
                            .packages = policy::pending_packages(pending_.files)});
}

// Back to enforce; the window is forgotten either way, so a refusal (the
// policy would lock out a must_allow executable) is reported once.
Status Daemon::leave_timed_audit(const std::string& by) {
  auto st = set_mode(policy::Mode::kEnforce, by, /*forced=*/false, 0);
  if (!st) {
    std::lock_guard lock(mu_);
    timed_audit_.reset();
    if (gate_.state_usable()) (void)gate_.state().save_timed_audit(std::nullopt);
  }
  return st;
}

// Never further away than their bound: a wall clock set back, or a
// pending_trust_ttl lowered since the set was stored, must not stretch the
// pending set or a timed audit window. Caller holds mu_.
void Daemon::clamp_ends(int64_t now) {
  if (!pending_.empty()) pending_.expires_at = std::min(pending_.expires_at, now + config_.pending_trust_ttl.count());
  if (timed_audit_) timed_audit_->until = std::min(timed_audit_->until, now + control::kMaxTimedAuditSeconds);
}

void Daemon::load_pending() {
  if (!gate_.state_usable()) return;
  auto stored = gate_.state().load_pending();
  if (!stored) {
    // Never half-applied: a damaged set is set aside and trusts nothing.
    fmt::print(stderr, "tollgated: warning: pending trust refused: {}\n", stored.error().message());
    ::rename(gate_.state().pending_file().c_str(), (gate_.state().pending_file() + ".corrupt").c_str());
    return;
  }
  if (!*stored) return;
  eventlog::PendingTrustChange change{.action = "add",
                                      .reason = "restart",
                                      .by = "tollgated",
                                      .by_uid = 0,
                                      .files = (*stored)->files.size(),
                                      .packages = policy::pending_packages((*stored)->files)};
  if ((*stored)->expires_at <= now_s()) {
    // Expired while the daemon was down: initial_load() ends it as soon as
    // the policy is in force, with the same lockout guard as any expiry.
    change.reason = "restart (expired)";
  }
  pending_ = std::move(**stored);
  clamp_ends(now_s());
  change.total = pending_.files.size();
  change.expires = rfc3339_s(pending_.expires_at);
  log_.submit(eventlog::pending_trust_event(host_, change));
  fmt::print(stderr, "tollgated: pending trust from {}: {} files until {}\n", gate_.state().pending_file(),
             pending_.files.size(), change.expires);
}

policy::Mode Daemon::load_timed_audit(policy::Mode mode) {
  if (!gate_.state_usable()) return mode;
  auto stored = gate_.state().load_timed_audit();
  if (!stored)
    fmt::print(stderr, "tollgated: warning: timed audit window ignored, enforcing: {}\n", stored.error().message());
  if (!stored || !*stored || (*stored)->until <= now_s() || mode != policy::Mode::kEnforce) {
    // Expired, damaged, or nothing to return to: enforce as configured.
    if (!stored || *stored) (void)gate_.state().save_timed_audit(std::nullopt);
    return mode;
  }
  timed_audit_ = **stored;
  clamp_ends(now_s());
  const std::string until = rfc3339_s(timed_audit_->until);
  fmt::print(stderr, "tollgated: timed audit window (by {}) still open: back to enforce at {}\n",
             printable(timed_audit_->by), until);
  log_.submit(eventlog::mode_event(host_, mode, policy::Mode::kAudit, timed_audit_->by, false, 0, until));
  return policy::Mode::kAudit;
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
  s.pending_trust = pending_reply();
  if (timed_audit_) s.audit_until = rfc3339_s(timed_audit_->until);
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
    case Cmd::kTrustPending: {
      auto reply = trust_pending(request.pending, by, peer.uid);
      if (!reply) return control::control_error(reply.error().message());
      return control::to_json(*reply);
    }
    case Cmd::kEndPending: {
      auto reply = end_pending(by, peer.uid);
      if (!reply) return control::control_error(reply.error().message());
      return control::to_json(*reply);
    }
    case Cmd::kSetMode: {
      if (auto st = set_mode(request.mode, by, request.forced, peer.uid, request.for_s); !st)
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
