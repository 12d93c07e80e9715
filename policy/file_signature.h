// Detached signatures on executables, for `signer:` trust.
//
// A signature is Ed25519 over "tollgate-file-signature-v1\n" followed by the
// file's raw 32-byte SHA-256. It is stored either in the extended attribute
// `user.tollgate.sig` or in a sidecar file `FILE.sig`, in both cases as the
// text line
//
//   tollgate-sig-v1 <signer key id, 64 hex> <signature, 128 hex>
//
// Binding the signature to the content digest (not the path) means a signed
// file stays trusted when copied and stops being trusted when modified.
//
//   auto sig = sign_digest(key, digest);
//   write_xattr_signature(path, *sig);
//   auto signer = trusted_signer(fd, path, digest, keys);   // key id or nullopt
//
// All functions are thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "hashdb/keys.h"

namespace tollgate::policy {

inline constexpr const char* kSignatureXattr = "user.tollgate.sig";

struct FileSignature {
  hashdb::Sha256 key_id{};
  std::string signature;  // 64 raw bytes
};

std::string encode_signature(const FileSignature& sig);
std::optional<FileSignature> decode_signature(std::string_view text);

Result<FileSignature> sign_digest(const hashdb::PrivateKey& key, const hashdb::Sha256& digest);
bool signature_valid(const hashdb::PublicKey& key, const hashdb::Sha256& digest, const FileSignature& sig);

// The file's signature: the xattr on `fd` first, else the sidecar
// `path + ".sig"` (none when `path` is empty, i.e. unknown). nullopt when
// there is none or it is malformed.
std::optional<FileSignature> read_signature(int fd, const std::string& path);

Status write_xattr_signature(const std::string& path, const FileSignature& sig);
Status write_sidecar_signature(const std::string& path, const FileSignature& sig);

// Key id of the key in `trusted` whose valid signature over `digest` the file
// carries, if any.
std::optional<hashdb::Sha256> trusted_signer(int fd, const std::string& path, const hashdb::Sha256& digest,
                                             const std::vector<hashdb::PublicKey>& trusted);

}  // namespace tollgate::policy
