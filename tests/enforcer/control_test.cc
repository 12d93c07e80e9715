#include "enforcer/control.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::enforcer;
using nlohmann::json;

TEST_SUITE("enforcer.control") {
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
    auto back = parse_control_request(R"({"cmd":"rollback","file":"/root/gen6.db"})");
    REQUIRE(back);
    CHECK(back->cmd == ControlRequest::Cmd::kRollback);
    CHECK(back->path == "/root/gen6.db");
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
        {R"({"cmd":"shutdown"})", "unknown command 'shutdown'; use status, reload, set_mode, install or rollback"},
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

  TEST_CASE("root is admin; others need the admin group") {
    CHECK(peer_is_admin({1, 0, 0}, ""));
    CHECK_FALSE(peer_is_admin({1, 1000, 1000}, ""));
    CHECK_FALSE(peer_is_admin({1, 1000, 1000}, "no-such-group-tollgate"));
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
      CHECK((*bad)["error"] == "unknown command 'nope'; use status, reload, set_mode, install or rollback");
    } else {
      CHECK((*up)["ok"] == false);
    }
    server.stop();
    CHECK(::access(path.c_str(), F_OK) != 0);
  }
}
