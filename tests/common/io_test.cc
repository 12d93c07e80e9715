#include "common/io.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

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

  TEST_CASE("open_regular opens regular files and creates missing ones") {
    testing::TempDir dir;
    testing::write_text(dir.file("f"), "data");
    auto fd = open_regular(dir.file("f"), O_RDONLY);
    REQUIRE_MESSAGE(fd, fd.error().message());
    char buf[8] = {};
    CHECK(::read(fd->get(), buf, sizeof buf) == 4);
    auto created = open_regular(dir.file("new"), O_WRONLY | O_APPEND | O_CREAT, 0640);
    REQUIRE_MESSAGE(created, created.error().message());
    struct stat st {};
    REQUIRE(::stat(dir.file("new").c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    auto missing = open_regular(dir.file("absent"), O_RDONLY);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code() == ErrorCode::kNotFound);
  }

  TEST_CASE("open_regular refuses a FIFO without blocking, a symlink, a directory and a socket") {
    testing::TempDir dir;
    REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0666) == 0);
    testing::write_text(dir.file("target"), "secret");
    REQUIRE(::symlink(dir.file("target").c_str(), dir.file("link").c_str()) == 0);
    REQUIRE(::mkdir(dir.file("dir").c_str(), 0755) == 0);
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(sock >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, dir.file("sock").c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    struct Case {
      std::string name;
      int flags;
      std::string message;
    };
    const Case cases[] = {
        // No reader on the FIFO: a blocking open would hang this test.
        {"fifo", O_RDONLY, ": not a regular file (a FIFO)"},
        {"fifo", O_WRONLY | O_APPEND | O_CREAT, ": not a regular file (a FIFO)"},
        {"link", O_RDONLY, ": is a symbolic link (refusing to follow it)"},
        {"link", O_WRONLY | O_APPEND | O_CREAT, ": is a symbolic link (refusing to follow it)"},
        {"dir", O_RDONLY, ": not a regular file (a directory)"},
        {"sock", O_RDONLY, ": not a regular file (a socket)"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      CAPTURE(c.flags);
      auto fd = open_regular(dir.file(c.name), c.flags, 0640);
      REQUIRE_FALSE(fd);
      CHECK(fd.error().code() == ErrorCode::kInvalidInput);
      CHECK(fd.error().message() == dir.file(c.name) + c.message);
    }
    CHECK(testing::read_text(dir.file("target")) == "secret");  // never written through the link
    ::close(sock);
  }
}
