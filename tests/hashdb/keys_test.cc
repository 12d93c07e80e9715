#include "hashdb/keys.h"

#include <doctest/doctest.h>

using namespace tollgate;
using namespace tollgate::hashdb;

TEST_SUITE("hashdb.keys") {
  TEST_CASE("a signature verifies with its key and fails with a changed message or another key") {
    auto a = generate_keypair();
    auto b = generate_keypair();
    REQUIRE(a);
    REQUIRE(b);
    auto sig = sign(a->private_key, "policy");
    REQUIRE(sig);
    CHECK(sig->size() == 64);
    CHECK(verify(a->public_key, "policy", *sig));
    CHECK_FALSE(verify(a->public_key, "policy!", *sig));
    CHECK_FALSE(verify(b->public_key, "policy", *sig));
    std::string flipped = *sig;
    flipped[10] ^= 1;
    CHECK_FALSE(verify(a->public_key, "policy", flipped));
  }

  TEST_CASE("PEM round trips keep the key id") {
    auto pair = generate_keypair();
    REQUIRE(pair);
    auto pub = parse_public_key(pair->public_key.pem, "pub");
    auto priv = parse_private_key(pair->private_pem, "key");
    REQUIRE(pub);
    REQUIRE(priv);
    CHECK(pub->key_id == pair->public_key.key_id);
    CHECK(priv->public_key.key_id == pair->public_key.key_id);
  }

  TEST_CASE("garbage is not a key, and the error names the source") {
    auto pub = parse_public_key("not a key", "some.pub");
    REQUIRE_FALSE(pub);
    CHECK(pub.error().message().find("some.pub") != std::string::npos);
    CHECK_FALSE(parse_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "k"));
  }
}
