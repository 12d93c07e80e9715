// Errors as values, shared by every Tollgate module.
//
// Every fallible function returns `Result<T>` (std::expected<T, Error>).
// An Error carries a fixed code, a one-line message that names the file,
// line or key involved, and errno where there is one. errno becomes an Error
// in exactly one place: `Error::from_errno`.
//
//   Result<UniqueFd> open_file(const std::string& path) {
//     int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
//     if (fd < 0) return std::unexpected(Error::from_errno(errno, path, "cannot open"));
//     return UniqueFd(fd);
//   }
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace tollgate {

enum class ErrorCode {
  kNotFound,
  kInvalidInput,
  kCorrupt,
  kIo,
  kPermission,
  kUnavailable,
};

std::string_view to_string(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message, int sys_errno = 0)
      : code_(code), message_(std::move(message)), errno_(sys_errno) {}

  // "PATH: WHAT: strerror(err)", with a code chosen from err (ENOENT ->
  // NotFound, EACCES/EPERM -> Permission, else Io).
  static Error from_errno(int err, std::string_view path, std::string_view what);

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  // Returns a copy whose message is "PREFIX: message".
  Error with_prefix(std::string_view prefix) const;

 private:
  ErrorCode code_;
  std::string message_;
  int errno_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error(code, std::move(message)));
}
inline std::unexpected<Error> fail_errno(int err, std::string_view path, std::string_view what) {
  return std::unexpected(Error::from_errno(err, path, what));
}

}  // namespace tollgate
