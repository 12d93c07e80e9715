#include "policy/file_signature.h"

#include <fcntl.h>
#include <sys/xattr.h>

#include <cerrno>

#include "common/io.h"

namespace tollgate::policy {
namespace {

constexpr std::string_view kTag = "tollgate-sig-v1";

std::string message_for(const hashdb::Sha256& digest) {
  std::string msg = "tollgate-file-signature-v1\n";
  msg.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return msg;
}

}  // namespace

std::string encode_signature(const FileSignature& sig) {
  return std::string(kTag) + " " + hashdb::to_hex(sig.key_id) + " " +
         hashdb::to_hex(std::span(reinterpret_cast<const uint8_t*>(sig.signature.data()), sig.signature.size())) + "\n";
}

std::optional<FileSignature> decode_signature(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  if (!text.starts_with(kTag) || text.size() != kTag.size() + 1 + 64 + 1 + 128) return std::nullopt;
  if (text[kTag.size()] != ' ' || text[kTag.size() + 65] != ' ') return std::nullopt;
  auto key_id = hashdb::sha256_from_hex(text.substr(kTag.size() + 1, 64));
  auto sig = hashdb::bytes_from_hex(text.substr(kTag.size() + 66));
  if (!key_id || !sig || sig->size() != 64) return std::nullopt;
  return FileSignature{*key_id, *sig};
}

Result<FileSignature> sign_digest(const hashdb::PrivateKey& key, const hashdb::Sha256& digest) {
  auto sig = hashdb::sign(key, message_for(digest));
  if (!sig) return std::unexpected(sig.error());
  return FileSignature{key.public_key.key_id, *sig};
}

bool signature_valid(const hashdb::PublicKey& key, const hashdb::Sha256& digest, const FileSignature& sig) {
  return sig.key_id == key.key_id && hashdb::verify(key, message_for(digest), sig.signature).has_value();
}

std::optional<FileSignature> read_signature(int fd, const std::string& path) {
  char buf[512];
  ssize_t n = ::fgetxattr(fd, kSignatureXattr, buf, sizeof buf);
  if (n > 0) {
    if (auto sig = decode_signature(std::string_view(buf, static_cast<size_t>(n)))) return sig;
  }
  if (path.empty()) return std::nullopt;  // unknown path: no sidecar to look for (not "./.sig")
  auto sidecar = open_fd(path + ".sig", O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (!sidecar) return std::nullopt;
  auto len = read_full(sidecar->get(), std::as_writable_bytes(std::span(buf)), path);
  if (!len || *len == 0 || *len == sizeof buf) return std::nullopt;
  return decode_signature(std::string_view(buf, *len));
}

Status write_xattr_signature(const std::string& path, const FileSignature& sig) {
  std::string text = encode_signature(sig);
  if (::setxattr(path.c_str(), kSignatureXattr, text.data(), text.size(), 0) != 0)
    return fail_errno(errno, path, "cannot set xattr " + std::string(kSignatureXattr) + " (try --sidecar)");
  return {};
}

Status write_sidecar_signature(const std::string& path, const FileSignature& sig) {
  return write_file_atomic(path + ".sig", encode_signature(sig), 0644);
}

std::optional<hashdb::Sha256> trusted_signer(int fd, const std::string& path, const hashdb::Sha256& digest,
                                             const std::vector<hashdb::PublicKey>& trusted) {
  if (trusted.empty()) return std::nullopt;
  auto sig = read_signature(fd, path);
  if (!sig) return std::nullopt;
  for (const auto& key : trusted) {
    if (signature_valid(key, digest, *sig)) return key.key_id;
  }
  return std::nullopt;
}

}  // namespace tollgate::policy
