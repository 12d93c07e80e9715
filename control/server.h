// The control socket's server (tollgated): ControlServer binds the socket
// (mode 0660, group admin_group), checks the peer's credentials (SO_PEERCRED
// uid and gid, and its supplementary groups from SO_PEERGROUPS: root, or a
// member of admin_group), parses each request (protocol.h) and hands it to
// the handler, whose JSON it sends back.
//
//   ControlServer server(config.socket, config.admin_group,
//                        [&](const ControlRequest& r, const PeerCred& peer) { return daemon.handle(r, peer); });
//   if (auto st = server.start(); !st) ...
//
// Connections are served one at a time on the server's own thread, each
// with an I/O deadline, so a stuck client cannot stall the daemon (the event
// loop never touches the socket).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "control/protocol.h"

namespace tollgate::control {

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

}  // namespace tollgate::control
