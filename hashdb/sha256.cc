#include "hashdb/sha256.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "common/io.h"
#include "hashdb/evp_handles.h"

namespace tollgate::hashdb {
namespace {

constexpr size_t kBufferSize = 1u << 20;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool same_file_state(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

// The read loop every digest shares: `update(data, n)` for each chunk until
// the end of the file; EINTR retried, `cancel` checked before every read.
template <class Update>
Status read_to_end(int fd, std::string_view name, const std::atomic<bool>* cancel, Update&& update, uint64_t& total) {
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // One buffer per thread: hashing runs on many workers at once and a 1 MiB
  // allocation per file would dominate small files.
  thread_local std::unique_ptr<std::byte[]> buffer(new std::byte[kBufferSize]);
  total = 0;
  for (;;) {
    if (cancel && cancel->load(std::memory_order_relaxed))
      return fail(ErrorCode::kUnavailable, std::string(name) + ": hashing cancelled");
    ssize_t n = ::read(fd, buffer.get(), kBufferSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, name, "read failed");
    }
    if (n == 0) return {};
    if (!update(buffer.get(), static_cast<size_t>(n)))
      return fail(ErrorCode::kIo, std::string(name) + ": digest update failed");
    total += static_cast<uint64_t>(n);
  }
}

}  // namespace

MdCtx new_digest(const EVP_MD* md) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (ctx && EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) ctx.reset();
  return ctx;
}

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

Md5 md5_bytes(std::string_view data) {
  Md5 out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr);
  return out;
}

struct Sha256Stream::Ctx {
  MdCtx md = new_digest(EVP_sha256());
};

Sha256Stream::Sha256Stream() : ctx_(std::make_unique<Ctx>()) { ok_ = ctx_->md != nullptr; }
Sha256Stream::~Sha256Stream() = default;

void Sha256Stream::update(std::span<const std::byte> data) {
  if (ok_ && !data.empty()) ok_ = EVP_DigestUpdate(ctx_->md.get(), data.data(), data.size()) == 1;
}

Result<Sha256> Sha256Stream::finish(std::string_view name) {
  Sha256 out{};
  unsigned int len = 0;
  if (!ok_ || EVP_DigestFinal_ex(ctx_->md.get(), out.data(), &len) != 1 || len != out.size())
    return fail(ErrorCode::kIo, std::string(name) + ": SHA-256 failed");
  ok_ = false;  // finished: a second finish() is an error, not a digest of nothing
  return out;
}

Result<FileDigests> digest_fd(int fd, std::string_view name, const DigestOptions& options) {
  MdCtx sha = new_digest(EVP_sha256());
  MdCtx md5 = options.md5 ? new_digest(EVP_md5()) : nullptr;
  if (!sha || (options.md5 && !md5)) return fail(ErrorCode::kIo, std::string(name) + ": cannot initialise digests");
  FileDigests out;
  auto update = [&](const std::byte* data, size_t n) {
    return EVP_DigestUpdate(sha.get(), data, n) == 1 && (!md5 || EVP_DigestUpdate(md5.get(), data, n) == 1);
  };
  if (auto st = read_to_end(fd, name, options.cancel, update, out.bytes); !st) return std::unexpected(st.error());
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(sha.get(), out.sha256.data(), &len) != 1 || len != out.sha256.size())
    return fail(ErrorCode::kIo, std::string(name) + ": SHA-256 final failed");
  if (md5 && (EVP_DigestFinal_ex(md5.get(), out.md5.data(), &len) != 1 || len != out.md5.size()))
    return fail(ErrorCode::kIo, std::string(name) + ": MD5 final failed");
  return out;
}

Result<Sha256> sha256_fd(int fd, std::string_view name, uint64_t* bytes_read, const std::atomic<bool>* cancel) {
  auto digests = digest_fd(fd, name, {.cancel = cancel});
  if (!digests) return std::unexpected(digests.error());
  if (bytes_read) *bytes_read = digests->bytes;
  return digests->sha256;
}

Result<Sha256> sha256_path(const std::string& path) {
  auto fd = open_fd(path, O_RDONLY | O_NOCTTY);
  if (!fd) return std::unexpected(fd.error());
  return sha256_fd(fd->get(), path);
}

Result<StableDigests> digest_fd_stable(int fd, std::string_view name, const DigestOptions& options) {
  StableDigests out{};
  if (::fstat(fd, &out.st) != 0) return fail_errno(errno, name, "cannot stat");
  auto digests = digest_fd(fd, name, options);
  if (!digests) return std::unexpected(digests.error());
  struct stat after {};
  if (::fstat(fd, &after) != 0) return fail_errno(errno, name, "cannot stat");
  if (!same_file_state(out.st, after))
    return fail(ErrorCode::kUnavailable, std::string(name) + ": file changed while hashing");
  out.digests = *digests;
  return out;
}

Result<StableHash> sha256_fd_stable(int fd, std::string_view name, const std::atomic<bool>* cancel) {
  auto stable = digest_fd_stable(fd, name, {.cancel = cancel});
  if (!stable) return std::unexpected(stable.error());
  return StableHash{stable->digests.sha256, stable->st};
}

}  // namespace tollgate::hashdb
