// ScanWorker: bounded queue (drops counted), one scan per content, changed
// files never attributed to the decided hash, byte cap, prompt stop.
#include "enforcer/scan_worker.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "common/io.h"
#include "enforcer/engine.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::enforcer;
using nlohmann::json;

namespace {

struct Offered {
  UniqueFd fd;
  hashdb::Sha256 sha;
  struct stat st {};
};

// Opens `path` as the daemon holds an event's file, with the stat and hash
// the decision used (`hash` false: a stand-in digest, for files too large to hash here).
Offered open_decided(const std::string& path, bool hash = true) {
  Offered o;
  auto fd = open_fd(path, O_RDONLY);
  REQUIRE(fd);
  o.fd = std::move(*fd);
  REQUIRE(::fstat(o.fd.get(), &o.st) == 0);
  if (!hash) {
    o.sha = hashdb::sha256_bytes(path);
    return o;
  }
  auto sha = hashdb::sha256_fd(o.fd.get(), path);
  REQUIRE(sha);
  o.sha = *sha;
  return o;
}

struct Setup {
  testing::TempDir dir;
  Metrics metrics;
  EventLog log{{.path = dir.file("events.jsonl")}, metrics.log_dropped};
  Setup() { log.start(); }
  std::vector<json> scan_events() {
    log.flush();
    std::vector<json> out;
    std::istringstream in(testing::read_text(dir.file("events.jsonl")));
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }
};

}  // namespace

TEST_SUITE("enforcer.scan_worker") {
  TEST_CASE("a flood of new files: the queue is bounded, the rest dropped and counted; a retry is scanned once") {
    Setup s;
    ScanWorker scans({.host = "h", .queue_capacity = 2, .idle_priority = false}, &s.log, s.metrics);
    std::vector<Offered> files;
    for (int i = 0; i < 10; ++i) {
      std::string path = s.dir.file("f" + std::to_string(i));
      testing::write_text(path, "payload " + std::to_string(i) + (i == 0 ? " stratum+tcp://pool" : ""));
      files.push_back(open_decided(path));
      scans.offer(files.back().fd.get(), files.back().sha, path, files.back().st);
    }
    CHECK(s.metrics.scans_dropped == 8);
    for (int retry = 0; retry < 5; ++retry) scans.offer(files[0].fd.get(), files[0].sha, "f0", files[0].st);
    CHECK(s.metrics.scans_cached == 5);
    scans.start();  // only now does anything get read
    REQUIRE(scans.flush(std::chrono::seconds(20)));
    CHECK(s.metrics.scans == 2);
    // Scanned: still cached. Dropped: a later offer is accepted.
    scans.offer(files[0].fd.get(), files[0].sha, "f0", files[0].st);
    CHECK(s.metrics.scans_cached == 6);
    scans.offer(files[5].fd.get(), files[5].sha, s.dir.file("f5"), files[5].st);
    REQUIRE(scans.flush(std::chrono::seconds(20)));
    CHECK(s.metrics.scans == 3);
    scans.stop();
    auto events = s.scan_events();
    REQUIRE(events.size() == 3);
    CHECK(events[0]["type"] == "scan");
    CHECK(events[0]["host"] == "h");
    CHECK(events[0]["sha256"] == hashdb::to_hex(files[0].sha));
    CHECK(events[0]["path"] == s.dir.file("f0"));
    CHECK(events[0]["end"] == "complete");
    REQUIRE(events[0]["hits"].size() == 1);
    CHECK(events[0]["hits"][0] == json({{"signal", "stratum-url"}, {"marker", "stratum+tcp://"}, {"offset", 10}}));
    CHECK(events[0]["miner"]["suspect"] == true);
    CHECK(events[1]["hits"].empty());
    CHECK(events[1]["miner"]["suspect"] == false);
    CHECK(events[2]["path"] == s.dir.file("f5"));
  }

  TEST_CASE("a file changed after its decision is not scanned as that hash, and may be offered again") {
    Setup s;
    ScanWorker scans({.host = "h", .idle_priority = false}, &s.log, s.metrics);
    std::string path = s.dir.file("swap");
    testing::write_text(path, "harmless");
    auto decided = open_decided(path);
    scans.offer(decided.fd.get(), decided.sha, path, decided.st);
    // The attacker rewrites the file (same inode) before the scan runs.
    testing::write_text(path, "harmless, and now stratum+tcp:// too");
    scans.start();
    REQUIRE(scans.flush(std::chrono::seconds(20)));
    CHECK(s.metrics.scans_skipped == 1);
    CHECK(s.metrics.scans == 0);
    auto again = open_decided(path);
    scans.offer(again.fd.get(), again.sha, path, again.st);
    REQUIRE(scans.flush(std::chrono::seconds(20)));
    CHECK(s.metrics.scans == 1);
    scans.stop();
    auto events = s.scan_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["sha256"] == hashdb::to_hex(again.sha));
  }

  TEST_CASE("a huge sparse file costs at most max_bytes; stop cancels a running scan promptly") {
    Setup s;
    std::string path = s.dir.file("huge");
    {
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
      REQUIRE(fd);
      REQUIRE(::ftruncate(fd.get(), off_t{40} << 30) == 0);
    }
    auto decided = open_decided(path, false);
    {
      ScanWorker capped({.host = "h", .max_bytes = 1u << 20, .idle_priority = false}, &s.log, s.metrics);
      capped.start();
      capped.offer(decided.fd.get(), decided.sha, path, decided.st);
      REQUIRE(capped.flush(std::chrono::seconds(20)));
    }
    CHECK(s.metrics.scan_bytes == 1u << 20);
    auto events = s.scan_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["end"] == "size-cap");
    CHECK(events[0]["scanned_bytes"] == 1u << 20);
    CHECK(events[0]["size"] == uint64_t{40} << 30);

    ScanWorker slow(
        {.host = "h", .max_bytes = uint64_t{40} << 30, .max_time = std::chrono::minutes(5), .idle_priority = false},
        &s.log, s.metrics);
    slow.start();
    slow.offer(decided.fd.get(), decided.sha, path, decided.st);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto before = std::chrono::steady_clock::now();
    slow.stop();
    CHECK(std::chrono::steady_clock::now() - before < std::chrono::seconds(5));
    CHECK(s.metrics.scans == 1);  // the cancelled one is not reported
    CHECK(s.metrics.scans_skipped == 1);
  }

  TEST_CASE("memory is bounded: the oldest scanned hashes are forgotten first") {
    Setup s;
    ScanWorker scans({.host = "h", .remembered = 2, .idle_priority = false}, &s.log, s.metrics);
    scans.start();
    std::vector<Offered> files;
    for (int i = 0; i < 3; ++i) {
      std::string path = s.dir.file("r" + std::to_string(i));
      testing::write_text(path, "content " + std::to_string(i));
      files.push_back(open_decided(path));
      scans.offer(files.back().fd.get(), files.back().sha, path, files.back().st);
      REQUIRE(scans.flush(std::chrono::seconds(20)));
    }
    scans.offer(files[2].fd.get(), files[2].sha, "r2", files[2].st);
    CHECK(s.metrics.scans_cached == 1);
    scans.offer(files[0].fd.get(), files[0].sha, "r0", files[0].st);  // forgotten: scanned again
    REQUIRE(scans.flush(std::chrono::seconds(20)));
    CHECK(s.metrics.scans == 4);
  }

  TEST_CASE("the scan queue takes at most an eighth of the fds the daemon keeps for itself") {
    CHECK(scan_queue_bound_for_fd_limit(64) == 6);  // 64 - 16 pending = 48 in reserve
    CHECK(scan_queue_bound_for_fd_limit(1024) == 16);
    CHECK(scan_queue_bound_for_fd_limit(524288) == 16);
    CHECK(scan_queue_bound_for_fd_limit(8) == 1);
    for (uint64_t nofile : {16, 64, 100, 256, 1024}) {
      CAPTURE(nofile);
      CHECK(scan_queue_bound_for_fd_limit(nofile) * 8 <=
            std::max<uint64_t>(nofile - pending_bound_for_fd_limit(nofile), 8));
    }
  }

  TEST_CASE("the scanner thread runs at SCHED_IDLE and the idle I/O class: hashing always goes first") {
    Setup s;
    auto idle_tasks = [] {
      std::vector<pid_t> out;
      for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::string stat = testing::read_text(task.path().string() + "/stat");
        std::istringstream fields(stat.substr(stat.rfind(')') + 2));
        std::string field;
        for (int i = 3; i <= 41 && fields >> field; ++i) {
          if (i == 41 && field == std::to_string(SCHED_IDLE)) out.push_back(std::stoi(task.path().filename().string()));
        }
      }
      return out;
    };
    CHECK(idle_tasks().empty());
    ScanWorker scans({.host = "h"}, &s.log, s.metrics);
    scans.start();
    // The thread lowers its own priorities as it starts: wait (bounded) for both.
    auto io_class = [](pid_t tid) { return ::syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, tid) >> 13; };
    std::vector<pid_t> idle;
    for (int i = 0; i < 200 && (idle.size() != 1 || io_class(idle[0]) != 3); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      idle = idle_tasks();
    }
    REQUIRE(idle.size() == 1);
    CHECK(io_class(idle[0]) == 3);  // IOPRIO_CLASS_IDLE
    scans.stop();
  }
}
