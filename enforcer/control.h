// The control socket: a unix stream socket speaking JSON Lines, one request
// object per line, one response object per line.
//
//   {"cmd":"status"}
//   {"cmd":"reload"}
//   {"cmd":"set_mode","mode":"enforce","by":"alice","forced":false}
//   {"cmd":"install","candidate":"/var/lib/tollgate/policy.db.candidate","by":"alice"}
//   {"cmd":"rollback","file":"/var/backups/tollgate/policy-gen6.db","by":"alice"}     (root only)
//   -> {"ok":true, ...}  or  {"ok":false,"error":"one line"}
//
// Client (the CLI, tests):
//   auto reply = control_request("/run/tollgate/tollgate.sock", {{"cmd", "status"}});
//   if (!reply && reply.error().code() == ErrorCode::kUnavailable) ... daemon not running
//
// Server (tollgated): ControlServer binds the socket (mode 0660, group
// admin_group), checks the peer's credentials (SO_PEERCRED uid and gid, and
// its supplementary groups from SO_PEERGROUPS: root, or a member of
// admin_group), parses each request and hands it to the handler. Connections are served one at a
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
#include <vector>

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

// Who is at the other end of a connection, as the kernel recorded it when
// the peer called connect(2) (not what it claims in a request).
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS); empty when the kernel has none to give
};

// SO_PEERCRED and SO_PEERGROUPS of a connected unix socket. A kernel without
// SO_PEERGROUPS (before 4.13) leaves `groups` empty: only the primary group
// then counts, never a guess from /proc (a pid can be reused).
Result<PeerCred> peer_credentials(int fd);

// True when the peer is root or a member (primary or supplementary group) of
// `admin_group`. An empty or unknown group admits root only.
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

  // The directory systemd created for the socket (RuntimeDirectory=, given
  // to the daemon as $RUNTIME_DIRECTORY, several joined by ':'). When it is
  // the socket's parent, root-owned, and admin_group is set, start() gives
  // it group admin_group and group search permission (RuntimeDirectoryMode=
  // 0750 keeps others out), so members can reach the socket. Any other
  // directory is never touched. Call before start().
  void set_runtime_directory(std::string dirs) { runtime_dirs_ = std::move(dirs); }

  // Binds (replacing a stale socket file), chmod 0660 (group = admin_group
  // when set), shares the runtime directory (above), listens, starts the
  // thread.
  Status start();
  void stop();

 private:
  void run();
  void serve(int fd);
  void share_runtime_directory(gid_t gid);

  std::string path_;
  std::string admin_group_;
  std::string runtime_dirs_;
  Handler handler_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace tollgate::enforcer
