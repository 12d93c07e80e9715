// SHA-256 (and, for dpkg, MD5) of files and bytes, through OpenSSL EVP,
// plus hex encoding. The only place that streams a file into a digest.
//
//   auto digest = hashdb::sha256_path("/usr/bin/ls");
//   if (digest) std::cout << hashdb::to_hex(*digest) << "\n";
//
// All functions are thread-safe (no shared state).
#pragma once

#include <sys/stat.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace tollgate::hashdb {

using Sha256 = std::array<uint8_t, 32>;
using Md5 = std::array<uint8_t, 16>;

std::string to_hex(std::span<const uint8_t> bytes);
// Parses exactly 64 hex digits (either case); nullopt otherwise.
std::optional<Sha256> sha256_from_hex(std::string_view hex);
// Decodes any even-length hex string; nullopt on a bad digit or odd length.
std::optional<std::string> bytes_from_hex(std::string_view hex);

Sha256 sha256_bytes(std::span<const uint8_t> data);
Sha256 sha256_bytes(std::string_view data);
Md5 md5_bytes(std::string_view data);

// Streams the file from its current offset to the end with pread-free
// sequential reads (1 MiB buffer, EINTR retried), feeding every digest asked
// for in one pass. `name` only labels errors. The fd is not closed.
//
// Cancellable: when `cancel` is given it is read before every 1 MiB read,
// and once it is true hashing stops with an ErrorCode::kUnavailable error
// ("hashing cancelled"). The enforcer passes the "answered" flag of the
// event, so a hash whose event was already answered (deadline) stops within
// one buffer instead of holding a worker for the rest of the file.
struct DigestOptions {
  bool md5 = false;  // MD5 too (dpkg's md5sums); SHA-256 is always computed
  const std::atomic<bool>* cancel = nullptr;
};
struct FileDigests {
  Sha256 sha256{};
  Md5 md5{};           // zero unless DigestOptions::md5
  uint64_t bytes = 0;  // bytes read
};
Result<FileDigests> digest_fd(int fd, std::string_view name, const DigestOptions& options = {});

// digest_fd for SHA-256 alone.
Result<Sha256> sha256_fd(int fd, std::string_view name, uint64_t* bytes_read = nullptr,
                         const std::atomic<bool>* cancel = nullptr);

// SHA-256 of bytes that arrive in pieces: a file inside a stream (the
// package archives of `tollgate trust-debs`), where there is no fd to hash.
//
//   Sha256Stream h;
//   while (...) h.update(chunk);
//   auto digest = h.finish("pkg.deb:/usr/bin/x");   // once
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void update(std::span<const std::byte> data);
  // kIo (naming `name`) when OpenSSL failed at any step.
  Result<Sha256> finish(std::string_view name);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool ok_ = true;
};

// Opens (O_RDONLY|O_CLOEXEC|O_NOCTTY) and hashes a file.
Result<Sha256> sha256_path(const std::string& path);

// Digests an fd and checks that the file did not change while it was read:
// size, mtime and ctime from fstat before and after must agree. A change is
// an ErrorCode::kUnavailable error naming the file ("changed while hashing").
struct StableDigests {
  FileDigests digests;
  struct stat st;  // the stat taken before reading
};
Result<StableDigests> digest_fd_stable(int fd, std::string_view name, const DigestOptions& options = {});

// digest_fd_stable for SHA-256 alone.
struct StableHash {
  Sha256 digest;
  struct stat st;  // the stat taken before hashing
};
// `cancel` as for digest_fd.
Result<StableHash> sha256_fd_stable(int fd, std::string_view name, const std::atomic<bool>* cancel = nullptr);

}  // namespace tollgate::hashdb
