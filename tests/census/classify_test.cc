#include "census/classify.h"

#include <doctest/doctest.h>
#include <sys/sysmacros.h>

using namespace tollgate::census;

namespace {

// The daemon's namespace: root ext4 (mount 22), a watched tmpfs (mount 40),
// an unwatched xfs (mount 41).
MountView ours() {
  auto mounts = parse_mountinfo(
      "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "40 22 0:50 / /srv/watched rw - tmpfs w rw\n"
      "41 22 8:2 / /data rw - xfs /dev/sda2 rw\n");
  return MountView::from(mounts, {::makedev(8, 1), ::makedev(0, 50)});
}

ProcessFacts process(const std::string& exe, int mount_id, dev_t dev = 0) {
  ProcessFacts p;
  p.id = {.pid = 100, .start_ticks = 5, .exe_dev = dev, .exe_ino = 7};
  p.has_exe = true;
  p.exe = exe;
  p.exe_mount_id = mount_id;
  return p;
}

const Judgement kDenied{.denied = true, .rule = "default-deny", .reason = "no rule approves it"};
const Judgement kApproved{.denied = false, .rule = "hash-allow:ab", .reason = "approved"};

}  // namespace

TEST_SUITE("census.classify") {
  TEST_CASE("where an executable lives, from its mount in our namespace or in its own") {
    const MountView view = ours();
    // The process's own namespace: a copy of ours (new mount ids, same
    // filesystems) plus a tmpfs mounted inside it.
    const auto theirs = parse_mountinfo(
        "90 89 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "91 90 0:50 / /srv/watched rw - tmpfs w rw\n"
        "92 90 0:77 / /tmp/x rw - tmpfs x rw\n");
    struct Row {
      const char* what;
      ProcessFacts p;
      const std::vector<MountEntry>* theirs;
      Placement placement;
      bool deleted;
    };
    const std::vector<Row> rows = {
        {"on our watched root", process("/usr/bin/ls", 22), nullptr, Placement::kWatched, false},
        {"on our watched tmpfs", process("/srv/watched/x", 40), nullptr, Placement::kWatched, false},
        {"on our unwatched xfs", process("/data/x", 41), nullptr, Placement::kUnwatched, false},
        {"deleted, on the watched tmpfs", process("/srv/watched/x (deleted)", 40), nullptr, Placement::kWatched, true},
        {"a memfd", process("/memfd:miner (deleted)", 13), &theirs, Placement::kFileless, true},
        {"a memfd, their mountinfo unreadable", process("/memfd:x (deleted)", 13), nullptr, Placement::kFileless, true},
        {"another namespace's copy of our watched tmpfs", process("/srv/watched/x", 91), &theirs, Placement::kWatched,
         false},
        {"a tmpfs mounted inside another namespace", process("/tmp/x/miner", 92), &theirs, Placement::kForeign, false},
        {"a real file named like a memfd, in another namespace", process("/memfd:x", 92), &theirs, Placement::kForeign,
         false},
        {"a path on no mount anywhere (detached)", process("/old/x", 99), &theirs, Placement::kForeign, false},
        {"no mount id (old kernel): st_dev of a filesystem of ours", process("/srv/watched/x", -1, ::makedev(0, 50)),
         nullptr, Placement::kWatched, false},
        {"no mount id, st_dev unknown here", process("/x", -1, ::makedev(0, 99)), nullptr, Placement::kForeign, false},
        {"a mount of a namespace it left (unshare after exec), st_dev one of ours",
         process("/usr/bin/x", 5, ::makedev(8, 1)), &theirs, Placement::kWatched, false},
    };
    for (const auto& r : rows) {
      CAPTURE(r.what);
      auto at = locate(r.p, view, r.theirs);
      CHECK(at.placement == r.placement);
      CHECK(at.deleted == r.deleted);
    }
    ProcessFacts kthread;
    kthread.kernel_thread = true;
    CHECK(locate(kthread, view, nullptr).placement == Placement::kNone);
    auto foreign = locate(process("/tmp/x/miner", 92), view, &theirs);
    CHECK(foreign.dev == ::makedev(0, 77));
    CHECK(foreign.fs_type == "tmpfs");
  }

  TEST_CASE("findings: fileless and foreign always, watched ones only when the policy denies them") {
    struct Row {
      const char* what;
      Placement placement;
      bool deleted;
      std::optional<Judgement> judgement;
      std::optional<Finding> finding;
    };
    const std::vector<Row> rows = {
        {"memfd", Placement::kFileless, true, std::nullopt, Finding::kFileless},
        {"foreign", Placement::kForeign, false, std::nullopt, Finding::kForeignFilesystem},
        {"watched, denied", Placement::kWatched, false, kDenied, Finding::kUnapproved},
        {"watched, deleted, denied", Placement::kWatched, true, kDenied, Finding::kDeleted},
        {"watched, approved", Placement::kWatched, false, kApproved, std::nullopt},
        {"watched, deleted, content still approved (an upgrade)", Placement::kWatched, true, kApproved, std::nullopt},
        {"watched, no verdict (no policy)", Placement::kWatched, false, std::nullopt, std::nullopt},
        {"unwatched, denied", Placement::kUnwatched, false, kDenied, std::nullopt},
        {"kernel thread", Placement::kNone, false, std::nullopt, std::nullopt},
    };
    for (const auto& r : rows) {
      CAPTURE(r.what);
      Located at{.placement = r.placement, .deleted = r.deleted};
      CHECK(finding_for(at, r.judgement) == r.finding);
    }
  }

  TEST_CASE("the finding words are stable and only 'deleted' is never killed by the daemon") {
    CHECK(to_string(Finding::kFileless) == "fileless");
    CHECK(to_string(Finding::kForeignFilesystem) == "foreign-filesystem");
    CHECK(to_string(Finding::kDeleted) == "deleted");
    CHECK(to_string(Finding::kUnapproved) == "unapproved");
    CHECK(killable(Finding::kFileless));
    CHECK(killable(Finding::kForeignFilesystem));
    CHECK(killable(Finding::kUnapproved));
    CHECK_FALSE(killable(Finding::kDeleted));
  }
}
