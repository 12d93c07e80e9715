// Ed25519 keys and signatures, through OpenSSL EVP.
//
//   auto pair = hashdb::generate_keypair();
//   auto sig = hashdb::sign(pair->private_key, message);
//   bool ok = hashdb::verify(pair->public_key, message, *sig).has_value();
//
// Keys are PEM (PKCS#8 private, SubjectPublicKeyInfo public). A key id is
// the SHA-256 of the DER-encoded public key. Keys are immutable after load;
// sign and verify are thread-safe.
#pragma once

#include <openssl/types.h>  // EVP_PKEY, declared only: callers never touch OpenSSL

#include <memory>
#include <string>
#include <string_view>

#include "common/error.h"
#include "hashdb/sha256.h"

namespace tollgate::hashdb {

using Pkey = std::shared_ptr<EVP_PKEY>;

struct PublicKey {
  Pkey key;
  Sha256 key_id{};
  std::string pem;
};

struct PrivateKey {
  Pkey key;
  PublicKey public_key;
};

struct KeyPair {
  PrivateKey private_key;
  PublicKey public_key;
  std::string private_pem;
};

Result<KeyPair> generate_keypair();

// Load from PEM text (`name` labels errors) or from a file.
Result<PublicKey> parse_public_key(std::string_view pem, std::string_view name);
Result<PrivateKey> parse_private_key(std::string_view pem, std::string_view name);
Result<PublicKey> load_public_key(const std::string& path);
Result<PrivateKey> load_private_key(const std::string& path);

// 64-byte Ed25519 signature over `message`.
Result<std::string> sign(const PrivateKey& key, std::string_view message);
// Ok when `signature` is a valid signature by `key`; InvalidInput otherwise.
Status verify(const PublicKey& key, std::string_view message, std::string_view signature);

}  // namespace tollgate::hashdb
