#include "hashdb/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "common/io.h"

namespace tollgate::hashdb {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

constexpr size_t kBufferSize = 1u << 20;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool same_file_state(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
         a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

}  // namespace

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::optional<Sha256> sha256_from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  Sha256 out{};
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::optional<std::string> bytes_from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

Sha256 sha256_bytes(std::span<const uint8_t> data) {
  Sha256 out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

Sha256 sha256_bytes(std::string_view data) {
  return sha256_bytes(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Result<Sha256> sha256_fd(int fd, std::string_view name, uint64_t* bytes_read, const std::atomic<bool>* cancel) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return fail(ErrorCode::kIo, std::string(name) + ": cannot initialise SHA-256");
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // One buffer per thread: hashing runs on many workers at once and a 1 MiB
  // allocation per file would dominate small files.
  thread_local std::unique_ptr<std::byte[]> buffer(new std::byte[kBufferSize]);
  uint64_t total = 0;
  for (;;) {
    if (cancel && cancel->load(std::memory_order_relaxed))
      return fail(ErrorCode::kUnavailable, std::string(name) + ": hashing cancelled");
    ssize_t n = ::read(fd, buffer.get(), kBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, name, "read failed");
    }
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buffer.get(), static_cast<size_t>(n)) != 1)
      return fail(ErrorCode::kIo, std::string(name) + ": SHA-256 update failed");
    total += static_cast<uint64_t>(n);
  }
  Sha256 out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size())
    return fail(ErrorCode::kIo, std::string(name) + ": SHA-256 final failed");
  if (bytes_read) *bytes_read = total;
  return out;
}

Result<Sha256> sha256_path(const std::string& path) {
  auto fd = open_fd(path, O_RDONLY | O_NOCTTY);
  if (!fd) return std::unexpected(fd.error());
  return sha256_fd(fd->get(), path);
}

Result<StableHash> sha256_fd_stable(int fd, std::string_view name, const std::atomic<bool>* cancel) {
  StableHash out{};
  if (::fstat(fd, &out.st) != 0) return fail_errno(errno, name, "cannot stat");
  auto digest = sha256_fd(fd, name, nullptr, cancel);
  if (!digest) return std::unexpected(digest.error());
  struct stat after {};
  if (::fstat(fd, &after) != 0) return fail_errno(errno, name, "cannot stat");
  if (!same_file_state(out.st, after))
    return fail(ErrorCode::kUnavailable, std::string(name) + ": file changed while hashing");
  out.digest = *digest;
  return out;
}

}  // namespace tollgate::hashdb
