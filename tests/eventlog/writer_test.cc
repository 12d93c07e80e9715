#include "eventlog/writer.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <sstream>

#include "eventlog/builders.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::eventlog;
using nlohmann::json;

TEST_SUITE("eventlog.writer") {
  TEST_CASE("the event log appends whole JSON lines and reopens on request") {
    testing::TempDir dir;
    std::atomic<uint64_t> dropped{0};
    const std::string path = dir.file("events.jsonl");
    {
      EventLog log({.path = path}, dropped);
      log.start();
      for (int i = 0; i < 100; ++i) CHECK(log.submit(overflow_event("h", static_cast<uint64_t>(i))));
      log.flush();
      REQUIRE(::rename(path.c_str(), dir.file("rotated.jsonl").c_str()) == 0);
      log.reopen();
      CHECK(log.submit(overflow_event("h", 1000)));
      log.flush();
    }
    std::istringstream rotated(testing::read_text(dir.file("rotated.jsonl")));
    std::string line;
    int n = 0;
    while (std::getline(rotated, line)) CHECK(json::parse(line)["count"] == n++);
    CHECK(n == 100);
    CHECK(json::parse(testing::read_text(path))["count"] == 1000);
    CHECK(dropped == 0);
  }

  TEST_CASE("a full queue drops and counts instead of blocking") {
    std::atomic<uint64_t> dropped{0};
    EventLog log({.path = "", .queue_capacity = 2}, dropped);  // not started: nothing drains
    CHECK(log.submit(overflow_event("h", 1)));
    CHECK(log.submit(overflow_event("h", 2)));
    CHECK_FALSE(log.submit(overflow_event("h", 3)));
    CHECK(dropped == 1);
  }

  TEST_CASE("the event log is written as ASCII-only JSON, the same values") {
    testing::TempDir dir;
    std::atomic<uint64_t> dropped{0};
    const std::string path = dir.file("events.jsonl");
    const std::string name =
        "/srv/caf\xc3\xa9/\xe2\x80\xae"
        "gnp.x\xc2\x9b";
    {
      EventLog log({.path = path}, dropped);
      log.start();
      json e = overflow_event("h", 1);
      e["path"] = name;
      CHECK(log.submit(e));
      log.flush();
    }
    std::string line = testing::read_text(path);
    for (char c : line) CHECK(static_cast<unsigned char>(c) < 0x80);
    CHECK(line.find("\\u202e") != std::string::npos);
    CHECK(json::parse(line)["path"] == name);
  }

  TEST_CASE("a symlink or FIFO at the event log path is refused, never written through or waited on") {
    testing::TempDir dir;
    std::atomic<uint64_t> dropped{0};
    testing::write_text(dir.file("shadow"), "root:x:0:\n");
    REQUIRE(::symlink(dir.file("shadow").c_str(), dir.file("events.jsonl").c_str()) == 0);
    REQUIRE(::mkfifo(dir.file("fifo.jsonl").c_str(), 0600) == 0);
    for (const char* name : {"events.jsonl", "fifo.jsonl"}) {
      CAPTURE(name);
      EventLog log({.path = dir.file(name)}, dropped);
      log.start();
      CHECK(log.submit(overflow_event("h", 1)));
      log.flush(std::chrono::milliseconds(5000));
      log.stop();  // returns: the writer never blocked on the FIFO
    }
    CHECK(testing::read_text(dir.file("shadow")) == "root:x:0:\n");
    struct stat st {};
    REQUIRE(::lstat(dir.file("events.jsonl").c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
  }

  TEST_CASE("the CLI's append writes the same bytes as the daemon's writer, and refuses a symlink") {
    testing::TempDir dir;
    std::atomic<uint64_t> dropped{0};
    const json event = mode_event("h", policy::Mode::kAudit, policy::Mode::kEnforce, "caf\xc3\xa9", false, 0);
    {
      EventLog log({.path = dir.file("daemon.jsonl")}, dropped);
      log.start();
      CHECK(log.submit(event));
      log.flush();
    }
    REQUIRE(append_event(dir.file("cli.jsonl"), event));
    CHECK(testing::read_text(dir.file("cli.jsonl")) == testing::read_text(dir.file("daemon.jsonl")));
    CHECK(testing::read_text(dir.file("cli.jsonl")) == encode_line(event));
    CHECK(encode_line(event).find("caf\\u00e9") != std::string::npos);
    struct stat st {};
    REQUIRE(::stat(dir.file("cli.jsonl").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0640);

    testing::write_text(dir.file("target"), "keep\n");
    REQUIRE(::symlink(dir.file("target").c_str(), dir.file("link.jsonl").c_str()) == 0);
    auto refused = append_event(dir.file("link.jsonl"), event);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message().find("symbolic link") != std::string::npos);
    CHECK(testing::read_text(dir.file("target")) == "keep\n");
  }
}
