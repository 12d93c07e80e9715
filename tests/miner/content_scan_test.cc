// The static signals: each content marker found (with its case rule and
// across chunk boundaries), the bounds, and the negatives: ordinary
// binaries, libc and Tollgate's own binaries carry no marker at all.
#include "miner/content_scan.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "common/io.h"
#include "miner/markers.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::miner;

namespace {

std::string junk(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng() % 32);  // control bytes: cannot form a marker
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

ContentScan scan_file(const std::string& path) {
  auto fd = open_fd(path, O_RDONLY);
  REQUIRE_MESSAGE(fd, fd.error().message());
  auto scan = scan_fd(fd->get(), {.max_bytes = uint64_t{512} << 20, .max_time = std::chrono::seconds(60)}, path);
  REQUIRE_MESSAGE(scan, scan.error().message());
  return *scan;
}

// The libc this test runs with, from /proc/self/maps.
std::string own_libc() {
  std::istringstream maps(testing::read_text("/proc/self/maps"));
  for (std::string line; std::getline(maps, line);) {
    auto slash = line.find('/');
    if (slash != std::string::npos && line.find("/libc.so") != std::string::npos) return line.substr(slash);
    if (slash != std::string::npos && line.find("/libc-") != std::string::npos) return line.substr(slash);
  }
  return {};
}

}  // namespace

TEST_SUITE("miner.content_scan") {
  TEST_CASE("each marker is found in binary junk, named, at its offset, with its signal") {
    for (const auto& m : content_markers()) {
      const std::string text = m.text.reveal();
      CAPTURE(text);
      const std::string data = junk(5000, 1) + text + junk(3000, 2);
      auto scan = scan_bytes(data);
      if (m.group != 0) {
        CHECK(scan.hits.empty());  // alone, a grouped marker means nothing
        continue;
      }
      REQUIRE(scan.hits.size() == 1);
      CHECK(scan.hits[0].signal == m.signal);
      CHECK(scan.hits[0].marker == text);
      CHECK(scan.hits[0].offset == 5000);
      auto reasons = static_evidence(scan.hits);
      REQUIRE(reasons.size() == 1);
      CHECK(reasons[0].text == "contains '" + text + "' at byte 5000");
      // Case: insensitive markers match in capitals; sensitive ones do not.
      auto shouted = scan_bytes(junk(100, 3) + upper(text));
      CHECK(shouted.hits.size() == (m.match == Case::kInsensitive ? 1u : 0u));
    }
  }

  TEST_CASE("\"algo\" counts only next to \"pools\", and then both are listed") {
    CHECK(scan_bytes(R"({"algo": "rx/0"})").hits.empty());
    CHECK(scan_bytes(R"({"pools": []})").hits.empty());
    auto both = scan_bytes(R"({"pools": [{"algo": "x"}]})");
    REQUIRE(both.hits.size() == 2);
    CHECK(both.hits[0].marker == "\"pools\"");
    CHECK(both.hits[1].marker == "\"algo\"");
    CHECK(both.hits[0].signal == Signal::kMinerConfig);
  }

  TEST_CASE("a marker split across two 1 MiB reads is found in a file") {
    testing::TempDir dir;
    const std::string text = "stratum+ssl://";
    std::string data = junk((1u << 20) - 5, 4) + text + junk(100, 5);
    testing::write_text(dir.file("split"), data);
    auto scan = scan_file(dir.file("split"));
    REQUIRE(scan.hits.size() == 1);
    CHECK(scan.hits[0].offset == (1u << 20) - 5);
    CHECK(scan.end == ScanEnd::kComplete);
    CHECK(scan.bytes_scanned == data.size());
  }

  TEST_CASE("bounded: the byte cap, the time limit and the cancel flag stop a scan, and say so") {
    testing::TempDir dir;
    const std::string path = dir.file("sparse");
    {
      // A sparse 8 GiB file with a marker at its very end: never read that far.
      std::ofstream out(path);
      out.seekp((int64_t{8} << 30) - 20);
      out << "stratum+tcp://";
    }
    auto fd = open_fd(path, O_RDONLY);
    REQUIRE(fd);
    auto capped = scan_fd(fd->get(), {.max_bytes = 3u << 20}, path);
    REQUIRE(capped);
    CHECK(capped->end == ScanEnd::kSizeCap);
    CHECK(capped->bytes_scanned == 3u << 20);
    CHECK(capped->hits.empty());
    auto timed = scan_fd(fd->get(), {.max_time = std::chrono::milliseconds(0)}, path);
    REQUIRE(timed);
    CHECK(timed->end == ScanEnd::kTimeLimit);
    CHECK(timed->bytes_scanned == 0);
    std::atomic<bool> cancel{true};
    auto cancelled = scan_fd(fd->get(), {.cancel = &cancel}, path);
    REQUIRE(cancelled);
    CHECK(cancelled->end == ScanEnd::kCancelled);
    // A file exactly at the cap was read whole.
    testing::write_text(dir.file("exact"), std::string(2u << 20, 'x'));
    auto exact_fd = open_fd(dir.file("exact"), O_RDONLY);
    REQUIRE(exact_fd);
    auto exact = scan_fd(exact_fd->get(), {.max_bytes = 2u << 20}, "exact");
    REQUIRE(exact);
    CHECK(exact->end == ScanEnd::kComplete);
  }

  TEST_CASE("the miner fixture is flagged by its content alone") {
    auto scan = scan_file(testing::built_binary("fake_miner"));
    std::set<std::string> markers;
    for (const auto& h : scan.hits) markers.insert(h.marker);
    CHECK(markers.count("stratum+tcp://") == 1);
    CHECK(markers.count("donate-level") == 1);
    CHECK(markers.count("1gb-pages") == 1);
    CHECK(markers.count("randomx") == 1);
    CHECK(markers.count("\"algo\"") == 1);
    CHECK(markers.count("\"pools\"") == 1);
    auto a = assess(static_evidence(scan.hits), {.path = "/opt/bin/fake_miner"});
    CHECK(a.suspect);
    CHECK(a.score == 60 + 30 + 30);
    CHECK(a.strongest().starts_with("contains 'stratum+tcp://' at byte "));
  }

  TEST_CASE("ordinary binaries, libc and Tollgate's own binaries carry no marker") {
    std::vector<std::string> files = {"/bin/ls", "/bin/sh", testing::built_binary("tollgate"),
                                      testing::built_binary("tollgated")};
    for (const char* optional : {"/usr/bin/python3", "/usr/bin/perl", "/usr/bin/ssh", "/usr/bin/openssl"})
      if (std::filesystem::exists(optional)) files.push_back(optional);
    const std::string libc = own_libc();
    REQUIRE_MESSAGE(!libc.empty(), "no libc in /proc/self/maps");
    files.push_back(libc);
    for (const auto& file : files) {
      CAPTURE(file);
      auto scan = scan_file(file);
      CHECK(scan.end == ScanEnd::kComplete);
      CHECK(scan.bytes_scanned > 10000);
      std::string found;
      for (const auto& h : scan.hits) found += h.marker + " ";
      CHECK_MESSAGE(scan.hits.empty(), found);
      CHECK_FALSE(assess(static_evidence(scan.hits), {.path = "/tmp/" + file}).suspect);
    }
  }
}
