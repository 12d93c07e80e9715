#include "policy/file_signature.h"

#include <doctest/doctest.h>
#include <fcntl.h>

#include "common/io.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

TEST_SUITE("policy.file_signature") {
  TEST_CASE("a signature encodes, decodes and verifies only for its digest and key") {
    auto key = hashdb::generate_keypair();
    auto other = hashdb::generate_keypair();
    REQUIRE(key);
    REQUIRE(other);
    auto digest = hashdb::sha256_bytes(std::string("binary"));
    auto sig = sign_digest(key->private_key, digest);
    REQUIRE(sig);
    auto decoded = decode_signature(encode_signature(*sig));
    REQUIRE(decoded);
    CHECK(decoded->key_id == key->public_key.key_id);
    CHECK(signature_valid(key->public_key, digest, *decoded));
    CHECK_FALSE(signature_valid(other->public_key, digest, *decoded));
    CHECK_FALSE(signature_valid(key->public_key, hashdb::sha256_bytes(std::string("binary2")), *decoded));
    CHECK_FALSE(decode_signature("tollgate-sig-v1 zz"));
    CHECK_FALSE(decode_signature(""));
  }

  TEST_CASE("a sidecar signature makes its key the trusted signer of the file") {
    testing::TempDir dir;
    auto key = hashdb::generate_keypair();
    REQUIRE(key);
    const std::string path = dir.file("tool");
    testing::write_text(path, "#!/bin/sh\necho hi\n", 0755);
    auto digest = hashdb::sha256_path(path);
    REQUIRE(digest);
    auto sig = sign_digest(key->private_key, *digest);
    REQUIRE(sig);
    auto fd = open_fd(path, O_RDONLY);
    REQUIRE(fd);
    CHECK_FALSE(trusted_signer(fd->get(), path, *digest, {key->public_key}));
    REQUIRE(write_sidecar_signature(path, *sig));
    auto signer = trusted_signer(fd->get(), path, *digest, {key->public_key});
    REQUIRE(signer);
    CHECK(*signer == key->public_key.key_id);
    // A modified file no longer matches its signature.
    CHECK_FALSE(trusted_signer(fd->get(), path, hashdb::sha256_bytes(std::string("other")), {key->public_key}));
  }
}
