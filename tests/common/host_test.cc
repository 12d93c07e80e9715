#include "common/host.h"

#include <doctest/doctest.h>
#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

using namespace tollgate;

TEST_SUITE("common.host") {
  TEST_CASE("the host name is gethostname's, never empty") {
    char buf[256] = {};
    REQUIRE(::gethostname(buf, sizeof buf - 1) == 0);
    CHECK(host_name() == buf);
    CHECK_FALSE(host_name().empty());
  }

  TEST_CASE("groups are looked up by name; an empty or unknown name is no group") {
    group* root = ::getgrgid(0);
    REQUIRE(root);
    CHECK(group_id(root->gr_name) == gid_t{0});
    CHECK_FALSE(group_id(""));
    CHECK_FALSE(group_id("no-such-group-tollgate"));
  }

  TEST_CASE("this process is in its own groups and not in one it lacks") {
    CHECK(process_in_group(::getgid()));
    CHECK(process_in_group(::getegid()));
    int n = ::getgroups(0, nullptr);
    std::vector<gid_t> groups(static_cast<size_t>(n > 0 ? n : 0));
    if (n > 0) REQUIRE(::getgroups(n, groups.data()) == n);
    gid_t other = 54321;
    while (other == ::getgid() || other == ::getegid() ||
           std::find(groups.begin(), groups.end(), other) != groups.end())
      ++other;
    CHECK_FALSE(process_in_group(other));
  }
}
