// The control socket: a unix stream socket speaking JSON Lines, one request
// object per line, one response object per line.
//
//   {"cmd":"status"}
//   {"cmd":"reload"}
//   {"cmd":"set_mode","mode":"enforce","by":"alice","forced":false}
//   {"cmd":"install","candidate":"/var/lib/tollgate/policy.db.candidate","by":"alice"}
//   {"cmd":"rollback","file":"/root/policy-gen6.db","by":"alice"}     (root only)
//   -> {"ok":true, ...}  or  {"ok":false,"error":"one line"}
//
// Client (the CLI, tests):
//   auto reply = control_request("/run/tollgate/tollgate.sock", {{"cmd", "status"}});
//   if (!reply && reply.error().code() == ErrorCode::kUnavailable) ... daemon not running
//
// Server (tollgated): ControlServer binds the socket (mode 0660), checks the
// peer's credentials (SO_PEERCRED: root, or a member of admin_group), parses
// each request and hands it to the handler. Connections are served one at a
// time on the server's own thread, each with an I/O deadline, so a stuck
// client cannot stall the daemon (the event loop never touches the socket).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"
#include "policy/decision.h"

namespace tollgate::enforcer {

struct ControlRequest {
  enum class Cmd { kStatus, kReload, kSetMode, kInstall, kRollback };
  Cmd cmd = Cmd::kStatus;
  policy::Mode mode = policy::Mode::kAudit;  // set_mode only
  std::string by;                            // set_mode, install, rollback: who asked
  bool forced = false;                       // set_mode: recorded in the mode event
  std::string path;                          // install: "candidate" (optional); rollback: "file"
};

// Parses one request line; errors are one line for the {"ok":false} reply.
Result<ControlRequest> parse_control_request(std::string_view line);

nlohmann::json control_error(const std::string& message);

struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// True when the peer is root or a member (primary or supplementary, read from
// /proc/PID/status) of `admin_group`. An empty group admits root only.
bool peer_is_admin(const PeerCred& peer, const std::string& admin_group);

// Sends one request and reads one response line. kUnavailable when nothing
// listens on the socket (the daemon is not running) or it does not answer in
// time; kPermission when the socket refuses us.
Result<nlohmann::json> control_request(const std::string& socket_path, const nlohmann::json& request,
                                       int timeout_ms = 5000);
// True when something accepts connections on the socket (the daemon runs,
// even if it is too busy to answer): a CLI must not then act in its place.
bool control_listening(const std::string& socket_path);

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const ControlRequest&, const PeerCred&)>;
  ControlServer(std::string path, std::string admin_group, Handler handler);
  ~ControlServer();  // stops
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds (replacing a stale socket file), chmod 0660 (group = admin_group
  // when set), listens, starts the thread.
  Status start();
  void stop();

 private:
  void run();
  void serve(int fd);

  std::string path_;
  std::string admin_group_;
  Handler handler_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tollgate::enforcer
