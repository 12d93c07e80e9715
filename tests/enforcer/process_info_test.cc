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
