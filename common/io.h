// Small POSIX helpers that every module needs: EINTR-safe reads and writes,
// whole-file reads, and crash-safe file replacement.
//
// Crash-safe replacement (`write_file_atomic`, `AtomicFile`) writes into a
// temporary file beside the target, fsyncs it, renames it over the target and
// fsyncs the directory, so a reader sees either the old or the new content,
// never a mix, and an error at any step leaves the target untouched.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/unique_fd.h"

namespace tollgate {

// open(2) with O_CLOEXEC added; errors name the path.
Result<UniqueFd> open_fd(const std::string& path, int flags, mode_t mode = 0);

// Opens `path` only if it is a regular file, never through a final symlink,
// and never blocking: for paths an attacker may have planted something at
// (paths read back from the event log, the event log itself). The path is
// lstat'ed first, so a FIFO, socket or device is refused without being
// opened (opening some devices has side effects); then open(2) with
// O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|O_CLOEXEC added (a FIFO swapped in cannot
// hang the caller; O_NONBLOCK stays set, which regular files ignore), and
// the fstat of the fd must again be a regular file, the same one lstat saw.
// With O_CREAT a missing file is created. Errors name the path:
//   "PATH: is a symbolic link (refusing to follow it)"     InvalidInput
//   "PATH: not a regular file (a FIFO)"                     InvalidInput
//   "PATH: replaced while being opened"                     Unavailable
// and open(2)'s own errors as from_errno ("cannot open").
Result<UniqueFd> open_regular(const std::string& path, int flags, mode_t mode = 0);

// "a FIFO", "a directory", "a socket", "a device", "a symbolic link" for a
// stat mode (used in "not a regular file" messages).
std::string_view file_kind(mode_t mode);

// read(2)/write(2) retried on EINTR and short counts. read_full returns the
// number of bytes read (less than buf.size() only at end of file).
Result<size_t> read_full(int fd, std::span<std::byte> buf, std::string_view name);
Status write_all(int fd, std::string_view data, std::string_view name);

// Reads a whole file, refusing files larger than max_bytes.
Result<std::string> read_file(const std::string& path, size_t max_bytes = 64u << 20);

// Replaces `path` with `data` (mode applied before the rename).
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);

// Copies everything readable from `from` (from its current offset) to `to`;
// `name` labels errors. For staging a file into an AtomicFile.
Status copy_fd(int from, int to, std::string_view name);

// fsync of the directory holding `path`, so a rename in it is durable.
Status fsync_parent_dir(const std::string& path);

// A temporary file beside `target`, renamed over it by commit(). Destroying an
// uncommitted AtomicFile removes the temporary file.
class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& target, mode_t mode = 0644);
  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  ~AtomicFile();

  const std::string& temp_path() const { return temp_path_; }
  int fd() const { return fd_.get(); }
  // Closes the descriptor without committing (for writers that reopen the
  // temp file by name, like SQLite).
  void close_fd() { fd_.reset(); }
  // fsync, rename over the target, fsync the directory.
  Status commit();

 private:
  AtomicFile(std::string target, std::string temp, UniqueFd fd)
      : target_(std::move(target)), temp_path_(std::move(temp)), fd_(std::move(fd)) {}
  std::string target_;
  std::string temp_path_;
  UniqueFd fd_;
  bool done_ = false;
};

// Parent directory of a path ("." for a bare name).
std::string parent_dir(const std::string& path);

}  // namespace tollgate
