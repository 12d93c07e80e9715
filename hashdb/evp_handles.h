// Owners of OpenSSL digest and key contexts, for hashdb's own sources only:
// nothing outside hashdb includes OpenSSL digest headers (hashing goes
// through hashdb/sha256.h, keys through hashdb/keys.h).
//
//   MdCtx ctx = new_digest(EVP_sha256());    // initialised, or null
//   if (!ctx) return fail(...);
//
// Thread-safe (no shared state).
#pragma once

#include <openssl/evp.h>

#include <memory>

namespace tollgate::hashdb {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// A context initialised for `md`; null when OpenSSL cannot make one.
MdCtx new_digest(const EVP_MD* md);

}  // namespace tollgate::hashdb
