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
#include <string>
#include <vector>

#include "config/config.h"
#include "control/protocol.h"
#include "control/server.h"
#include "enforcer/engine.h"
#include "enforcer/metrics.h"
#include "eventlog/builders.h"
#include "eventlog/writer.h"
#include "policy/policy_gate.h"

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
  Status set_mode(policy::Mode mode, const std::string& by, bool forced, uid_t by_uid);
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

  config::Config config_;
  Engine& engine_;
  eventlog::EventLog& log_;
  Metrics& metrics_;
  std::vector<std::string> watched_;
  std::string host_;
  bool mode_pinned_;
  std::chrono::steady_clock::time_point started_;
  policy::PolicyGate gate_;    // the public key, pinned at construction
  mutable std::mutex mu_;      // serializes loads, installs and mode changes
  policy::Floor floor_;        // guarded by mu_
  std::string source_;         // guarded by mu_: the file the policy in force came from
  std::string degraded_;       // guarded by mu_: empty = healthy
  std::function<void(control::StatusReply&)> status_extra_;
};

}  // namespace tollgate::enforcer
