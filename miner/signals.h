// Miner detection: the signals, their weights and the score
// (docs/miner-detection.md). Pure: facts in, an assessment out.
//
//   std::vector<miner::Reason> evidence = miner::static_evidence(scan.hits);   // content_scan.h
//   miner::Assessment a = miner::assess(std::move(evidence), {.path = "/tmp/.x/kworker"});
//   // a.suspect, a.score == 60 + 30 + 10 + 10 + 15, a.reasons strongest first
//
// Two kinds of signal:
// - **evidence** says something about what the program is or does: a marker
//   in its content (stratum URL, mining algorithm, miner config key, pool
//   host), a hash on an imported blocklist, or runtime behaviour (a core held
//   busy, an open MSR device, huge pages, a socket to a stratum port, a
//   kernel-thread name on a user process);
// - **context** says where it came from: a temp directory, a hidden or
//   deleted file, a miner-like or kernel-thread-like name, a web-server user
//   or launcher, a downloader as launcher.
// Context never flags on its own: it is added to the score only when there
// is evidence. Each signal counts once (ten pool host names weigh what one
// does); every hit is still listed as a reason. A binary is a suspect when
// the score reaches kSuspectScore.
//
// Thread-safety: pure functions and immutable tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::miner {

enum class Signal : uint8_t {
  // Evidence.
  kKnownBad,          // the hash is on a deny list (an imported blocklist)
  kStratumUrl,        // stratum+tcp:// and friends in the content
  kPoolHost,          // a well-known mining pool host name in the content
  kAlgorithm,         // RandomX / CryptoNight / KawPow ... identifiers in the content
  kMinerConfig,       // XMRig / cpuminer configuration keys in the content
  kMsrDevice,         // the process holds /dev/cpu/N/msr open
  kFakeKernelThread,  // a user process whose comm poses as a kernel thread
  kStratumPort,       // a TCP connection to a typical stratum port
  kBusyCpu,           // a core held busy over the sampling window
  kHugePages,         // hugetlb pages reserved
  // Context.
  kMinerName,         // the file name contains a known miner's name
  kKernelThreadName,  // the file name looks like a kernel thread's (kworker...)
  kTempDir,           // runs from /tmp, /var/tmp or /dev/shm
  kHiddenName,        // a hidden file or directory in its path
  kDeletedFile,       // runs from a deleted file
  kWebUser,           // launched as a web-server user
  kWebLauncher,       // launched by a web-server or PHP process
  kDownloader,        // launched directly by curl or wget
};

struct SignalInfo {
  Signal signal;
  std::string_view id;       // stable, in the event log ("stratum-url")
  int weight;                // added to the score once per signal
  bool evidence;             // false: context, counted only next to evidence
  std::string_view summary;  // "mining-pool URL"
};

// The score from which a binary or process is reported `suspect: miner`.
inline constexpr int kSuspectScore = 50;

const SignalInfo& info(Signal signal);
std::optional<Signal> signal_from_id(std::string_view id);
// Every signal, evidence first (for docs and tests).
const std::vector<SignalInfo>& all_signals();

struct Reason {
  Signal signal;
  std::string text;  // one phrase naming the marker or fact, e.g. "contains 'stratum+tcp://' at byte 4096"
  bool operator==(const Reason&) const = default;
};

struct Assessment {
  bool suspect = false;
  int score = 0;
  std::vector<Reason> reasons;  // strongest signal first; evidence before context at equal weight

  bool has_evidence() const;
  // The first (strongest) reason's text; "" when there is none.
  std::string strongest() const;
  // "TEXT (SUMMARY, +WEIGHT)" for each reason, in order: what JSON and text output print.
  std::vector<std::string> reason_lines() const;
};

// Where a binary ran from and who ran it: the context signals' facts.
struct Context {
  std::string path;                     // resolved path; " (deleted)" suffix as the kernel gives it
  std::vector<std::string> user_names;  // users it ran as ("www-data")
  std::vector<std::string> launchers;   // executables that launched it ("/usr/sbin/nginx")
};

// The context signals that fire for `context` (weights in info()).
std::vector<Reason> context_reasons(const Context& context);

// Evidence plus context into an assessment: context counts only when there
// is at least one evidence reason; each signal adds its weight once;
// duplicate reasons are dropped; reasons are sorted strongest first.
Assessment assess(std::vector<Reason> evidence, const Context& context);

}  // namespace tollgate::miner
