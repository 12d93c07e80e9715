#include "miner/markers.h"

#include <algorithm>
#include <cctype>

namespace tollgate::miner {
namespace {

using enum Signal;
constexpr Case kCs = Case::kSensitive;
constexpr Case kCi = Case::kInsensitive;

// Content markers. Keep docs/miner-detection.md's tables in step.
// Case: scheme, algorithm and host names are matched in any case (URLs and
// identifiers are case-insensitive in practice); config keys exactly as the
// miners spell them, because their lowercase forms are ordinary words
// elsewhere ("algo").
constexpr ContentMarker kContentMarkers[] = {
    // Stratum, the mining-pool protocol, as URL schemes.
    {"stratum+tcp://", kStratumUrl, kCi},
    {"stratum+ssl://", kStratumUrl, kCi},
    {"stratum+tls://", kStratumUrl, kCi},
    {"stratum2+tcp://", kStratumUrl, kCi},
    {"stratum2+ssl://", kStratumUrl, kCi},
    // Proof-of-work algorithms that CPU/GPU miners implement.
    {"randomx", kAlgorithm, kCi},
    {"cryptonight", kAlgorithm, kCi},
    {"kawpow", kAlgorithm, kCi},
    {"argon2/chukwa", kAlgorithm, kCi},
    {"ghostrider", kAlgorithm, kCi},
    {"astrobwt", kAlgorithm, kCi},
    // XMRig and cpuminer configuration keys and options.
    {"donate-level", kMinerConfig, kCs},
    {"donate-over-proxy", kMinerConfig, kCs},
    {"1gb-pages", kMinerConfig, kCs},
    {"huge-pages-jit", kMinerConfig, kCs},
    {"max-threads-hint", kMinerConfig, kCs},
    {"no-getwork", kMinerConfig, kCs},
    {"no-longpoll", kMinerConfig, kCs},
    {"\"algo\"", kMinerConfig, kCs, 1},
    {"\"pools\"", kMinerConfig, kCs, 1},
    // Well-known public mining pools (host names or their registered domains).
    {"minexmr.com", kPoolHost, kCi},
    {"supportxmr.com", kPoolHost, kCi},
    {"moneroocean.stream", kPoolHost, kCi},
    {"nanopool.org", kPoolHost, kCi},
    {"2miners.com", kPoolHost, kCi},
    {"f2pool.com", kPoolHost, kCi},
    {"hashvault.pro", kPoolHost, kCi},
    {"herominers.com", kPoolHost, kCi},
    {"minergate.com", kPoolHost, kCi},
    {"c3pool.com", kPoolHost, kCi},
    {"unmineable.com", kPoolHost, kCi},
    {"xmrpool.eu", kPoolHost, kCi},
    {"xmrpool.net", kPoolHost, kCi},
    {"nicehash.com", kPoolHost, kCi},
    {"ethermine.org", kPoolHost, kCi},
    {"antpool.com", kPoolHost, kCi},
    {"viabtc.com", kPoolHost, kCi},
    {"poolin.com", kPoolHost, kCi},
    {"woolypooly.com", kPoolHost, kCi},
    {"zergpool.com", kPoolHost, kCi},
    {"dwarfpool.com", kPoolHost, kCi},
    {"crypto-pool.fr", kPoolHost, kCi},
    {"monerohash.com", kPoolHost, kCi},
    {"prohashing.com", kPoolHost, kCi},
    {"mining-dutch.nl", kPoolHost, kCi},
    {"p2pool.io", kPoolHost, kCi},
    {"gntl.co.uk", kPoolHost, kCi},
    {"kryptex.network", kPoolHost, kCi},
};

// Remote ports: the defaults of XMRig-style pools (3333 and its TLS
// neighbours, 4444, 5555, 7777 for higher difficulties, 14444/14433 of
// several Monero pools, 45560/45700 of others).
constexpr uint16_t kStratumPorts[] = {3333, 3334, 3335,  3336,  3357,  4444,  5555,  5556,
                                      6666, 7777, 10128, 14433, 14444, 20535, 45560, 45700};

// Kernel thread names as they appear in comm. An entry ending in '/' matches
// as a prefix; others match alone or followed by '/', ':', '-', '_' or a digit.
constexpr std::string_view kKernelThreadNames[] = {
    "kworker",    "kthreadd",   "ksoftirqd",  "kswapd",    "migration/",   "rcu_sched",    "rcu_preempt", "rcu_gp",
    "rcu_par_gp", "rcu_tasks",  "watchdog/",  "watchdogd", "kdevtmpfs",    "khugepaged",   "kcompactd",   "kblockd",
    "kauditd",    "khungtaskd", "oom_reaper", "writeback", "jbd2/",        "ksmd",         "kintegrityd", "irq/",
    "cpuhp/",     "kthrotld",   "kstrp",      "xfsaild/",  "idle_inject/", "mm_percpu_wq", "kswapd0"};

constexpr std::string_view kMinerNames[] = {"xmrig",        "minerd",     "cpuminer", "nbminer",  "t-rex",   "lolminer",
                                            "phoenixminer", "kdevtmpfsi", "kinsing",  "ethminer", "ccminer", "cgminer",
                                            "bfgminer",     "nanominer",  "gminer",   "xmr-stak"};
constexpr std::string_view kTempDirs[] = {"/tmp/", "/var/tmp/", "/dev/shm/"};
constexpr std::string_view kWebUsers[] = {"www-data", "nginx", "apache", "http", "httpd", "php-fpm"};
constexpr std::string_view kWebProcesses[] = {"nginx", "apache2", "httpd", "php-fpm", "php", "lighttpd"};
constexpr std::string_view kDownloaders[] = {"curl", "wget"};

}  // namespace

std::string HiddenText::reveal() const {
  std::string out(size_, '\0');
  for (size_t i = 0; i < size_; ++i) out[i] = static_cast<char>(bytes_[i] ^ kKey);
  return out;
}

std::span<const ContentMarker> content_markers() { return kContentMarkers; }
std::span<const uint16_t> stratum_ports() { return kStratumPorts; }
std::span<const std::string_view> kernel_thread_names() { return kKernelThreadNames; }
std::span<const std::string_view> miner_names() { return kMinerNames; }
std::span<const std::string_view> temp_dirs() { return kTempDirs; }
std::span<const std::string_view> web_users() { return kWebUsers; }
std::span<const std::string_view> web_processes() { return kWebProcesses; }
std::span<const std::string_view> downloaders() { return kDownloaders; }

bool looks_like_kernel_thread(std::string_view name) {
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::ranges::any_of(kKernelThreadNames, [&](std::string_view k) {
    if (!lower.starts_with(k)) return false;
    if (k.ends_with('/') || lower.size() == k.size()) return true;
    char next = lower[k.size()];
    return next == '/' || next == ':' || next == '-' || next == '_' || std::isdigit(static_cast<unsigned char>(next));
  });
}

}  // namespace tollgate::miner
