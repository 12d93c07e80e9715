// Mount tables and `watch:` prefixes, on fake mountinfo text only. Nothing
// here reads the live mount table or marks anything: `watch: auto` is
// resolved here as the prefix "/" over made-up lines (DEVELOPERS.md).
#include "census/mounts.h"

#include <doctest/doctest.h>
#include <sys/sysmacros.h>

#include <algorithm>

using namespace tollgate::census;

namespace {

// A Debian-like host: root on ext4, the usual pseudo filesystems, tmpfs for
// /dev/shm and /run, a noexec /tmp, NFS, a container overlay, a bind mount.
const char* kHost =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "23 22 0:5 / /proc rw,nosuid,nodev,noexec shared:2 - proc proc rw\n"
    "24 22 0:6 / /sys rw,nosuid,nodev,noexec shared:3 - sysfs sysfs rw\n"
    "25 22 0:7 / /dev rw,nosuid shared:4 - devtmpfs udev rw\n"
    "26 25 0:8 / /dev/shm rw,nosuid,nodev shared:5 - tmpfs tmpfs rw\n"
    "27 22 0:9 / /run rw,nosuid,nodev,noexec shared:6 - tmpfs tmpfs rw\n"
    "28 22 8:2 / /srv/my\\040data rw,relatime shared:7 - xfs /dev/sda2 rw\n"
    "29 22 0:10 / /mnt/nfs rw shared:8 - nfs4 server:/x rw\n"
    "30 22 0:11 / /var/lib/docker/overlay2/m/merged rw shared:9 - overlay overlay rw\n"
    "31 24 0:12 / /sys/fs/cgroup rw shared:10 - cgroup2 cgroup2 rw\n"
    "32 22 0:13 / /tmp rw,nosuid,nodev,noexec shared:11 - tmpfs tmpfs rw\n"
    "33 22 8:2 /exports /srv/export rw,relatime shared:7 - xfs /dev/sda2 rw\n"
    "34 22 0:14 / /boot/efi rw - vfat /dev/sda3 rw\n";

std::vector<std::string> points(const WatchedFs& fs) {
  std::vector<std::string> out;
  for (const auto* m : fs.mounts) out.push_back(m->mount_point);
  return out;
}

std::vector<std::string> types(const std::vector<WatchedFs>& watched) {
  std::vector<std::string> out;
  for (const auto& w : watched) out.push_back(w.fs_type + " " + device_name(w.dev));
  return out;
}

}  // namespace

TEST_SUITE("census.mounts") {
  TEST_CASE("mountinfo lines parse into mount id, device, root, mount point, type, source and noexec") {
    auto mounts = parse_mountinfo(kHost);
    REQUIRE(mounts.size() == 13);
    CHECK(mounts[0].mount_id == 22);
    CHECK(mounts[0].parent_id == 1);
    CHECK(mounts[0].dev == ::makedev(8, 1));
    CHECK(mounts[6].mount_point == "/srv/my data");
    CHECK(mounts[1].noexec);
    CHECK_FALSE(mounts[0].noexec);
    CHECK(mounts[7].fs_type == "nfs4");
    CHECK(mounts[7].source == "server:/x");
    CHECK(mounts[11].root == "/exports");
    CHECK(device_name(mounts[11].dev) == "8:2");
  }

  TEST_CASE("malformed lines are skipped, good ones around them kept") {
    CHECK(parse_mountinfo("garbage\n\n1 2 3\n").empty());
    CHECK(parse_mountinfo("x 1 8:1 / / rw - ext4 /dev/sda1 rw\n").empty());          // id not a number
    CHECK(parse_mountinfo("22 1 8:x / / rw - ext4 /dev/sda1 rw\n").empty());         // device
    CHECK(parse_mountinfo("22 1 8:1 / / rw shared:1 ext4 /dev/sda1 rw\n").empty());  // no separator
    auto m = parse_mountinfo("junk\n22 1 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\nmore junk");
    REQUIRE(m.size() == 1);
    CHECK(m[0].mount_point == "/");
  }

  TEST_CASE("filesystem kinds: pseudo ones are never watched, network and unknown types are") {
    for (const char* t : {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs", "bpf",
                          "securityfs", "configfs", "binfmt_misc", "autofs", "nsfs", "efivarfs"}) {
      CAPTURE(t);
      CHECK(fs_kind(t) == FsKind::kPseudo);
      CHECK_FALSE(holds_executables(t));
    }
    for (const char* t : {"nfs", "nfs4", "cifs", "smb3", "ceph", "9p", "virtiofs", "fuse.sshfs"}) {
      CAPTURE(t);
      CHECK(fs_kind(t) == FsKind::kNetwork);
      CHECK(holds_executables(t));
    }
    for (const char* t : {"ext4", "xfs", "btrfs", "tmpfs", "overlay", "squashfs", "vfat", "ramfs", "devtmpfs",
                          "hugetlbfs", "fuse", "fuse.appimage", "zfs", "some-new-fs"}) {
      CAPTURE(t);
      CHECK(fs_kind(t) == FsKind::kLocal);
    }
  }

  TEST_CASE("a prefix covers itself and what is below it, by whole components") {
    struct Row {
      const char* mount_point;
      const char* prefix;
      bool covered;
    };
    for (const auto& r : std::vector<Row>{{"/srv", "/srv", true},
                                          {"/srv/a", "/srv", true},
                                          {"/srv/a", "/srv/", true},
                                          {"/srvx", "/srv", false},
                                          {"/sr", "/srv", false},
                                          {"/", "/", true},
                                          {"/anything/at/all", "/", true},
                                          {"/srv", "srv", false},
                                          {"/srv", "", false}}) {
      CAPTURE(r.mount_point);
      CAPTURE(r.prefix);
      CHECK(at_or_below(r.mount_point, r.prefix) == r.covered);
    }
  }

  TEST_CASE("the mount holding a path is the longest mount point above it, the last one listed on ties") {
    auto mounts = parse_mountinfo(
        "1 0 8:1 / / rw - ext4 a rw\n"
        "2 1 0:5 / /srv rw - tmpfs b rw\n"
        "3 1 0:6 / /srv rw - tmpfs c rw\n"  // mounted over the first /srv: hides it
        "4 3 0:7 / /srv/x rw - tmpfs d rw\n");
    CHECK(holding_mount(mounts, "/etc/passwd")->mount_id == 1);
    CHECK(holding_mount(mounts, "/srv")->mount_id == 3);
    CHECK(holding_mount(mounts, "/srv/file")->mount_id == 3);
    CHECK(holding_mount(mounts, "/srv/x/y")->mount_id == 4);
    CHECK(holding_mount(mounts, "/srv/xy")->mount_id == 3);
    CHECK(holding_mount(mounts, "relative") == nullptr);
  }

  TEST_CASE(
      "watch: auto (the prefix /, resolved on fake text only) covers every filesystem that can hold "
      "executables, noexec and network ones included, once each") {
    auto mounts = parse_mountinfo(kHost);
    auto watched = select_watched(mounts, {"/"});
    CHECK(types(watched) == std::vector<std::string>{"ext4 8:1", "devtmpfs 0:7", "tmpfs 0:8", "tmpfs 0:9", "xfs 8:2",
                                                     "nfs4 0:10", "overlay 0:11", "tmpfs 0:13", "vfat 0:14"});
    // The xfs is mounted twice (a bind of a subdirectory): one filesystem, both mounts.
    CHECK(points(watched[4]) == std::vector<std::string>{"/srv/my data", "/srv/export"});
  }

  TEST_CASE("an explicit prefix covers the filesystem holding it and everything mounted at or below it") {
    auto mounts = parse_mountinfo(kHost);
    SUBCASE("a mount point") {
      CHECK(types(select_watched(mounts, {"/dev"})) == std::vector<std::string>{"devtmpfs 0:7", "tmpfs 0:8"});
    }
    SUBCASE("a directory on the root filesystem: the root filesystem and what is mounted below") {
      CHECK(types(select_watched(mounts, {"/srv"})) == std::vector<std::string>{"ext4 8:1", "xfs 8:2"});
    }
    SUBCASE("a path below a mount: only that filesystem") {
      CHECK(types(select_watched(mounts, {"/tmp/build"})) == std::vector<std::string>{"tmpfs 0:13"});
    }
    SUBCASE("several prefixes, overlapping") {
      CHECK(types(select_watched(mounts, {"/dev/shm", "/dev", "/mnt"})) ==
            std::vector<std::string>{"tmpfs 0:8", "devtmpfs 0:7", "ext4 8:1", "nfs4 0:10"});
    }
    SUBCASE("a pseudo filesystem alone: nothing") {
      CHECK(select_watched(mounts, {"/proc"}).empty());
      CHECK(select_watched(mounts, {"/sys"}).empty());
    }
  }

  TEST_CASE("a filesystem mounted later below a prefix is covered; one mounted elsewhere is not") {
    std::string text = "1 0 8:1 / / rw - ext4 a rw\n2 1 0:50 / /srv/data rw - tmpfs t rw\n";
    CHECK(types(select_watched(parse_mountinfo(text), {"/srv/data"})) == std::vector<std::string>{"tmpfs 0:50"});
    text += "3 2 0:51 / /srv/data/late rw - tmpfs late rw\n4 1 0:52 / /mnt/usb rw - vfat usb rw\n";
    CHECK(types(select_watched(parse_mountinfo(text), {"/srv/data"})) ==
          std::vector<std::string>{"tmpfs 0:50", "tmpfs 0:51"});
  }

  TEST_CASE("a watched filesystem lists its other mounts too, qualifying ones first, to mark it through") {
    auto mounts = parse_mountinfo(
        "1 0 8:1 / / rw - ext4 a rw\n"
        "2 1 0:5 / /elsewhere rw - tmpfs t rw\n"
        "3 1 0:5 / /srv/t rw - tmpfs t rw\n");
    auto watched = select_watched(mounts, {"/srv/t"});
    REQUIRE(watched.size() == 1);
    CHECK(points(watched[0]) == std::vector<std::string>{"/srv/t", "/elsewhere"});
  }
}
