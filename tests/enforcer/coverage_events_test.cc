// The coverage event lines (docs/events.md): mark, finding, kill, and their
// syslog summaries.
#include <doctest/doctest.h>
#include <sys/sysmacros.h>

#include "enforcer/coverage_events.h"
#include "enforcer/events.h"

using namespace tollgate;
using namespace tollgate::enforcer;

TEST_SUITE("enforcer.coverage_events") {
  TEST_CASE("a mark event names the filesystem, where it is mounted and why it was marked") {
    WatchedFilesystem fs{.dev = ::makedev(0, 52), .fs_type = "tmpfs", .source = "tmpfs",
                         .mount_points = {"/srv/late"}, .marked = true};
    auto e = mark_event("web1", fs, "mount");
    CHECK(e["type"] == "mark");
    CHECK(e["host"] == "web1");
    CHECK(e["device"] == "0:52");
    CHECK(e["fs_type"] == "tmpfs");
    CHECK(e["mount_points"] == nlohmann::json::array({"/srv/late"}));
    CHECK(e["trigger"] == "mount");
    CHECK(e["ok"] == true);
    CHECK(syslog_summary(e) == "watching 0:52 (tmpfs, mount)");
    fs.marked = false;
    fs.error = "/srv/late: hidden";
    CHECK(syslog_summary(mark_event("web1", fs, "mount")) == "CANNOT watch 0:52 (tmpfs, mount): /srv/late: hidden");
  }

  TEST_CASE("a finding event is the census record plus what on_unwatched does with it; a kill event its result") {
    census::ProcessRecord r;
    r.id = {.pid = 4242, .start_ticks = 7};
    r.uid = 33;
    r.exe = "/memfd:x (deleted)";
    r.finding = census::Finding::kFileless;
    r.reason = "a memfd";
    auto f = finding_event("web1", r, "kill");
    CHECK(f["type"] == "finding");
    CHECK(f["finding"] == "fileless");
    CHECK(f["pid"] == 4242);
    CHECK(f["action"] == "kill");
    CHECK(f.contains("ts"));
    CHECK(syslog_summary(f) == "census: fileless pid 4242 (/memfd:x (deleted), uid 33): kill");
    auto k = kill_event("web1", r, Status{});
    CHECK(k["type"] == "kill");
    CHECK(k["ok"] == true);
    CHECK(k["signal"] == "SIGKILL");
    CHECK(syslog_summary(k) == "census: killed pid 4242 (/memfd:x (deleted), fileless)");
    auto failed = kill_event("web1", r, fail(ErrorCode::kUnavailable, "pid 4242: no longer the process"));
    CHECK(failed["ok"] == false);
    CHECK(failed["error"] == "pid 4242: no longer the process");
  }
}
