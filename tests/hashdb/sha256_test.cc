#include "hashdb/sha256.h"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <atomic>
#include <string>
#include <thread>

#include "common/io.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::hashdb;

TEST_SUITE("hashdb.sha256") {
  TEST_CASE("known vectors hash to their published digests") {
    struct Case {
      std::string input;
      const char* hex;
    };
    const Case cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.input.size());
      CHECK(to_hex(sha256_bytes(c.input)) == c.hex);
    }
  }

  TEST_CASE("hashing a file streams it and agrees with hashing its bytes") {
    testing::TempDir dir;
    std::string data;
    for (int i = 0; i < 3 * (1 << 20) + 17; ++i) data.push_back(static_cast<char>(i * 31));
    testing::write_text(dir.file("big"), data);
    auto digest = sha256_path(dir.file("big"));
    REQUIRE(digest);
    CHECK(*digest == sha256_bytes(data));
  }

  TEST_CASE("a missing file is an error naming the file") {
    auto digest = sha256_path("/nonexistent/tollgate-test");
    REQUIRE_FALSE(digest);
    CHECK(digest.error().code() == ErrorCode::kNotFound);
    CHECK(digest.error().message().find("/nonexistent/tollgate-test") != std::string::npos);
  }

  TEST_CASE("hex decoding accepts 64 digits of either case and nothing else") {
    const std::string good = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
    REQUIRE(sha256_from_hex(good));
    CHECK(to_hex(*sha256_from_hex(good)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_FALSE(sha256_from_hex(good.substr(1)));
    CHECK_FALSE(sha256_from_hex(good + "0"));
    CHECK_FALSE(sha256_from_hex("g" + good.substr(1)));
    CHECK_FALSE(sha256_from_hex(""));
    CHECK(bytes_from_hex("00ff") == std::string("\x00\xff", 2));
    CHECK_FALSE(bytes_from_hex("0"));
  }

  TEST_CASE("a stable hash reports the file's stat") {
    testing::TempDir dir;
    testing::write_text(dir.file("f"), "hello");
    auto fd = open_fd(dir.file("f"), O_RDONLY);
    REQUIRE(fd);
    auto h = sha256_fd_stable(fd->get(), dir.file("f"));
    REQUIRE(h);
    CHECK(h->st.st_size == 5);
    CHECK(h->digest == sha256_bytes(std::string("hello")));
  }

  TEST_CASE("hashing stops once its cancel flag is set") {
    testing::TempDir dir;
    testing::write_text(dir.file("f"), std::string(3 << 20, 'x'));
    auto fd = open_fd(dir.file("f"), O_RDONLY);
    REQUIRE(fd);
    std::atomic<bool> cancel{true};
    uint64_t read = 99;
    auto h = sha256_fd(fd->get(), dir.file("f"), &read, &cancel);
    REQUIRE_FALSE(h);
    CHECK(h.error().code() == ErrorCode::kUnavailable);
    CHECK(h.error().message() == dir.file("f") + ": hashing cancelled");
    CHECK(read == 99);  // nothing read, nothing reported

    cancel = false;
    REQUIRE(::lseek(fd->get(), 0, SEEK_SET) == 0);
    auto whole = sha256_fd_stable(fd->get(), dir.file("f"), &cancel);
    REQUIRE(whole);
    CHECK(whole->digest == sha256_bytes(std::string(3 << 20, 'x')));
  }

  TEST_CASE("a hash cancelled midway stops before the end of the file") {
    // 8 GiB, sparse: costs no disk, and hashing it takes seconds, so the
    // flag set after the first chunk always lands mid-file.
    testing::TempDir dir;
    const std::string path = dir.file("sparse");
    {
      auto fd = open_fd(path, O_WRONLY | O_CREAT, 0644);
      REQUIRE(fd);
      REQUIRE(::ftruncate(fd->get(), off_t{8} << 30) == 0);
    }
    auto fd = open_fd(path, O_RDONLY);
    REQUIRE(fd);
    std::atomic<bool> cancel{false};
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      cancel = true;
    });
    auto h = sha256_fd_stable(fd->get(), path, &cancel);
    canceller.join();
    REQUIRE_FALSE(h);
    CHECK(h.error().message() == path + ": hashing cancelled");
    CHECK(::lseek(fd->get(), 0, SEEK_CUR) < (off_t{8} << 30));
  }

  TEST_CASE("one pass gives SHA-256 and MD5 of a file, as their published vectors say") {
    struct Case {
      std::string input;
      const char* sha256;
      const char* md5;
    };
    const Case cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "d41d8cd98f00b204e9800998ecf8427e"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "900150983cd24fb0d6963f7d28e17f72"},
        {std::string(1000000, 'a'), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
         "7707d6ae4e027c70eea2a935c2296f21"},
    };
    testing::TempDir dir;
    for (const auto& c : cases) {
      CAPTURE(c.input.size());
      testing::write_text(dir.file("f"), c.input);
      auto fd = open_fd(dir.file("f"), O_RDONLY);
      REQUIRE(fd);
      auto both = digest_fd_stable(fd->get(), dir.file("f"), {.md5 = true});
      REQUIRE(both);
      CHECK(to_hex(both->digests.sha256) == c.sha256);
      CHECK(to_hex(both->digests.md5) == c.md5);
      CHECK(both->digests.bytes == c.input.size());
      CHECK(both->st.st_size == static_cast<off_t>(c.input.size()));
      CHECK(to_hex(md5_bytes(c.input)) == c.md5);
      REQUIRE(::lseek(fd->get(), 0, SEEK_SET) == 0);
      auto sha_only = digest_fd(fd->get(), dir.file("f"));
      REQUIRE(sha_only);
      CHECK(to_hex(sha_only->sha256) == c.sha256);
      CHECK(sha_only->md5 == Md5{});  // not asked for
    }
  }

  TEST_CASE("the MD5 pass is cancelled like the SHA-256 one") {
    testing::TempDir dir;
    testing::write_text(dir.file("f"), std::string(3 << 20, 'x'));
    auto fd = open_fd(dir.file("f"), O_RDONLY);
    REQUIRE(fd);
    std::atomic<bool> cancel{true};
    auto h = digest_fd_stable(fd->get(), dir.file("f"), {.md5 = true, .cancel = &cancel});
    REQUIRE_FALSE(h);
    CHECK(h.error().message() == dir.file("f") + ": hashing cancelled");
  }
}
