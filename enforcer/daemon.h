// Daemon: the parts of tollgated that sit around the Engine: putting a policy
// in force (through the PolicyGate: verify, anti-rollback floor, anti-lockout,
// last-known-good fallback), staged installs and deliberate rollbacks,
// switching the mode, answering control requests and writing the metrics
// file. tollgated.cc builds one from the configuration and wires it to
// signals and the socket.
//
// Health: the daemon is DEGRADED, with a one-line reason in status(), the
// start/reload/install/rollback events and on stderr, whenever the policy in
// force is not simply the live database as configured: the live database was
// refused and the last-known-good copy is enforced, or there is no usable
// policy at all (audit fallback), or the rollback floor could not be read or
// persisted. The next policy accepted and persisted normally clears it.
//
// Pending trust (policy/pending_trust.h, docs/upgrades.md): hash-allow
// rules for the files of packages apt is about to unpack, layered over the
// policy in force (a hash deny or path deny of the policy still wins), kept
// in state_dir so a restart keeps them, ended by the recompile (end_pending,
// and any accepted policy drops the files it covers) or by
// pending_trust_ttl (tick()). A timed audit window (`tollgate mode audit
// --for`) is kept the same way and ends in tick() too.
//
// The public key is loaded once, in the constructor: a reload never re-reads
// it (rotating the key is a restart).
//
// Thread-safety: reload(), install(), rollback(), set_mode(), handle() and
// status() may be called from any thread (signal thread, control thread);
// they serialize on one mutex. The Engine's hot path never takes that mutex.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "control/protocol.h"
#include "control/server.h"
#include "enforcer/engine.h"
#include "enforcer/metrics.h"
#include "eventlog/builders.h"
#include "eventlog/writer.h"
#include "policy/pending_trust.h"
#include "policy/policy_gate.h"
#include "policy/state_store.h"

namespace tollgate::enforcer {

class Daemon {
 public:
  // `mode_pinned`: the mode came from the command line (--mode), so a
  // restart comes up in config.mode whatever the file says.
  Daemon(config::Config config, Engine& engine, eventlog::EventLog& log, Metrics& metrics,
         std::vector<std::string> watched, std::string host, bool mode_pinned = false);

  // First load at start: the live database, else (refused or missing) the
  // last-known-good copy, else audit mode without a policy. Says so on
  // stderr and in the start event.
  void initial_load();
  // SIGHUP / {"cmd":"reload"}: the live database through the gate. On
  // failure the policy in force stays (and the daemon is DEGRADED: a
  // restart would not load the live file).
  Status reload();
  // {"cmd":"install"}: the staged candidate beside the live database
  // (policy_gate.h, install_candidate). Returns the generation now in force.
  Result<uint64_t> install(const std::string& candidate, const std::string& by, uid_t uid);
  // {"cmd":"rollback"} (root only): `file` becomes the live database and the
  // floor, whatever its generation. Returns the generation now in force.
  Result<uint64_t> rollback(const std::string& file, const std::string& by, uid_t uid);
  // {"cmd":"set_mode"}. Enforce is refused while the policy would lock out a
  // must_allow executable (never overridable here), or without a database.
  // `by_uid`: the peer's uid, logged beside the client-claimed `by`.
  // `for_s` > 0 (audit only): back to enforce after that many seconds,
  // persisted so a restart neither extends nor loses the window.
  Status set_mode(policy::Mode mode, const std::string& by, bool forced, uid_t by_uid, int64_t for_s = 0);
  // {"cmd":"trust_pending"}: adds files to the pending-trust set (all or
  // nothing; persisted before it applies) and restarts its TTL.
  Result<control::PendingReply> trust_pending(std::vector<policy::PendingFile> files, const std::string& by, uid_t uid);
  // {"cmd":"end_pending"}: ends the set (the Post-Invoke recompile landed).
  Result<control::PendingReply> end_pending(const std::string& by, uid_t uid);
  // Ends what has expired at `now` (seconds since the epoch): the pending
  // set after pending_trust_ttl, a timed audit window. tollgated calls it
  // every second.
  void tick(int64_t now);
  control::StatusReply status() const;
  // Adds to status() what tollgated's other parts know (the watched
  // filesystems, the census). Call before the control socket starts; the
  // hook must be thread-safe.
  void set_status_extra(std::function<void(control::StatusReply&)> extra) { status_extra_ = std::move(extra); }
  // One control request (the ControlServer's handler): the reply as JSON.
  nlohmann::json handle(const control::ControlRequest& request, const control::PeerCred& peer);
  Status write_metrics() const;
  const config::Config& config() const { return config_; }

 private:
  // Lockout is checked when the daemon enforces now, or would after a
  // restart (the upgrade window audits while the config says enforce).
  policy::AdmitOptions admit_options(policy::Mode now) const;
  policy::Mode restart_mode() const;
  // The live database through the gate (copied when state_dir is usable).
  Result<policy::Admitted> admit_live(const policy::AdmitOptions& options) const;
  // Puts an admitted database in force; `persist` commits it first.
  // Returns the commit problem, if any.
  std::string enforce(policy::Admitted& admitted, const std::string& source, bool persist);
  // Puts an installed database in force (or reports the refusal): stderr,
  // the install/rollback event, DEGRADED state. Returns the generation.
  Result<uint64_t> finish_change(Result<policy::Installed>& done, eventlog::PolicyChange& change);
  control::StatusReply::Health health() const;
  // The policy in force: `store` (null = none) plus the pending set.
  void publish(std::shared_ptr<const hashdb::PolicyStore> store);
  // Pending trust changed: persisted (when state_dir is usable), then in
  // force, then logged. Caller holds mu_.
  Status commit_pending(policy::PendingTrust next, eventlog::PendingTrustChange change);
  // Drops pending files the newly accepted `store` covers. Caller holds mu_.
  void drop_covered(const hashdb::PolicyStore& store);
  // initial_load: the pending set and a timed audit window from state_dir.
  void load_pending();
  void expire_pending(int64_t now);
  void clamp_ends(int64_t now);
  policy::Mode load_timed_audit(policy::Mode mode);
  control::PendingReply pending_reply() const;
  Status leave_timed_audit(const std::string& by);

  config::Config config_;
  Engine& engine_;
  eventlog::EventLog& log_;
  Metrics& metrics_;
  std::vector<std::string> watched_;
  std::string host_;
  bool mode_pinned_;
  std::chrono::steady_clock::time_point started_;
  policy::PolicyGate gate_;                        // the public key, pinned at construction
  mutable std::mutex mu_;                          // serializes loads, installs and mode changes
  policy::Floor floor_;                            // guarded by mu_
  std::string source_;                             // guarded by mu_: the file the policy in force came from
  std::string degraded_;                           // guarded by mu_: empty = healthy
  policy::PendingTrust pending_;                   // guarded by mu_
  std::optional<policy::TimedAudit> timed_audit_;  // guarded by mu_
  std::function<void(control::StatusReply&)> status_extra_;
};

}  // namespace tollgate::enforcer
