#include "common/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace tollgate {

Result<UniqueFd> open_fd(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return fail_errno(errno, path, "cannot open");
  return UniqueFd(fd);
}

std::string_view file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

Result<UniqueFd> open_regular(const std::string& path, int flags, mode_t mode) {
  auto not_regular = [&](mode_t m) {
    if (S_ISLNK(m)) return fail(ErrorCode::kInvalidInput, path + ": is a symbolic link (refusing to follow it)");
    return fail(ErrorCode::kInvalidInput, path + ": not a regular file (" + std::string(file_kind(m)) + ")");
  };
  struct stat before {};
  bool existed = ::lstat(path.c_str(), &before) == 0;
  if (!existed && (errno != ENOENT || !(flags & O_CREAT))) return fail_errno(errno, path, "cannot open");
  if (existed && !S_ISREG(before.st_mode)) return not_regular(before.st_mode);
  auto fd = open_fd(path, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);
  if (!fd) {
    // Something else appeared at the path between lstat and open.
    struct stat now {};
    if (::lstat(path.c_str(), &now) == 0 && !S_ISREG(now.st_mode)) return not_regular(now.st_mode);
    return std::unexpected(fd.error());
  }
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return fail_errno(errno, path, "cannot stat");
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);
  if (existed && (st.st_dev != before.st_dev || st.st_ino != before.st_ino))
    return fail(ErrorCode::kUnavailable, path + ": replaced while being opened");
  return fd;
}

Result<size_t> read_full(int fd, std::span<std::byte> buf, std::string_view name) {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, name, "read failed");
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status write_all(int fd, std::string_view data, std::string_view name) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, name, "write failed");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<std::string> read_file(const std::string& path, size_t max_bytes) {
  auto fd = open_fd(path, O_RDONLY);
  if (!fd) return std::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return fail_errno(errno, path, "cannot stat");
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidInput, path + ": not a regular file");
  if (static_cast<size_t>(st.st_size) > max_bytes) return fail(ErrorCode::kInvalidInput, path + ": file too large");
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = read_full(fd->get(), std::as_writable_bytes(std::span(buf)), path);
    if (!n) return std::unexpected(n.error());
    out.append(buf, *n);
    if (out.size() > max_bytes) return fail(ErrorCode::kInvalidInput, path + ": file too large");
    if (*n < sizeof buf) break;
  }
  return out;
}

Status copy_fd(int from, int to, std::string_view name) {
  char buf[1 << 16];
  for (;;) {
    auto n = read_full(from, std::as_writable_bytes(std::span(buf)), name);
    if (!n) return std::unexpected(n.error());
    if (auto st = write_all(to, std::string_view(buf, *n), name); !st) return st;
    if (*n < sizeof buf) return {};
  }
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status fsync_parent_dir(const std::string& path) {
  std::string dir = parent_dir(path);
  auto fd = open_fd(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) return std::unexpected(fd.error());
  if (::fsync(fd->get()) != 0) return fail_errno(errno, dir, "fsync failed");
  return {};
}

Result<AtomicFile> AtomicFile::create(const std::string& target, mode_t mode) {
  std::string tmpl = target + ".tmp.XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, target, "cannot create temporary file");
  UniqueFd owned(fd);
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::unlink(tmpl.c_str());
    return fail_errno(err, tmpl, "cannot chmod");
  }
  return AtomicFile(target, std::move(tmpl), std::move(owned));
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : target_(std::move(o.target_)),
      temp_path_(std::move(o.temp_path_)),
      fd_(std::move(o.fd_)),
      done_(std::exchange(o.done_, true)) {}

AtomicFile::~AtomicFile() {
  if (!done_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Status AtomicFile::commit() {
  if (fd_.valid()) {
    if (::fsync(fd_.get()) != 0) return fail_errno(errno, temp_path_, "fsync failed");
    fd_.reset();
  } else {
    auto fd = open_fd(temp_path_, O_RDONLY);
    if (!fd) return std::unexpected(fd.error());
    if (::fsync(fd->get()) != 0) return fail_errno(errno, temp_path_, "fsync failed");
  }
  if (::rename(temp_path_.c_str(), target_.c_str()) != 0)
    return fail_errno(errno, target_, "cannot rename temporary file into place");
  done_ = true;
  return fsync_parent_dir(target_);
}

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  auto file = AtomicFile::create(path, mode);
  if (!file) return std::unexpected(file.error());
  if (auto st = write_all(file->fd(), data, file->temp_path()); !st) return st;
  return file->commit();
}

}  // namespace tollgate
