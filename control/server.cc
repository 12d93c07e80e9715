#include "control/server.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/host.h"
#include "common/io.h"
#include "control/line_io.h"

namespace tollgate::control {

using nlohmann::json;

Result<PeerCred> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return fail_errno(errno, "control socket", "SO_PEERCRED");
  PeerCred peer{cred.pid, cred.uid, cred.gid, {}};
  // The groups as of the peer's connect(2); ERANGE tells the size needed.
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 3; ++attempt) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      peer.groups = std::move(groups);
      return peer;
    }
    if (errno != ERANGE) break;  // ENOPROTOOPT: an old kernel; the primary group still counts
    groups.resize(bytes / sizeof(gid_t) + 1);
  }
  return peer;
}

bool peer_is_admin(const PeerCred& peer, const std::string& admin_group) {
  if (peer.uid == 0) return true;
  if (admin_group.empty()) return false;
  auto gid = group_id(admin_group);
  if (!gid) return false;
  return peer.gid == *gid || std::find(peer.groups.begin(), peer.groups.end(), *gid) != peer.groups.end();
}

ControlServer::ControlServer(std::string path, std::string admin_group, Handler handler)
    : path_(std::move(path)), admin_group_(std::move(admin_group)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start() {
  auto addr = socket_address(path_);
  if (!addr) return std::unexpected(addr.error());
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_fd_) return fail_errno(errno, path_, "cannot create socket");
  struct stat st;
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail(ErrorCode::kInvalidInput, path_ + ": exists and is not a socket");
    ::unlink(path_.c_str());  // stale socket of a previous run
  }
  // Bind with a restrictive umask so the socket never exists world-accessible.
  mode_t old = ::umask(0117);
  int rc = ::bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  int err = errno;
  ::umask(old);
  if (rc != 0) return fail_errno(err, path_, "cannot bind control socket");
  if (!admin_group_.empty()) {
    if (auto gid = group_id(admin_group_)) {
      if (::chown(path_.c_str(), 0, *gid) != 0)
        fmt::print(stderr, "tollgated: {}: cannot set group {}: {}\n", path_, admin_group_, std::strerror(errno));
      share_runtime_directory(*gid);
    } else {
      fmt::print(stderr, "tollgated: admin_group '{}' does not exist; only root may use {}\n", admin_group_, path_);
    }
  }
  if (::chmod(path_.c_str(), 0660) != 0) return fail_errno(errno, path_, "cannot chmod control socket");
  if (::listen(listen_fd_.get(), 16) != 0) return fail_errno(errno, path_, "cannot listen");
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread([this] { run(); });
  return {};
}

void ControlServer::share_runtime_directory(gid_t gid) {
  const std::string parent = parent_dir(path_);
  bool ours = false;
  for (size_t pos = 0; pos <= runtime_dirs_.size();) {
    size_t end = runtime_dirs_.find(':', pos);
    if (end == std::string::npos) end = runtime_dirs_.size();
    std::string dir = runtime_dirs_.substr(pos, end - pos);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    ours |= !dir.empty() && dir == parent;
    pos = end + 1;
  }
  if (!ours) return;
  UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!dir || ::fstat(dir.get(), &st) != 0 || st.st_uid != 0) {
    fmt::print(stderr, "tollgated: {}: not a root-owned directory; its group is left alone\n", parent);
    return;
  }
  if (::fchown(dir.get(), 0, gid) != 0 || ::fchmod(dir.get(), (st.st_mode & 07777) | 0010) != 0)
    fmt::print(stderr, "tollgated: {}: cannot give group {} access: {}\n", parent, admin_group_, std::strerror(errno));
}

void ControlServer::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
  (void)ignored;
  thread_.join();
  ::unlink(path_.c_str());
}

void ControlServer::run() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents & POLLIN) break;
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!conn) {
      // Out of fds or memory: the connection stays queued and the socket
      // readable; pause instead of spinning until the shortage passes.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    serve(conn.get());
  }
}

void ControlServer::serve(int fd) {
  auto deadline = Clock::now() + std::chrono::seconds(5);
  auto cred = peer_credentials(fd);
  if (!cred) return;
  const PeerCred& peer = *cred;
  if (!peer_is_admin(peer, admin_group_)) {
    // Read the request first so the client sees the refusal, not a broken pipe.
    (void)read_line(fd, Clock::now() + std::chrono::seconds(1), path_);
    std::string msg = admin_group_.empty() ? fmt::format("permission denied: uid {} is not root", peer.uid)
                                           : fmt::format("permission denied: uid {} is neither root nor in group {}",
                                                         peer.uid, admin_group_);
    (void)write_line(fd, control_error(msg).dump(), deadline, path_);
    return;
  }
  // Several requests may share a connection; each gets its own deadline.
  for (int i = 0; i < 64 && !stopping_.load(); ++i) {
    // Only an admin gets here, so only an admin can send a long request.
    auto line = read_line(fd, Clock::now() + std::chrono::seconds(5), path_, kMaxRequestLine);
    if (!line) return;
    json reply;
    if (auto req = parse_control_request(*line)) {
      try {
        reply = handler_(*req, peer);
      } catch (const std::exception& e) {
        reply = control_error(std::string("internal error: ") + e.what());
      }
    } else {
      reply = control_error(req.error().message());
    }
    if (!write_line(fd, reply.dump(-1, ' ', false, json::error_handler_t::replace),
                    Clock::now() + std::chrono::seconds(5), path_))
      return;
  }
}

}  // namespace tollgate::control
