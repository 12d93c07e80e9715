// Daemon: the parts of tollgated that sit around the Engine: loading and
// reloading the policy (verify, anti-rollback, anti-lockout), switching the
// mode, answering control requests and writing the metrics file. tollgated.cc
// builds one from the configuration and wires it to signals and the socket.
//
// Thread-safety: reload(), set_mode(), handle() and status() may be called
// from any thread (signal thread, control thread); they serialize on one
// mutex. The Engine's hot path never takes that mutex.
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "enforcer/config.h"
#include "enforcer/control.h"
#include "enforcer/engine.h"
#include "enforcer/events.h"
#include "enforcer/metrics.h"

namespace tollgate::enforcer {

// Opens and verifies `config.database` (signature required when
// `config.public_key` is set), refuses a generation older than
// `min_generation`, and in enforce mode refuses a policy under which any
// lockout candidate would be denied. Errors are one line naming the file.
Result<std::shared_ptr<const PolicyState>> load_policy(const Config& config, uint64_t min_generation,
                                                       policy::Mode mode, uint64_t epoch);

class Daemon {
 public:
  Daemon(Config config, Engine& engine, EventLog& log, Metrics& metrics, std::vector<std::string> watched,
         std::string host);

  // First load at start. No database, or one that is refused: the daemon
  // runs in audit mode without a policy and says so (stderr + start event).
  void initial_load();
  // SIGHUP / {"cmd":"reload"}. On failure the old policy stays in force.
  Status reload();
  // {"cmd":"set_mode"}. Enforce is refused while the policy would lock out a
  // must_allow executable (never overridable here), or without a database.
  // `by_uid`: the peer's uid, logged beside the client-claimed `by`.
  Status set_mode(policy::Mode mode, const std::string& by, bool forced, uid_t by_uid);
  nlohmann::json status() const;
  nlohmann::json handle(const ControlRequest& request, const PeerCred& peer);
  Status write_metrics() const;
  const Config& config() const { return config_; }

 private:
  Config config_;
  Engine& engine_;
  EventLog& log_;
  Metrics& metrics_;
  std::vector<std::string> watched_;
  std::string host_;
  std::chrono::steady_clock::time_point started_;
  mutable std::mutex mu_;  // serializes reload and mode changes
};

}  // namespace tollgate::enforcer
