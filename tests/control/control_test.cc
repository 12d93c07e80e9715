#include <doctest/doctest.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "control/client.h"
#include "control/server.h"
#include "hashdb/sha256.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::control;
using nlohmann::json;

TEST_SUITE("control") {
  TEST_CASE("requests parse into commands") {
    auto s = parse_control_request(R"({"cmd":"status"})");
    REQUIRE(s);
    CHECK(s->cmd == ControlRequest::Cmd::kStatus);
    auto r = parse_control_request(R"({"cmd":"reload"})");
    REQUIRE(r);
    CHECK(r->cmd == ControlRequest::Cmd::kReload);
    auto m = parse_control_request(R"({"cmd":"set_mode","mode":"enforce","by":"alice","forced":true})");
    REQUIRE(m);
    CHECK(m->cmd == ControlRequest::Cmd::kSetMode);
    CHECK(m->mode == policy::Mode::kEnforce);
    CHECK(m->by == "alice");
    CHECK(m->forced);
    auto i = parse_control_request(R"({"cmd":"install","candidate":"/d/policy.db.candidate","by":"bob"})");
    REQUIRE(i);
    CHECK(i->cmd == ControlRequest::Cmd::kInstall);
    CHECK(i->path == "/d/policy.db.candidate");
    CHECK(i->by == "bob");
    auto bare = parse_control_request(R"({"cmd":"install"})");
    REQUIRE(bare);
    CHECK(bare->path.empty());
    auto back = parse_control_request(R"({"cmd":"rollback","file":"/var/backups/tollgate/policy-gen6.db"})");
    REQUIRE(back);
    CHECK(back->cmd == ControlRequest::Cmd::kRollback);
    CHECK(back->path == "/var/backups/tollgate/policy-gen6.db");
  }

  TEST_CASE("timed audit, trust_pending and end_pending round-trip; the status reply carries the pending set") {
    auto timed = parse_control_request(to_json(ControlRequest::timed_audit(std::chrono::minutes(10), "alice")).dump());
    REQUIRE(timed);
    CHECK(timed->cmd == ControlRequest::Cmd::kSetMode);
    CHECK(timed->mode == policy::Mode::kAudit);
    CHECK(timed->for_s == 600);
    std::vector<policy::PendingFile> files = {
        {hashdb::sha256_bytes(std::string_view("x")), "bash", "5.2-1", "/usr/bin/bash"},
        {hashdb::sha256_bytes(std::string_view("y")), "bash", "5.2-1", "/usr/bin/sh"}};
    auto trust = parse_control_request(to_json(ControlRequest::trust_pending(files, "apt-hook")).dump());
    REQUIRE(trust);
    CHECK(trust->cmd == ControlRequest::Cmd::kTrustPending);
    CHECK(trust->by == "apt-hook");
    CHECK(trust->pending.size() == 2);
    CHECK(std::find(trust->pending.begin(), trust->pending.end(), files[1]) != trust->pending.end());
    auto end = parse_control_request(to_json(ControlRequest::end_pending("apt-hook")).dump());
    REQUIRE(end);
    CHECK(end->cmd == ControlRequest::Cmd::kEndPending);

    StatusReply s;
    s.mode = policy::Mode::kEnforce;
    s.pending_trust = {.files = 2, .packages = {"bash=5.2-1"}, .expires = "2026-12-01T04:00:00Z"};
    s.audit_until = "2026-12-01T03:10:00Z";
    auto back = status_from_json(to_json(s));
    REQUIRE(back);
    CHECK(back->pending_trust.files == 2);
    CHECK(back->pending_trust.packages == std::vector<std::string>{"bash=5.2-1"});
    CHECK(back->pending_trust.expires == "2026-12-01T04:00:00Z");
    CHECK(back->audit_until == "2026-12-01T03:10:00Z");
    auto reply = pending_from_json(to_json(PendingReply{.added = 1, .files = 2}));
    REQUIRE(reply);
    CHECK(reply->added == 1);
    CHECK(reply->files == 2);
  }

  TEST_CASE("bad requests get one-line errors") {
    struct Case {
      const char* line;
      const char* error;
    };
    const Case cases[] = {
        {"not json", "request is not a JSON object"},
        {"[1]", "request is not a JSON object"},
        {R"({"command":"status"})", "request has no \"cmd\" string"},
        {R"({"cmd":"shutdown"})",
         "unknown command 'shutdown'; use status, reload, set_mode, install, rollback, "
         "trust_pending or end_pending"},
        {R"({"cmd":"set_mode","mode":"audit","for_s":0})", "\"for_s\" must be whole seconds from 1 to 86400"},
        {R"({"cmd":"set_mode","mode":"audit","for_s":86401})", "\"for_s\" must be whole seconds from 1 to 86400"},
        {R"({"cmd":"set_mode","mode":"enforce","for_s":60})", "\"for_s\" applies to audit mode only"},
        {R"({"cmd":"trust_pending"})", "trust_pending needs \"packages\""},
        {R"({"cmd":"trust_pending","packages":[{"package":"bash","version":"1","files":[["/usr/bin/bash","00"]]}]})",
         "trust_pending: '00' is not 64 hex digits"},
        {R"({"cmd":"trust_pending","packages":[{"package":"bash","version":"1","files":[["bin/bash",)"
         R"("0000000000000000000000000000000000000000000000000000000000000000"]]}]})",
         "trust_pending: package bash lists an invalid path 'bin/bash' (absolute, no empty, '.' or '..' component; "
         "or control:SCRIPT)"},
        {R"({"cmd":"trust_pending","packages":[{"package":"bash","version":"1","files":[["control:evil",)"
         R"("0000000000000000000000000000000000000000000000000000000000000000"]]}]})",
         "trust_pending: package bash lists an invalid path 'control:evil' (absolute, no empty, '.' or '..' "
         "component; or control:SCRIPT)"},
        {R"({"cmd":"set_mode"})", "set_mode needs \"mode\": \"audit\" or \"enforce\""},
        {R"({"cmd":"set_mode","mode":"strict"})", "unknown mode 'strict'; use audit or enforce"},
        {R"({"cmd":"set_mode","mode":"audit","forced":"yes"})", "\"forced\" must be true or false"},
        {R"({"cmd":"set_mode","mode":"audit","by":3})", "\"by\" must be a string"},
        {R"({"cmd":"install","candidate":1})", "\"candidate\" must be a string"},
        {R"({"cmd":"rollback"})", "rollback needs \"file\": PATH"},
        {R"({"cmd":"rollback","file":"/x","by":false})", "\"by\" must be a string"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.line);
      auto r = parse_control_request(c.line);
      REQUIRE_FALSE(r);
      CHECK(r.error().message() == c.error);
    }
  }

  TEST_CASE("root is admin; others need the admin group, as primary or supplementary group") {
    CHECK(peer_is_admin({1, 0, 0, {}}, ""));
    CHECK_FALSE(peer_is_admin({1, 1000, 1000, {}}, ""));
    CHECK_FALSE(peer_is_admin({1, 1000, 1000, {}}, "no-such-group-tollgate"));
    group* g = ::getgrnam("root");
    REQUIRE(g);
    const gid_t root_gid = g->gr_gid;
    CHECK(peer_is_admin({1, 1000, root_gid, {}}, "root"));
    CHECK(peer_is_admin({1, 1000, 1000, {5, root_gid}}, "root"));
    CHECK_FALSE(peer_is_admin({1, 1000, 1000, {5, 6}}, "root"));
  }

  TEST_CASE("a client talks to the server over the socket; no server means unavailable") {
    testing::TempDir dir;
    const std::string path = dir.file("t.sock");
    auto down = control_request(path, {{"cmd", "status"}}, 1000);
    REQUIRE_FALSE(down);
    CHECK(down.error().code() == ErrorCode::kUnavailable);

    ControlServer server(path, "", [](const ControlRequest& r, const PeerCred& peer) {
      return json{{"ok", true}, {"cmd", static_cast<int>(r.cmd)}, {"uid", peer.uid}};
    });
    REQUIRE(server.start());
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    auto up = control_request(path, {{"cmd", "reload"}}, 5000);
    REQUIRE(up);
    if (::getuid() == 0) {
      CHECK((*up)["ok"] == true);
      CHECK((*up)["cmd"] == 1);
      auto bad = control_request(path, {{"cmd", "nope"}}, 5000);
      REQUIRE(bad);
      CHECK((*bad)["ok"] == false);
      CHECK((*bad)["error"] ==
            "unknown command 'nope'; use status, reload, set_mode, install, rollback, trust_pending or end_pending");
    } else {
      CHECK((*up)["ok"] == false);
    }
    server.stop();
    CHECK(::access(path.c_str(), F_OK) != 0);
  }

  TEST_CASE("typed requests are sent as the lines the server parses back") {
    const ControlRequest requests[] = {
        ControlRequest::status(),
        ControlRequest::reload(),
        ControlRequest::set_mode(policy::Mode::kEnforce, "alice", true),
        ControlRequest::install("/d/policy.db.candidate", "bob"),
        ControlRequest::rollback("/b/gen6.db", "root"),
    };
    for (const auto& want : requests) {
      const std::string line = to_json(want).dump();
      CAPTURE(line);
      auto got = parse_control_request(line);
      REQUIRE(got);
      CHECK(got->cmd == want.cmd);
      CHECK(got->by == want.by);
      CHECK(got->path == want.path);
      CHECK(got->forced == want.forced);
      if (want.cmd == ControlRequest::Cmd::kSetMode) CHECK(got->mode == want.mode);
    }
    CHECK(to_json(ControlRequest::set_mode(policy::Mode::kAudit, "apt-hook", false)) ==
          json::parse(R"({"cmd":"set_mode","mode":"audit","by":"apt-hook","forced":false})"));
  }

  TEST_CASE("a status reply round-trips through its JSON, and a reply missing fields keeps the defaults") {
    StatusReply s;
    s.version = "0.1.0";
    s.pid = 42;
    s.mode = policy::Mode::kEnforce;
    s.coverage = "exec";
    s.uptime_s = 7;
    s.health = {"DEGRADED", "why"};
    s.database = {.path = "/p.db",
                  .loaded = true,
                  .generation = 3,
                  .content_digest = std::string(64, 'a'),
                  .is_signed = true,
                  .counts = {1, 2, 3, 4, 5}};
    s.integrity = {.live_database = "/p.db",
                   .state_dir = "/s",
                   .last_known_good = "/s/last-known-good.db",
                   .state_usable = true,
                   .floor_generation = 3,
                   .floor_content_digest = "ab",
                   .public_key_pinned = true};
    s.watched = {"/", "/srv"};
    s.filesystems = {{.device = "8:1", .fs_type = "ext4", .source = "/dev/sda1", .mount_points = {"/"}, .marked = true},
                     {.device = "0:61",
                      .fs_type = "nfs4",
                      .source = "srv:/x",
                      .mount_points = {"/srv/a", "/srv/b"},
                      .network = true,
                      .error = "pending"}};
    s.census = StatusReply::Census{.enabled = true,
                                   .interval_ms = 2000,
                                   .on_unwatched = "kill",
                                   .walks = 9,
                                   .last_walk_us = 1200,
                                   .processes = 300,
                                   .findings = 2,
                                   .exempt = 1,
                                   .killed = 1,
                                   .kill_failed = 0};
    uint64_t next = 1;  // every counter a different value, so a swapped pair shows
    for (const auto& [name, member] : kCounterFields) s.counters.*member = next++;
    s.counters.queue_depth = -1;
    s.latency_p50_us = 100;
    s.latency_p99_us = 900;
    const json j = to_json(s);
    CHECK(j["ok"] == true);
    CHECK(j["database"]["signed"] == true);
    CHECK(j["database"]["counts"]["signers"] == 5);
    CHECK(j["latency_us"]["p99"] == 900);
    CHECK(j["filesystems"][1]["mount_points"] == json::array({"/srv/a", "/srv/b"}));
    CHECK(j["filesystems"][1]["marked"] == false);
    CHECK(j["census"]["on_unwatched"] == "kill");
    CHECK(j["counters"]["allowed"] == 1);
    CHECK(j["counters"]["too_large"] == 6);
    CHECK(j["counters"]["log_coalesced"] == 14);
    CHECK(j["counters"]["queue_depth"] == -1);
    CHECK(j["counters"].size() == std::size(kCounterFields) + 1);
    auto back = status_from_json(j);
    REQUIRE(back);
    REQUIRE(back->census);
    CHECK(back->census->findings == 2);
    REQUIRE(back->filesystems.size() == 2);
    CHECK(back->filesystems[1].network);
    CHECK(to_json(*back) == j);
    CHECK(back->raw == j);

    s.database = {.path = "/p.db"};  // nothing loaded: no digest, signature or counts
    CHECK_FALSE(to_json(s)["database"].contains("counts"));
    CHECK_FALSE(to_json(s)["database"].contains("signed"));

    auto sparse = status_from_json(json{{"ok", true}, {"mode", "sideways"}, {"counters", {{"denied", "x"}}}});
    REQUIRE(sparse);
    CHECK_FALSE(sparse->mode);
    CHECK(sparse->counters.denied == 0);
    CHECK(sparse->version.empty());
    CHECK_FALSE(sparse->census);  // a daemon before issue 10
    CHECK(sparse->filesystems.empty());
    CHECK_FALSE(status_from_json(json::array()));
  }

  TEST_CASE("the client tells a refusal from a daemon that is not running, and reads typed replies") {
    testing::TempDir dir;
    group* own = ::getgrgid(::getgid());  // admin_group = our own group: admitted as root or not
    REQUIRE(own);
    const std::string path = dir.file("t.sock");
    Client client(path, 2000);
    auto down = client.set_mode(policy::Mode::kEnforce, "alice", false);
    REQUIRE_FALSE(down);
    CHECK(down.error().code() == ErrorCode::kUnavailable);
    CHECK(down.error().message().find("tollgated is not running") != std::string::npos);
    CHECK_FALSE(client.reachable());

    ControlServer server(path, own->gr_name, [](const ControlRequest& r, const PeerCred&) -> json {
      switch (r.cmd) {
        case ControlRequest::Cmd::kSetMode:
          if (r.mode == policy::Mode::kEnforce) return control_error("enforce mode refused: it would deny /bin/sh");
          return to_json(ModeReply{r.mode});
        case ControlRequest::Cmd::kInstall: return to_json(GenerationReply{"/p.db", 8});
        default: return control_error("permission denied: uid 5 is not root");
      }
    });
    REQUIRE(server.start());
    CHECK(client.reachable());
    auto refused = client.set_mode(policy::Mode::kEnforce, "alice", false);
    REQUIRE(refused);
    REQUIRE_FALSE(*refused);
    CHECK(refused->error().reason == "enforce mode refused: it would deny /bin/sh");
    CHECK_FALSE(refused->error().permission_denied());
    auto folded = accepted(client.set_mode(policy::Mode::kEnforce, "alice", false));
    REQUIRE_FALSE(folded);
    CHECK(folded.error().code() == ErrorCode::kInvalidInput);
    CHECK(folded.error().message() == "tollgated refused: enforce mode refused: it would deny /bin/sh");
    auto audit = accepted(client.set_mode(policy::Mode::kAudit, "alice", false));
    REQUIRE(audit);
    CHECK(audit->mode == policy::Mode::kAudit);
    auto installed = accepted(client.install("/p.db.candidate", "bob"));
    REQUIRE(installed);
    CHECK(installed->generation == 8);
    CHECK(installed->database == "/p.db");
    auto status = client.status();
    REQUIRE(status);
    REQUIRE_FALSE(*status);
    CHECK(status->error().permission_denied());
    server.stop();
  }
}

namespace {

// A group that exists and that nobody (uid 65534) is not in.
std::string some_group(gid_t& gid) {
  ::setgrent();
  std::string name;
  while (group* g = ::getgrent()) {
    if (g->gr_gid == 0 || g->gr_gid == 65534) continue;
    name = g->gr_name;
    gid = g->gr_gid;
    break;
  }
  ::endgrent();
  return name;
}

// Forks a child that becomes uid/gid 65534 with the supplementary `groups`
// and asks `path` for its status. Exit 0: answered ok; 1: refused by the
// daemon; 2: could not talk to it (e.g. the socket's mode refused connect).
int status_as_nobody(const std::string& path, std::vector<gid_t> groups, gid_t gid = 65534) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(gid) != 0 || ::setuid(65534) != 0) ::_exit(3);
    auto reply = control_request(path, {{"cmd", "status"}}, 3000);
    ::_exit(!reply ? 2 : (*reply)["ok"] == true ? 0 : 1);
  }
  int status = testing::wait_child(pid, 20000);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

// Needs root (setuid to nobody in a child): run with the root label.
TEST_SUITE("control.root") {
  TEST_CASE("admin_group membership comes from SO_PEERGROUPS: a supplementary group admits, its absence refuses") {
    REQUIRE(::geteuid() == 0);
    gid_t gid = 0;
    const std::string name = some_group(gid);
    REQUIRE_MESSAGE(!name.empty(), "no group besides root and nogroup");
    testing::TempDir dir;
    ::chmod(dir.path().c_str(), 0711);  // nobody may traverse to the socket
    const std::string path = dir.file("t.sock");
    std::vector<PeerCred> seen;
    ControlServer server(path, name, [&](const ControlRequest&, const PeerCred& peer) {
      seen.push_back(peer);
      return json{{"ok", true}};
    });
    REQUIRE(server.start());
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(st.st_gid == gid);
    CHECK((st.st_mode & 0777) == 0660);

    CHECK(status_as_nobody(path, {gid}) == 0);    // supplementary group
    CHECK(status_as_nobody(path, {}, gid) == 0);  // primary group
    CHECK(status_as_nobody(path, {65534}) == 2);  // the socket's mode refuses connect(2)
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].uid == 65534);
    CHECK(seen[0].groups == std::vector<gid_t>{gid});
    CHECK(seen[1].gid == gid);

    // With the socket opened to everyone, the daemon's own check still refuses.
    REQUIRE(::chmod(path.c_str(), 0666) == 0);
    CHECK(status_as_nobody(path, {65534}) == 1);
    CHECK(seen.size() == 2);
    server.stop();
  }

  TEST_CASE("the runtime directory systemd made for the socket is shared with admin_group, nothing else is") {
    REQUIRE(::geteuid() == 0);
    gid_t gid = 0;
    const std::string name = some_group(gid);
    REQUIRE(!name.empty());
    testing::TempDir dir;
    ::chmod(dir.path().c_str(), 0711);
    const std::string run = dir.file("run"), other = dir.file("other");
    REQUIRE(::mkdir(run.c_str(), 0750) == 0);  // RuntimeDirectoryMode=0750, root:root
    REQUIRE(::mkdir(other.c_str(), 0750) == 0);
    auto handler = [](const ControlRequest&, const PeerCred&) { return json{{"ok", true}}; };

    ControlServer shared(run + "/t.sock", name, handler);
    shared.set_runtime_directory("/run/elsewhere:" + run + "/");
    REQUIRE(shared.start());
    struct stat st {};
    REQUIRE(::stat(run.c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    CHECK(st.st_gid == gid);
    CHECK((st.st_mode & 0777) == 0750);
    CHECK(status_as_nobody(run + "/t.sock", {gid}) == 0);

    ControlServer unrelated(other + "/t.sock", name, handler);
    unrelated.set_runtime_directory(run);  // not the socket's directory
    REQUIRE(unrelated.start());
    REQUIRE(::stat(other.c_str(), &st) == 0);
    CHECK(st.st_gid == 0);
    CHECK(status_as_nobody(other + "/t.sock", {gid}) == 2);  // 0750 root:root keeps the member out
    shared.stop();
    unrelated.stop();
  }
}
