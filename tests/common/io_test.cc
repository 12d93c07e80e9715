#include "common/io.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.h"

using namespace tollgate;

TEST_SUITE("common.io") {
  TEST_CASE("write_file_atomic replaces the content and applies the mode") {
    testing::TempDir dir;
    const std::string path = dir.file("f");
    testing::write_text(path, "old");
    REQUIRE(write_file_atomic(path, "new content", 0600));
    CHECK(testing::read_text(path) == "new content");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(testing::run({"ls", dir.path()}).out == "f\n");
  }

  TEST_CASE("an uncommitted AtomicFile leaves the target untouched and no temp file behind") {
    testing::TempDir dir;
    const std::string path = dir.file("f");
    testing::write_text(path, "keep me");
    {
      auto file = AtomicFile::create(path);
      REQUIRE(file);
      REQUIRE(write_all(file->fd(), "half-writ", file->temp_path()));
    }
    CHECK(testing::read_text(path) == "keep me");
    CHECK(testing::run({"ls", dir.path()}).out == "f\n");
  }

  TEST_CASE("errors name the path and map errno to a code") {
    auto missing = read_file("/nonexistent/tollgate/x");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == ErrorCode::kNotFound);
    CHECK(missing.error().message().starts_with("/nonexistent/tollgate/x: "));
    auto dir = read_file("/");
    REQUIRE_FALSE(dir);
    CHECK(dir.error().message().find("not a regular file") != std::string::npos);
    auto bad = write_file_atomic("/nonexistent/tollgate/x", "data");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message().find("/nonexistent/tollgate/x") != std::string::npos);
  }

  TEST_CASE("read_file refuses files over the limit") {
    testing::TempDir dir;
    testing::write_text(dir.file("big"), std::string(1000, 'x'));
    CHECK_FALSE(read_file(dir.file("big"), 999));
    auto ok = read_file(dir.file("big"), 1000);
    REQUIRE(ok);
    CHECK(ok->size() == 1000);
  }

  TEST_CASE("parent_dir handles roots and bare names") {
    CHECK(parent_dir("/a/b") == "/a");
    CHECK(parent_dir("/a") == "/");
    CHECK(parent_dir("a") == ".");
  }
}
