// Line I/O on a control connection with a deadline, shared by the client
// and the server (internal to control/). Every wait is bounded by
// `deadline`, so neither side can be stalled by the other.
#pragma once

#include <sys/un.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/error.h"

namespace tollgate::control {

using Clock = std::chrono::steady_clock;

// Requests and replies are far smaller; a longer line is an error.
inline constexpr size_t kMaxLine = 64 * 1024;
// But for an admin's request to the server: a pending-trust set
// (trust_pending) of a whole dist-upgrade runs to megabytes.
inline constexpr size_t kMaxRequestLine = 96u << 20;

// The sockaddr for `path`; InvalidInput when it is empty or too long.
Result<sockaddr_un> socket_address(const std::string& path);

// Reads up to and including '\n' before the deadline (the line without it).
// kUnavailable when nothing arrives in time or the peer closed first.
Result<std::string> read_line(int fd, Clock::time_point deadline, std::string_view name, size_t max_line = kMaxLine);

// Writes `text` and '\n' before the deadline (MSG_NOSIGNAL: no SIGPIPE).
Status write_line(int fd, const std::string& text, Clock::time_point deadline, std::string_view name);

}  // namespace tollgate::control
