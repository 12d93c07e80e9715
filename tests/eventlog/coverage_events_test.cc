// The coverage event lines (issue 10, docs/events.md): mark, finding, kill,
// their syslog summaries and priorities, and a finding's fields (also one
// element of `tollgate sweep --json`).
#include <doctest/doctest.h>
#include <syslog.h>

#include "eventlog/builders.h"
#include "eventlog/reader.h"

using namespace tollgate;
using namespace tollgate::eventlog;
using nlohmann::json;

TEST_SUITE("eventlog.coverage") {
  TEST_CASE("a mark event names the filesystem, where it is mounted and why it was marked") {
    MarkRecord fs{.device = "0:52",
                  .fs_type = "tmpfs",
                  .source = "tmpfs",
                  .mount_points = {"/srv/late"},
                  .trigger = "mount",
                  .ok = true};
    auto e = mark_event("web1", fs);
    CHECK(e["type"] == "mark");
    CHECK(e["host"] == "web1");
    CHECK(e["device"] == "0:52");
    CHECK(e["fs_type"] == "tmpfs");
    CHECK(e["mount_points"] == json::array({"/srv/late"}));
    CHECK(e["trigger"] == "mount");
    CHECK(e["ok"] == true);
    CHECK(e["hidden"] == false);
    CHECK(syslog_summary(e) == "watching 0:52 (tmpfs, mount)");
    CHECK(syslog_priority(e) == LOG_NOTICE);
    fs.hidden = true;  // marked from a private mount namespace
    auto hidden = mark_event("web1", fs);
    CHECK(hidden["hidden"] == true);
    CHECK(syslog_summary(hidden) == "watching 0:52 (tmpfs, mount, hidden under another mount)");
    fs.hidden = false;
    fs.ok = false;
    fs.error = "/srv/late: hidden";
    auto failed = mark_event("web1", fs);
    CHECK(syslog_summary(failed) == "CANNOT watch 0:52 (tmpfs, mount): /srv/late: hidden");
    CHECK(syslog_priority(failed) == LOG_ERR);
    // The reader knows the type by name.
    auto back = parse_event(e.dump());
    REQUIRE(back);
    CHECK(back->type == EventType::kMark);
  }

  TEST_CASE("a finding event is the record's fields plus what on_unwatched does with it; a kill event its result") {
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
    CHECK(syslog_priority(f) == LOG_WARNING);
    auto k = kill_event("web1", r, Status{});
    CHECK(k["type"] == "kill");
    CHECK(k["ok"] == true);
    CHECK(k["signal"] == "SIGKILL");
    CHECK(syslog_summary(k) == "census: killed pid 4242 (/memfd:x (deleted), fileless)");
    CHECK(syslog_priority(k) == LOG_WARNING);
    auto failed = kill_event("web1", r, fail(ErrorCode::kUnavailable, "pid 4242: no longer the process"));
    CHECK(failed["ok"] == false);
    CHECK(failed["error"] == "pid 4242: no longer the process");
    for (const auto& line : {f, k}) {
      auto back = parse_event(line.dump());
      REQUIRE(back);
      CHECK(back->pid == 4242);
      CHECK(back->type == (line["type"] == "finding" ? EventType::kFinding : EventType::kKill));
    }
  }

  TEST_CASE("a finding's fields carry the finding, pid and the process facts; sweep's extras only when set") {
    census::ProcessRecord r;
    r.id = {.pid = 42, .start_ticks = 1};
    r.ppid = 1;
    r.uid = 33;
    r.user = "www-data";
    r.exe = "/memfd:x (deleted)";
    r.parent_exe = "/usr/bin/bash";
    r.cmdline = "x -o pool:3333";
    r.start_time_us = 1'764'560'675'123'456;
    r.finding = census::Finding::kFileless;
    auto j = finding_fields(r);
    CHECK(j["finding"] == "fileless");
    CHECK(j["pid"] == 42);
    CHECK(j["ppid"] == 1);
    CHECK(j["user"] == "www-data");
    CHECK(j["parent_exe"] == "/usr/bin/bash");
    CHECK(j["start_time"] == "2025-12-01T03:44:35.123456Z");
    CHECK_FALSE(j.contains("ts"));
    CHECK_FALSE(j.contains("exempt"));
    CHECK_FALSE(j.contains("cpu_share"));
    CHECK_FALSE(j.contains("miner"));
    r.cpu_share = 0.98;
    r.miner = miner::assess({{miner::Signal::kStratumPort, "connected to 203.0.113.7:3333"}}, {.path = r.exe});
    j = finding_fields(r);
    CHECK(j["cpu_share"] == 0.98);
    CHECK(j["miner"] == json(assessment_json(*r.miner)));
    CHECK(j["miner"]["reasons"][0].get<std::string>().starts_with("connected to 203.0.113.7:3333"));
  }

  TEST_CASE("syslog priorities: a DEGRADED policy is an error, a deny a warning, an allow or a mode change a notice") {
    CHECK(syslog_priority({{"type", "start"}, {"degraded", "refused"}}) == LOG_ERR);
    CHECK(syslog_priority({{"type", "decision"}, {"decision", "deny"}}) == LOG_WARNING);
    CHECK(syslog_priority({{"type", "decision"}, {"decision", "allow"}}) == LOG_NOTICE);
    CHECK(syslog_priority({{"type", "mode"}}) == LOG_NOTICE);
  }
}
