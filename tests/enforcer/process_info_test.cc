#include "enforcer/process_info.h"

#include <doctest/doctest.h>
#include <unistd.h>

using namespace tollgate::enforcer;

TEST_SUITE("enforcer.process_info") {
  TEST_CASE("process info is read from /proc") {
    auto info = read_process_info(::getpid());
    CHECK(info.pid == ::getpid());
    CHECK(info.ppid == ::getppid());
    CHECK(info.uid == ::getuid());
    CHECK_FALSE(info.exe.empty());
    CHECK_FALSE(info.comm.empty());
  }
}

TEST_SUITE("enforcer.process_info") {
  TEST_CASE("the parent pid alone is read from /proc/PID/stat") {
    CHECK(read_ppid(::getpid()) == ::getppid());
    CHECK(read_ppid(0) == 0);  // no /proc/0
  }

  TEST_CASE("the stat line's ppid follows the last ')' of comm") {
    CHECK(parse_stat_ppid("42 (bash) S 7 42 42 0") == 7);
    CHECK(parse_stat_ppid("42 (a) b) (c) R 1234 1 1") == 1234);  // comm is "a) b) (c"
    CHECK(parse_stat_ppid("42 (x y) S  99 1") == 99);
    CHECK(parse_stat_ppid("42 (bash S 7") == 0);   // no ')'
    CHECK(parse_stat_ppid("42 (bash) S") == 0);    // no ppid
    CHECK(parse_stat_ppid("42 (bash) S x") == 0);  // not a number
  }
}
