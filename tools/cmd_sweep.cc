// tollgate sweep: the daemon's census on demand (census/census.h, the same
// code), with each finding's CPU share over a short sampling window and the
// miner's runtime signals (miner/runtime.h), its RSS and start time;
// optionally killing what it found.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "census/census.h"
#include "census/judge.h"
#include "census/mounts.h"
#include "census/process.h"
#include "common/io.h"
#include "common/text.h"
#include "common/time.h"
#include "eventlog/builders.h"
#include "hashdb/store.h"
#include "miner/proc_sample.h"
#include "policy/facts.h"
#include "tools/admin.h"
#include "tools/command.h"
#include "tools/watched.h"

namespace tollgate::tools {
namespace {

using json = nlohmann::ordered_json;

std::string human_bytes(uint64_t b) {
  if (b >= (uint64_t{1} << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(b) / (1 << 30));
  if (b >= (uint64_t{1} << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1 << 20));
  return fmt::format("{} KiB", b >> 10);
}

class SweepCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kDbOption | kSocketOption);
    app.add_flag("--json", json_, "Print a JSON array, one object per process with a finding");
    auto* kill = app.add_option("--kill", kill_, "Kill these processes (each must have a finding)");
    auto* all = app.add_flag("--kill-all", kill_all_, "Kill every process with a finding (not exempt or deleted ones)");
    kill->excludes(all);
    app.add_flag("--yes", yes_, "Confirm --kill-all");
    app.add_option("--sample-ms", sample_ms_, "CPU sampling window in milliseconds")
        ->check(CLI::Range(0, 60000))
        ->capture_default_str();
    app.footer(
        "Exit status: 0 no process has a finding, 1 some have (listed, and killed when asked),\n"
        "2 usage (--kill-all without --yes), 3 /proc or the mount table unreadable.\n");
  }

  int prepare() override {
    if (kill_all_ && !yes_) {
      fmt::print(stderr, "tollgate: --kill-all kills every process with a finding; add --yes to confirm\n");
      return kExitUsage;
    }
    return ConfiguredCommand::prepare();
  }

  int run() override {
    const Settings* settings = &*settings_;
    auto table = read_file("/proc/self/mountinfo", 16u << 20);
    if (!table) return report(table.error());
    const auto mounts = census::parse_mountinfo(*table);
    const Watched watched = watched_filesystems(*settings, mounts);
    if (!watched.from_daemon) fmt::print(stderr, "tollgate: {}\n", watched.note);

    // The policy the daemon enforces: "unapproved" and "deleted" need it.
    std::shared_ptr<const hashdb::PolicyStore> db;
    if (auto opened = open_policy(*settings)) db = *opened;
    else
      fmt::print(stderr, "tollgate: {}; unapproved and deleted executables cannot be judged\n",
                 opened.error().message());
    const std::vector<hashdb::PublicKey> keys = db ? policy::signer_keys(*db) : std::vector<hashdb::PublicKey>{};
    std::optional<policy::RuleView> rules;
    if (db) rules.emplace(policy::RuleView{*db, keys, policy::has_path_allow(*db)});

    std::vector<std::string> errors;
    auto exempt = census::load_exemptions(settings->unwatched_exempt, errors);
    for (const auto& e : errors) fmt::print(stderr, "tollgate: warning: {}\n", e);
    census::ProcFs proc("/proc");
    census::Census census(proc, {.exempt = std::move(exempt), .max_hash_bytes = settings->max_file_size});
    const auto view = census::MountView::from(mounts, watched.devices);
    auto found = census.walk(view, [&](int fd, const census::ProcessFacts&) -> std::optional<census::Judgement> {
      if (!rules) return std::nullopt;
      return census::judge_executable(fd, *rules, settings->max_file_size);
    });
    sample(proc, found);
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
      return std::tie(a.finding, a.id.pid) < std::tie(b.finding, b.id.pid);
    });

    std::map<pid_t, Status> kills;
    if (auto st = kill(proc, found, kills); st != kExitOk) return st;
    print(found, kills, census.last_walk().processes);
    return found.empty() ? kExitOk : kExitNo;
  }

 private:
  // For each finding: its CPU share of one core over the sampling window and
  // the miner's other runtime signals (miner/runtime.h, one window for all),
  // and its RSS.
  void sample(census::ProcSource& proc, std::vector<census::ProcessRecord>& found) const {
    std::vector<pid_t> pids;
    for (const auto& r : found) pids.push_back(r.id.pid);
    std::map<pid_t, miner::ProcessFacts> runtime;
    if (!found.empty())
      for (auto& f : miner::sample_processes("/proc", pids, std::chrono::milliseconds(sample_ms_)))
        runtime.emplace(f.pid, std::move(f));
    const uint64_t page = static_cast<uint64_t>(std::max(::sysconf(_SC_PAGESIZE), 1L));
    for (auto& r : found) {
      auto f = proc.facts(r.id.pid);
      if (!f || !(f->id == r.id)) continue;  // gone, or not that process any more
      r.rss_bytes = f->rss_pages * page;
      auto rt = runtime.find(r.id.pid);
      if (rt == runtime.end()) continue;  // exited, or its pid reused, during the window
      if (sample_ms_ > 0) r.cpu_share = rt->second.cpu_cores;
      miner::Context context{.path = r.exe, .launchers = {r.parent_exe}};
      if (!r.user.empty()) context.user_names.push_back(r.user);
      r.miner = miner::assess_process(rt->second, std::move(context));
    }
  }

  int kill(census::ProcSource& proc, const std::vector<census::ProcessRecord>& found,
           std::map<pid_t, Status>& kills) const {
    for (pid_t pid : kill_) {
      auto it = std::find_if(found.begin(), found.end(), [&](const auto& r) { return r.id.pid == pid; });
      if (it == found.end()) {
        fmt::print(stderr, "tollgate: pid {} has no finding; not killed\n", pid);
        return kExitUsage;
      }
    }
    for (const auto& r : found) {
      const bool asked = std::find(kill_.begin(), kill_.end(), r.id.pid) != kill_.end();
      // --kill-all leaves exempt executables and deleted ones (an upgraded
      // service looks the same) alone; name them with --kill to stop them.
      const bool all = kill_all_ && r.exempt.empty() && census::killable(r.finding);
      if (asked || all) kills.emplace(r.id.pid, proc.kill(r.id));
    }
    return kExitOk;
  }

  void print(const std::vector<census::ProcessRecord>& found, const std::map<pid_t, Status>& kills,
             uint64_t examined) const {
    if (json_) {
      json out = json::array();
      for (const auto& r : found) {
        json j = eventlog::finding_fields(r);
        if (auto k = kills.find(r.id.pid); k != kills.end())
          j["killed"] = {{"ok", k->second.has_value()}, {"error", k->second ? "" : k->second.error().message()}};
        out.push_back(std::move(j));
      }
      fmt::print("{}\n", out.dump(2, ' ', true, json::error_handler_t::replace));  // ASCII-only
      return;
    }
    if (found.empty()) {
      fmt::print(
          "No finding: every one of {} processes runs from a watched, approved executable or from a "
          "filesystem that is not watched.\n",
          examined);
      return;
    }
    fmt::print("{} of {} processes run what fanotify could not decide:\n\n", found.size(), examined);
    for (const auto& r : found) {
      fmt::print("pid {} {}{}: {}\n", r.id.pid, census::to_string(r.finding),
                 r.exempt.empty() ? "" : " (exempt: " + printable(r.exempt) + ")", printable(r.exe));
      fmt::print("  user {} ({}), started {}, parent {} {}\n", r.user.empty() ? "?" : printable(r.user), r.uid,
                 format_rfc3339_us(r.start_time_us), r.ppid, printable(r.parent_exe));
      std::string usage;
      if (r.cpu_share) usage += fmt::format("cpu {:.0f}% of a core", *r.cpu_share * 100);
      if (r.rss_bytes) usage += (usage.empty() ? "" : ", ") + fmt::format("rss {}", human_bytes(*r.rss_bytes));
      if (!usage.empty()) fmt::print("  {}\n", usage);
      fmt::print("  cmdline: {}\n", printable(r.cmdline));
      fmt::print("  why: {}\n", printable(r.reason));
      if (r.miner && r.miner->has_evidence())
        fmt::print("  miner: {}score {}: {}\n", r.miner->suspect ? "SUSPECT, " : "", r.miner->score,
                   printable(r.miner->strongest()));
      if (auto k = kills.find(r.id.pid); k != kills.end())
        fmt::print("  {}\n", k->second ? "KILLED" : "not killed: " + k->second.error().message());
      fmt::print("\n");
    }
  }

  bool json_ = false;
  std::vector<pid_t> kill_;
  bool kill_all_ = false;
  bool yes_ = false;
  int sample_ms_ = 500;
};

}  // namespace

CommandSpec sweep_command() {
  return {.name = "sweep",
          .summary = "Find processes running what fanotify cannot see (memfd, foreign mounts, deleted, unapproved)",
          .example =
              "  tollgate sweep\n  tollgate sweep --json\n  tollgate sweep --kill 4242\n"
              "  tollgate sweep --kill-all --yes\n",
          .needs = Access::kRoot,
          .make = [] { return std::make_unique<SweepCommand>(); }};
}

}  // namespace tollgate::tools
