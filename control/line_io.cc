#include "control/line_io.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace tollgate::control {
namespace {

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

}  // namespace

Result<sockaddr_un> socket_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return fail(ErrorCode::kInvalidInput, path + ": socket path is empty or too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Result<std::string> read_line(int fd, Clock::time_point deadline, std::string_view name, size_t max_line) {
  std::string line;
  std::vector<char> buf(max_line > kMaxLine ? 256 * 1024 : 4096);
  size_t searched = 0;  // bytes already known to hold no '\n'
  for (;;) {
    auto nl = line.find('\n', searched);
    if (nl != std::string::npos) return line.substr(0, nl);
    searched = line.size();
    if (line.size() > max_line) return fail(ErrorCode::kInvalidInput, std::string(name) + ": line too long");
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return fail(ErrorCode::kUnavailable, std::string(name) + ": no answer in time");
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return fail_errno(errno, name, "read failed");
    if (n == 0) {
      if (line.empty()) return fail(ErrorCode::kUnavailable, std::string(name) + ": connection closed");
      return line;
    }
    line.append(buf.data(), static_cast<size_t>(n));
  }
}

Status write_line(int fd, const std::string& text, Clock::time_point deadline, std::string_view name) {
  std::string data = text + "\n";
  size_t off = 0;
  while (off < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return fail(ErrorCode::kUnavailable, std::string(name) + ": write timed out");
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return fail_errno(errno, name, "write failed");
    off += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace tollgate::control
