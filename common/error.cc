#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace tollgate {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kInvalidInput: return "invalid input";
    case ErrorCode::kCorrupt: return "corrupt";
    case ErrorCode::kIo: return "I/O error";
    case ErrorCode::kPermission: return "permission denied";
    case ErrorCode::kUnavailable: return "unavailable";
  }
  return "unknown";
}

Error Error::from_errno(int err, std::string_view path, std::string_view what) {
  ErrorCode code = ErrorCode::kIo;
  if (err == ENOENT || err == ENOTDIR) code = ErrorCode::kNotFound;
  else if (err == EACCES || err == EPERM) code = ErrorCode::kPermission;
  std::string msg;
  msg.reserve(path.size() + what.size() + 40);
  msg.append(path).append(": ").append(what).append(": ").append(std::strerror(err));
  return Error(code, std::move(msg), err);
}

Error Error::with_prefix(std::string_view prefix) const {
  std::string msg(prefix);
  msg.append(": ").append(message_);
  return Error(code_, std::move(msg), errno_);
}

}  // namespace tollgate
