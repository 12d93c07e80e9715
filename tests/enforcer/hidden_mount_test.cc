// Which covering mount reach_hidden may detach (enforcer/hidden_mount.h),
// on made-up mount tables: nothing is mounted or detached here.
#include "enforcer/hidden_mount.h"

#include <doctest/doctest.h>
#include <sys/sysmacros.h>

using namespace tollgate;
using namespace tollgate::enforcer;

namespace {

const census::MountEntry& by_id(const std::vector<census::MountEntry>& mounts, int id) {
  for (const auto& m : mounts)
    if (m.mount_id == id) return m;
  FAIL("no mount " << id);
  return mounts.front();
}

}  // namespace

TEST_SUITE("enforcer.hidden_mount") {
  TEST_CASE("a mount stacked on the hidden one, or over a parent of its mount point, may be detached") {
    const auto mounts = census::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "24 1 0:6 / /dev rw - devtmpfs udev rw\n"
        "25 24 0:23 / /dev/shm rw - tmpfs tmpfs rw\n"  // hidden
        "30 25 0:27 / /dev/shm rw - tmpfs tmpfs rw\n"  // stacked on it
        "40 1 0:30 / /dev rw - tmpfs over rw\n");      // over its parent
    const auto& hidden = by_id(mounts, 25);
    CHECK(detaching_can_uncover(mounts, by_id(mounts, 30), hidden));
    CHECK(detaching_can_uncover(mounts, by_id(mounts, 40), hidden));
  }

  TEST_CASE("a mount that holds the hidden one is never detached: it would take it along") {
    const auto mounts = census::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "24 1 0:6 / /dev rw - devtmpfs udev rw\n"
        "25 24 0:23 / /dev/shm rw - tmpfs tmpfs rw\n");
    const auto& hidden = by_id(mounts, 25);
    CHECK_FALSE(detaching_can_uncover(mounts, by_id(mounts, 24), hidden));  // its parent
    CHECK_FALSE(detaching_can_uncover(mounts, by_id(mounts, 1), hidden));   // the root
  }

  TEST_CASE("with a second copy of it elsewhere in the tree, a mount holding only the first may go") {
    const auto mounts = census::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "24 1 0:6 / /dev rw - devtmpfs udev rw\n"
        "25 24 0:23 / /dev/shm rw - tmpfs tmpfs rw\n"
        "26 1 0:23 / /dev/shm rw - tmpfs tmpfs rw\n");  // the same filesystem, same point, under the root
    CHECK(detaching_can_uncover(mounts, by_id(mounts, 24), by_id(mounts, 25)));
  }

  TEST_CASE("a filesystem mounted nowhere at that point: nothing to uncover") {
    const auto mounts = census::parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "30 1 0:27 / /dev/shm rw - tmpfs tmpfs rw\n");
    census::MountEntry elsewhere = by_id(mounts, 30);
    elsewhere.dev = ::makedev(0, 99);
    CHECK_FALSE(detaching_can_uncover(mounts, by_id(mounts, 30), elsewhere));
  }

  TEST_CASE("a parent loop in a corrupt table ends") {
    const auto mounts = census::parse_mountinfo(
        "5 6 0:23 / /x rw - tmpfs a rw\n"
        "6 5 0:24 / /y rw - tmpfs b rw\n"
        "7 1 0:25 / /x rw - tmpfs c rw\n");
    CHECK(detaching_can_uncover(mounts, by_id(mounts, 7), by_id(mounts, 5)));
  }
}
