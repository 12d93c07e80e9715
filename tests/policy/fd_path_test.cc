// fd_path: what a path rule may see of an open file (no root needed).
#include "policy/fd_path.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

namespace {

std::string real(const std::string& p) {
  char buf[PATH_MAX];
  REQUIRE(::realpath(p.c_str(), buf));
  return buf;
}

FdPath path_of(int fd) {
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  return fd_path(fd, st);
}

}  // namespace

TEST_SUITE("policy.fd_path") {
  TEST_CASE("a file with a name: its resolved path, for the rules and the log") {
    testing::TempDir dir;
    testing::write_text(dir.file("tool"), "x");
    UniqueFd fd(::open(dir.file("tool").c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto p = path_of(fd.get());
    CHECK(p.path == real(dir.file("tool")));
    CHECK(p.display == p.path);
    CHECK_FALSE(p.nameless);
  }

  TEST_CASE("a deleted file: the kernel's ' (deleted)' text is logged, rules see the last name, deny-only") {
    testing::TempDir dir;
    testing::write_text(dir.file("dropped"), "x");
    const std::string name = real(dir.file("dropped"));
    UniqueFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    REQUIRE(::unlink(name.c_str()) == 0);
    auto p = path_of(fd.get());
    CHECK(p.display == name + " (deleted)");  // what readlink really returns
    CHECK(p.path == name);
    CHECK(p.nameless);

    // Another file now holds that name: still the deleted one.
    testing::write_text(name, "other");
    p = path_of(fd.get());
    CHECK(p.path == name);
    CHECK(p.nameless);
  }

  TEST_CASE("a real name ending in ' (deleted)' is a name, not a deletion") {
    testing::TempDir dir;
    testing::write_text(dir.file("tool (deleted)"), "x");
    const std::string name = real(dir.file("tool (deleted)"));
    UniqueFd fd(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    auto p = path_of(fd.get());
    CHECK(p.path == name);
    CHECK_FALSE(p.nameless);
    // Deleted in turn: "... (deleted) (deleted)", last name "... (deleted)".
    REQUIRE(::unlink(name.c_str()) == 0);
    p = path_of(fd.get());
    CHECK(p.display == name + " (deleted)");
    CHECK(p.path == name);
    CHECK(p.nameless);
  }

  TEST_CASE("a path longer than PATH_MAX is unknown, never cut") {
    testing::TempDir dir;
    const std::string component(200, 'd');
    std::vector<UniqueFd> dirs;
    dirs.emplace_back(::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dirs.back());
    size_t length = dir.path().size();
    while (length <= PATH_MAX + 200) {
      REQUIRE(::mkdirat(dirs.back().get(), component.c_str(), 0755) == 0);
      dirs.emplace_back(::openat(dirs.back().get(), component.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      REQUIRE(dirs.back());
      length += component.size() + 1;
    }
    UniqueFd fd(::openat(dirs.back().get(), "evil", O_RDWR | O_CREAT | O_CLOEXEC, 0755));
    REQUIRE(fd);
    auto p = path_of(fd.get());
    CHECK(p.path.empty());
    CHECK(p.display.empty());
    CHECK_FALSE(p.nameless);
    // Clean up from the bottom: TempDir's remove_all cannot walk paths this long.
    REQUIRE(::unlinkat(dirs.back().get(), "evil", 0) == 0);
    for (size_t i = dirs.size() - 1; i > 0; --i)
      REQUIRE(::unlinkat(dirs[i - 1].get(), component.c_str(), AT_REMOVEDIR) == 0);
  }

  TEST_CASE("what is not a path (a pipe) is unknown") {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    UniqueFd r(p[0]), w(p[1]);
    auto path = path_of(r.get());
    CHECK(path.path.empty());
    CHECK(path.display.starts_with("pipe:["));
  }
}
