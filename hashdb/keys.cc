#include "hashdb/keys.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/io.h"
#include "hashdb/evp_handles.h"

namespace tollgate::hashdb {
namespace {

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioDeleter>;
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};

std::string openssl_error() {
  unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

Pkey own(EVP_PKEY* key) { return Pkey(key, PkeyDeleter{}); }

std::string bio_to_string(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

Result<PublicKey> describe_public(Pkey key, std::string_view name) {
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519)
    return fail(ErrorCode::kInvalidInput, std::string(name) + ": not an Ed25519 key");
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key.get(), &der);
  if (len <= 0) return fail(ErrorCode::kInvalidInput, std::string(name) + ": " + openssl_error());
  PublicKey out;
  out.key_id = sha256_bytes(std::span(der, static_cast<size_t>(len)));
  OPENSSL_free(der);
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1)
    return fail(ErrorCode::kIo, std::string(name) + ": " + openssl_error());
  out.pem = bio_to_string(bio.get());
  out.key = std::move(key);
  return out;
}

}  // namespace

Result<KeyPair> generate_keypair() {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
    return fail(ErrorCode::kIo, "key generation failed: " + openssl_error());
  Pkey key = own(raw);
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return fail(ErrorCode::kIo, "cannot encode private key: " + openssl_error());
  KeyPair out;
  out.private_pem = bio_to_string(bio.get());
  auto pub = describe_public(key, "generated key");
  if (!pub) return std::unexpected(pub.error());
  out.public_key = *pub;
  out.private_key = PrivateKey{key, *pub};
  return out;
}

Result<PublicKey> parse_public_key(std::string_view pem, std::string_view name) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* raw = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (!raw) {
    ERR_clear_error();
    return fail(ErrorCode::kInvalidInput, std::string(name) + ": not a PEM public key");
  }
  return describe_public(own(raw), name);
}

Result<PrivateKey> parse_private_key(std::string_view pem, std::string_view name) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* raw = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (!raw) {
    ERR_clear_error();
    return fail(ErrorCode::kInvalidInput, std::string(name) + ": not a PEM private key");
  }
  Pkey key = own(raw);
  auto pub = describe_public(key, name);
  if (!pub) return std::unexpected(pub.error());
  return PrivateKey{key, *pub};
}

Result<PublicKey> load_public_key(const std::string& path) {
  auto text = read_file(path, 1u << 20);
  if (!text) return std::unexpected(text.error());
  return parse_public_key(*text, path);
}

Result<PrivateKey> load_private_key(const std::string& path) {
  auto text = read_file(path, 1u << 20);
  if (!text) return std::unexpected(text.error());
  return parse_private_key(*text, path);
}

Result<std::string> sign(const PrivateKey& key, std::string_view message) {
  MdCtx ctx(EVP_MD_CTX_new());
  std::string sig(64, '\0');
  size_t len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    return fail(ErrorCode::kIo, "signing failed: " + openssl_error());
  sig.resize(len);
  return sig;
}

Status verify(const PublicKey& key, std::string_view message, std::string_view signature) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.key.get()) != 1)
    return fail(ErrorCode::kIo, "cannot initialise verification: " + openssl_error());
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();
  if (rc != 1) return fail(ErrorCode::kInvalidInput, "signature does not verify");
  return {};
}

}  // namespace tollgate::hashdb
