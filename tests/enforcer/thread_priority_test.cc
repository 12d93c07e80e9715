#include "enforcer/thread_priority.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <thread>

using namespace tollgate::enforcer;

TEST_SUITE("enforcer.thread_priority") {
  TEST_CASE("a nice value applies to the calling thread only") {
    const int before = thread_nice();
    int inside = 99, other = 99;
    std::thread t([&] {
      REQUIRE(set_thread_nice(7));
      inside = thread_nice();
      std::thread child([&] { other = thread_nice(); });  // a new thread inherits its creator's value
      child.join();
    });
    t.join();
    CHECK(inside == 7);
    CHECK(other == 7);
    CHECK(thread_nice() == before);  // this thread is untouched
  }

  TEST_CASE("an elevated priority needs CAP_SYS_NICE; keep_thread_at_most_normal brings a thread back to 0") {
    int elevated = 99, normal = 99, lowered = 99;
    bool set = false;
    std::string error;
    std::thread t([&] {
      auto st = set_thread_nice(-5);
      set = static_cast<bool>(st);
      if (!st) error = st.error().message();
      elevated = thread_nice();
      keep_thread_at_most_normal();
      normal = thread_nice();
      REQUIRE(set_thread_nice(3));
      keep_thread_at_most_normal();  // a lower priority stays
      lowered = thread_nice();
    });
    t.join();
    if (::geteuid() == 0) {
      CHECK(set);
      CHECK(elevated == -5);
    } else {
      CHECK_FALSE(set);
      CHECK(error.find("nice value to -5") != std::string::npos);
    }
    CHECK(normal == 0);
    CHECK(lowered == 3);
  }
}
