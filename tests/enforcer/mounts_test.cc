#include <doctest/doctest.h>

#include "enforcer/fanotify.h"

using namespace tollgate::enforcer;

TEST_SUITE("enforcer.mounts") {
  TEST_CASE("watch: auto keeps local exec-capable filesystems only") {
    const std::string mountinfo =
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "23 22 0:5 / /proc rw,nosuid,nodev,noexec shared:2 - proc proc rw\n"
        "24 22 0:6 / /sys rw,nosuid,nodev,noexec shared:3 - sysfs sysfs rw\n"
        "25 22 0:7 / /dev rw,nosuid shared:4 - devtmpfs udev rw\n"
        "26 25 0:8 / /dev/shm rw,nosuid,nodev shared:5 - tmpfs tmpfs rw\n"
        "27 22 0:9 / /run rw,nosuid,nodev,noexec shared:6 - tmpfs tmpfs rw\n"
        "28 22 8:2 / /srv/my\\040data rw,relatime shared:7 - xfs /dev/sda2 rw\n"
        "29 22 0:10 / /mnt/nfs rw shared:8 - nfs4 server:/x rw\n"
        "30 22 0:11 / /var/lib/docker/overlay2/m rw shared:9 - overlay overlay rw\n"
        "31 22 0:12 / /sys/fs/cgroup rw shared:10 - cgroup2 cgroup2 rw\n";
    auto mounts = parse_mountinfo(mountinfo);
    REQUIRE(mounts.size() == 10);
    CHECK(mounts[6].mount_point == "/srv/my data");
    CHECK(mounts[1].noexec);
    CHECK(select_auto_mounts(mounts) ==
          std::vector<std::string>{"/", "/dev/shm", "/srv/my data", "/var/lib/docker/overlay2/m"});
  }

  TEST_CASE("malformed lines are skipped") {
    CHECK(parse_mountinfo("garbage\n\n1 2 3\n").empty());
  }
}
