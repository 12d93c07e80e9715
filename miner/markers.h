// The data tables behind miner detection, in one place
// (miner/markers.cc; docs/miner-detection.md lists them):
//   - content markers: byte strings searched for in a file's content, each
//     with the signal it raises and whether case matters;
//   - stratum ports, kernel-thread names, miner names, temp directories,
//     web-server users and processes, downloaders.
//
// To add a marker, add one row to kContentMarkers in markers.cc (and its
// line to the docs). The text is written plainly in the source but stored
// XOR-ed in the binary (HiddenText), so that Tollgate's own executables
// never contain the markers they search for: a scan of tollgated must find
// nothing (tests/miner/content_scan_test.cc checks this on the built files).
//
// Thread-safety: immutable tables.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "miner/signals.h"

namespace tollgate::miner {

// Compile-time XOR of a string literal: the plain text exists only in the
// source. reveal() gives it back.
class HiddenText {
 public:
  static constexpr size_t kMax = 40;
  static constexpr char kKey = 0x5a;
  template <size_t N>
  consteval HiddenText(const char (&text)[N]) : size_(N - 1) {  // NOLINT: implicit on purpose (table rows)
    static_assert(N - 1 <= kMax, "marker too long");
    static_assert(N > 1, "empty marker");
    for (size_t i = 0; i + 1 < N; ++i) bytes_[i] = static_cast<char>(text[i] ^ kKey);
  }
  std::string reveal() const;
  size_t size() const { return size_; }

 private:
  std::array<char, kMax> bytes_{};
  size_t size_;
};

enum class Case : uint8_t { kSensitive, kInsensitive };

struct ContentMarker {
  HiddenText text;
  Signal signal;
  Case match;
  // Markers sharing a non-zero group count only when every marker of the
  // group occurs in the file ("algo" means something next to "pools").
  uint8_t group = 0;
};

std::span<const ContentMarker> content_markers();

// Remote TCP ports typical of stratum pools (3333, 4444, 5555, 7777, 14444, ...).
std::span<const uint16_t> stratum_ports();
// Names kernel threads carry (comm prefixes): kworker, kthreadd, ksoftirqd...
std::span<const std::string_view> kernel_thread_names();
// Well-known miner names, matched inside a file's base name.
std::span<const std::string_view> miner_names();
// "/tmp/", "/var/tmp/", "/dev/shm/".
std::span<const std::string_view> temp_dirs();
std::span<const std::string_view> web_users();
std::span<const std::string_view> web_processes();
std::span<const std::string_view> downloaders();

// Whether `name` (a comm or a base name, any case) looks like a kernel
// thread's: one of kernel_thread_names(), alone or followed by '/', ':',
// '-', '_' or a digit, optionally in brackets as ps shows them ("[kworker/0:1]").
bool looks_like_kernel_thread(std::string_view name);

}  // namespace tollgate::miner
