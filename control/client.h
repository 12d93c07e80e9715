// The control socket's client (the tollgate CLI, tests): asks tollgated one
// thing, checks its "ok", and hands back the typed reply (protocol.h).
//
//   control::Client daemon(config.socket);
//   auto answer = daemon.set_mode(policy::Mode::kEnforce, "alice", /*forced=*/false);
//   if (!answer) ... answer.error(): kUnavailable = tollgated is not running
//                 (or did not answer in time), kPermission = the socket refuses us
//   else if (!*answer) ... tollgated refused: answer->error().reason
//   else ... (*answer)->mode
//
// A transport failure and a refusal are told apart because callers act
// differently on them: `tollgate mode` goes on without a daemon that is not
// running, but stops when a running one says no. Callers that treat a
// refusal like any other error fold it in with accepted().
//
// Thread-safety: a Client is immutable; each call opens its own connection.
#pragma once

#include <expected>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/unique_fd.h"
#include "control/protocol.h"

namespace tollgate::control {

// The daemon understood the request and said no ({"ok":false,"error":...}).
struct Refusal {
  std::string reason;  // the daemon's one line
  // The socket's permission check refused the caller (not root, not admin_group).
  bool permission_denied() const { return reason.starts_with("permission denied"); }
  // InvalidInput "PREFIX: REASON".
  Error to_error(std::string_view prefix = "tollgated refused") const;
};

// What the daemon answered: the typed reply, or its refusal.
template <typename T>
using Answer = std::expected<T, Refusal>;

// Folds a refusal into an error (Refusal::to_error) for callers that treat
// both alike.
template <typename T>
Result<T> accepted(Result<Answer<T>> answer, std::string_view prefix = "tollgated refused") {
  if (!answer) return std::unexpected(answer.error());
  if (!*answer) return std::unexpected(answer->error().to_error(prefix));
  return std::move(**answer);
}

class Client {
 public:
  static constexpr int kDefaultTimeoutMs = 5000;
  explicit Client(std::string socket_path, int timeout_ms = kDefaultTimeoutMs)
      : socket_(std::move(socket_path)), timeout_ms_(timeout_ms) {}

  const std::string& socket_path() const { return socket_; }

  Result<Answer<StatusReply>> status() const;
  Result<Answer<GenerationReply>> reload() const;
  Result<Answer<ModeReply>> set_mode(policy::Mode mode, const std::string& by, bool forced) const;
  // `candidate`: DATABASE.candidate beside the live database (the daemon
  // refuses any other file).
  Result<Answer<GenerationReply>> install(const std::string& candidate, const std::string& by) const;
  // Root only (the daemon refuses admin_group members).
  Result<Answer<GenerationReply>> rollback(const std::string& file, const std::string& by) const;
  // Audit mode for `duration` (at most kMaxTimedAuditSeconds); the daemon
  // returns to enforce by itself (docs/upgrades.md).
  Result<Answer<ModeReply>> timed_audit(std::chrono::seconds duration, const std::string& by) const;
  // Adds files to the daemon's pending-trust set (policy/pending_trust.h).
  // A large set is a large request: give this Client a longer timeout.
  Result<Answer<PendingReply>> trust_pending(std::vector<policy::PendingFile> files, const std::string& by) const;
  // Ends the pending-trust set (the recompile landed).
  Result<Answer<PendingReply>> end_pending(const std::string& by) const;

  // Connects and hangs up: kUnavailable "SOCKET: tollgated is not running
  // (REASON)" when nothing listens, kPermission when the socket refuses us.
  // Ok means the daemon runs, even if it is too busy to answer: a CLI must
  // not then act in its place.
  Status reachable() const;

 private:
  // The one place a request is sent and its "ok" checked.
  Result<Answer<nlohmann::json>> call(const ControlRequest& request) const;
  template <typename T>
  Result<Answer<T>> typed(const ControlRequest& request, Result<T> (*parse)(const nlohmann::json&)) const;

  std::string socket_;
  int timeout_ms_;
};

// The transport underneath, for tests that send raw (or invalid) requests:
// one request line, one reply object. kUnavailable when nothing listens on
// the socket or it does not answer in time (or not with a JSON object);
// kPermission when the socket refuses us.
Result<nlohmann::json> control_request(const std::string& socket_path, const nlohmann::json& request,
                                       int timeout_ms = Client::kDefaultTimeoutMs);

}  // namespace tollgate::control
