#include "enforcer/daemon.h"

#include <unistd.h>

#include <fmt/core.h>

#include "common/io.h"
#include "common/text.h"
#include "enforcer/lockout.h"
#include "enforcer/version.h"
#include "hashdb/keys.h"
#include "hashdb/store.h"
#include "policy/facts.h"

namespace tollgate::enforcer {

using nlohmann::json;

Result<std::shared_ptr<const PolicyState>> load_policy(const Config& config, uint64_t min_generation,
                                                       policy::Mode mode, uint64_t epoch) {
  std::optional<hashdb::PublicKey> key;
  if (!config.public_key.empty()) {
    auto loaded = hashdb::load_public_key(config.public_key);
    if (!loaded) return std::unexpected(loaded.error());
    key = std::move(*loaded);
  }
  auto store = hashdb::PolicyStore::open(config.database, {.public_key = key ? &*key : nullptr});
  if (!store) return std::unexpected(store.error());
  if ((*store)->generation() < min_generation)
    return fail(ErrorCode::kInvalidInput,
                fmt::format("{}: generation {} is older than generation {} in force (rollback refused)",
                            config.database, (*store)->generation(), min_generation));
  auto state = make_policy_state(*store, *store, epoch);
  if (mode == policy::Mode::kEnforce) {
    auto hits = find_lockouts(*state->rules, state->signer_keys, lockout_candidates(config.must_allow));
    if (!hits.empty())
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: refused in enforce mode: it would deny {}", config.database,
                              describe_lockouts(hits)));
  }
  return state;
}

Daemon::Daemon(Config config, Engine& engine, EventLog& log, Metrics& metrics, std::vector<std::string> watched,
               std::string host)
    : config_(std::move(config)),
      engine_(engine),
      log_(log),
      metrics_(metrics),
      watched_(std::move(watched)),
      host_(std::move(host)),
      started_(std::chrono::steady_clock::now()) {}

void Daemon::initial_load() {
  std::lock_guard lock(mu_);
  std::string note;
  auto mode = config_.mode;
  if (::access(config_.database.c_str(), F_OK) != 0) {
    note = fmt::format("no policy database at {}: running in AUDIT mode, nothing is denied", config_.database);
    mode = policy::Mode::kAudit;
  } else if (auto state = load_policy(config_, 0, mode, engine_.next_epoch())) {
    engine_.set_policy(*state);
  } else {
    note = fmt::format("policy refused: {}; running in AUDIT mode without a policy, nothing is denied",
                       state.error().message());
    mode = policy::Mode::kAudit;
  }
  if (!note.empty()) fmt::print(stderr, "tollgated: WARNING: {}\n", note);
  engine_.set_mode(mode);
  auto policy = engine_.policy();
  log_.submit(start_event(host_, mode, policy->database(), policy->generation(), version(), note));
  fmt::print(stderr, "tollgated: {} mode, database {} generation {}\n", policy::to_string(mode),
             policy->store ? policy->database() : "(none)", policy->generation());
}

Status Daemon::reload() {
  std::lock_guard lock(mu_);
  auto current = engine_.policy();
  auto state = load_policy(config_, current->generation(), engine_.mode(), engine_.next_epoch());
  if (!state) {
    metrics_.reloads_failed.fetch_add(1);
    fmt::print(stderr, "tollgated: reload refused, the old policy stays: {}\n", state.error().message());
    log_.submit(reload_event(host_, false, config_.database, current->generation(), state.error().message()));
    return std::unexpected(state.error());
  }
  engine_.set_policy(*state);
  metrics_.reloads_ok.fetch_add(1);
  fmt::print(stderr, "tollgated: reloaded {} generation {}\n", (*state)->database(), (*state)->generation());
  log_.submit(reload_event(host_, true, (*state)->database(), (*state)->generation(), ""));
  return {};
}

Status Daemon::set_mode(policy::Mode mode, const std::string& by, bool forced, uid_t by_uid) {
  std::lock_guard lock(mu_);
  auto from = engine_.mode();
  if (mode == policy::Mode::kEnforce) {
    auto state = engine_.policy();
    if (!state->store) return fail(ErrorCode::kInvalidInput, "no policy database is loaded; enforce mode refused");
    auto hits = find_lockouts(*state->rules, state->signer_keys, lockout_candidates(config_.must_allow));
    if (!hits.empty())
      return fail(ErrorCode::kInvalidInput,
                  "enforce mode refused: the policy would deny " + describe_lockouts(hits));
  }
  engine_.set_mode(mode);
  if (from != mode)
    fmt::print(stderr, "tollgated: mode {} -> {} by {} (uid {})\n", policy::to_string(from), policy::to_string(mode),
               printable(by), by_uid);
  log_.submit(mode_event(host_, from, mode, by, forced, by_uid));
  return {};
}

json Daemon::status() const {
  auto state = engine_.policy();
  json db = {{"path", state->store ? state->database() : config_.database},
             {"loaded", state->store != nullptr},
             {"generation", state->generation()}};
  if (state->store) {
    const auto& c = state->store->counts();
    db["content_digest"] = state->store->meta_value("content_digest");
    db["signed"] = state->store->is_signed();
    db["counts"] = {{"hash_allow", c.hash_allow}, {"hash_deny", c.hash_deny}, {"path_allow", c.path_allow},
                    {"path_deny", c.path_deny},   {"signers", c.signers}};
  }
  auto v = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  return json{{"ok", true},
              {"version", version()},
              {"pid", ::getpid()},
              {"mode", policy::to_string(engine_.mode())},
              {"coverage", to_string(config_.coverage)},
              {"uptime_s", uptime},
              {"database", db},
              {"watched", watched_},
              {"counters",
               {{"allowed", v(metrics_.allowed)},
                {"denied", v(metrics_.denied)},
                {"would_deny", v(metrics_.would_deny)},
                {"errors", v(metrics_.errors)},
                {"timeouts", v(metrics_.timeouts)},
                {"cache_hits", v(metrics_.cache_hits)},
                {"cache_misses", v(metrics_.cache_misses)},
                {"hash_bytes", v(metrics_.hash_bytes)},
                {"overflows", v(metrics_.overflows)},
                {"log_dropped", v(metrics_.log_dropped)},
                {"queue_depth", v(metrics_.queue_depth)}}},
              {"latency_us", {{"p50", metrics_.latency_percentile_us(0.5)}, {"p99", metrics_.latency_percentile_us(0.99)}}}};
}

json Daemon::handle(const ControlRequest& request, const PeerCred& peer) {
  switch (request.cmd) {
    case ControlRequest::Cmd::kStatus: return status();
    case ControlRequest::Cmd::kReload: {
      if (auto st = reload(); !st) return control_error(st.error().message());
      auto state = engine_.policy();
      return json{{"ok", true}, {"database", state->database()}, {"generation", state->generation()}};
    }
    case ControlRequest::Cmd::kSetMode: {
      std::string by = request.by.empty() ? fmt::format("uid {}", peer.uid) : request.by;
      if (auto st = set_mode(request.mode, by, request.forced, peer.uid); !st) return control_error(st.error().message());
      return json{{"ok", true}, {"mode", policy::to_string(engine_.mode())}};
    }
  }
  return control_error("unknown command");
}

Status Daemon::write_metrics() const {
  if (config_.metrics_file.empty()) return {};
  return write_file_atomic(config_.metrics_file, metrics_.prometheus_text(), 0644);
}

}  // namespace tollgate::enforcer
