// tollgated: the enforcement daemon. Wiring only: configuration, the
// fanotify source and its marks, the engine, the event log, the control
// socket, signals, sd_notify and the metrics file. Runs in the foreground;
// diagnostics go to stderr.
#include <fmt/core.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "census/census.h"
#include "census/mounts.h"
#include "census/process.h"
#include "common/host.h"
#include "common/io.h"
#include "common/time.h"
#include "config/config.h"
#include "control/server.h"
#include "enforcer/census_runner.h"
#include "enforcer/daemon.h"
#include "enforcer/engine.h"
#include "enforcer/fanotify.h"
#include "enforcer/mount_watcher.h"
#include "enforcer/scan_worker.h"
#include "enforcer/version.h"
#include "eventlog/writer.h"

using namespace tollgate;
using namespace tollgate::enforcer;

namespace {

// Every pending event holds an fd: run with the soft RLIMIT_NOFILE raised to
// the hard limit (the unit sets LimitNOFILE). Returns the soft limit in force.
uint64_t raise_fd_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    rlimit want = r;
    want.rlim_cur = r.rlim_max;
    // An unlimited hard limit is capped by fs.nr_open; try a high finite one.
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0 && r.rlim_max == RLIM_INFINITY) want.rlim_cur = 1 << 20;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) r = want;
    else
      fmt::print(stderr, "tollgated: cannot raise the open-file limit to {}: {}\n", want.rlim_cur,
                 std::strerror(errno));
  }
  return r.rlim_cur == RLIM_INFINITY ? uint64_t{1} << 20 : static_cast<uint64_t>(r.rlim_cur);
}

int run(int argc, char** argv) {
  CLI::App app{"tollgated: allow only approved executables to run (fanotify permission hook)"};
  std::string config_path, mode, db, pubkey, event_log, socket;
  std::vector<std::string> watch;
  bool show_version = false;
  app.add_option("--config", config_path, "Configuration file (default /etc/tollgate/tollgate.yaml)");
  app.add_option("--mode", mode, "audit or enforce (overrides the file)")->check(CLI::IsMember({"audit", "enforce"}));
  app.add_option("--db", db, "Policy database");
  app.add_option("--pubkey", pubkey, "Public key the database must be signed by");
  app.add_option("--watch", watch,
                 "Watch the filesystem holding PATH and every one mounted below it (repeatable; overrides the file)");
  app.add_option("--event-log", event_log, "Event log (JSON Lines)");
  app.add_option("--socket", socket, "Control socket");
  app.add_flag("--version", show_version, "Print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;  // --help is 0; every usage error is 2
  }
  if (show_version) {
    fmt::print("tollgated {}\n", version());
    return 0;
  }

  auto loaded = config::load_config_or_default(config_path, "tollgated");
  if (!loaded) {
    fmt::print(stderr, "tollgated: {}\n", loaded.error().message());
    return 2;
  }
  config::Config config = std::move(*loaded);
  if (!mode.empty()) config.mode = *policy::parse_mode(mode);
  if (!db.empty()) config.database = db;
  if (!pubkey.empty()) config.public_key = pubkey;
  if (!watch.empty()) config.watch = watch;
  if (!event_log.empty()) config.event_log = event_log;
  if (!socket.empty()) config.socket = socket;

  // Signals are handled on this thread with sigtimedwait; block them before
  // any thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const std::vector<std::string> prefixes = census::resolve_watch_prefixes(config.watch);
  std::vector<std::string> exempt_errors;
  auto exemptions = census::load_exemptions(config.unwatched_exempt, exempt_errors);
  for (const auto& e : exempt_errors) fmt::print(stderr, "tollgated: warning: {}\n", e);
  auto source = FanotifySource::create(config.coverage == config::Coverage::kFull);
  if (!source) {
    fmt::print(stderr, "tollgated: {}\n", source.error().message());
    return 1;
  }

  const std::string host = host_name();
  const uint64_t fd_limit = raise_fd_limit();
  Metrics metrics;
  eventlog::EventLog log({.path = config.event_log, .syslog = config.syslog}, metrics.log_dropped);
  log.start();
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int workers = std::min(cores, 8);
  MountWatcher coverage(**source, &log, {.prefixes = prefixes, .host = host});
  Engine engine(**source, &log, metrics,
                {.workers = workers,
                 .large_workers = std::max(1, workers / 4),
                 .decision_timeout_ms = config.decision_timeout_ms,
                 .on_error = config.on_error,
                 .log_allows = config.log_allows,
                 .host = host,
                 .max_file_size = config.max_file_size,
                 .max_pending = pending_bound_for_fd_limit(fd_limit),
                 .local_path = [&](int fd) { return coverage.reached_through_our_mount(fd); },
                 .full_coverage = config.coverage == config::Coverage::kFull,
                 .open_rules = config.open_rules,
                 .reader_nice = config.nice});
  // Approved files on a safe chain stay in the kernel (ignore_marks.h).
  IgnoreMarks marks(**source, metrics, {.max_marks = config.max_ignore_marks});
  auto hardlinks = read_file("/proc/sys/fs/protected_hardlinks", 64);
  if (auto why = ignore_marks_precondition(config.log_allows, config.max_ignore_marks,
                                           hardlinks ? std::optional<std::string>(*hardlinks) : std::nullopt);
      !why.empty()) {
    marks.disable(why);
    fmt::print(stderr, "tollgated: ignore marks off: {}\n", why);
  }
  engine.set_ignore_marks(&marks);
  // Content scans of denied/would-deny files, after the answer, at idle priority.
  ScanWorker scans({.host = host, .queue_capacity = scan_queue_bound_for_fd_limit(fd_limit)}, &log, metrics);
  scans.start();
  engine.set_scanner(&scans);
  Daemon daemon(config, engine, log, metrics, config.watch, host, /*mode_pinned=*/!mode.empty());
  daemon.initial_load();

  // The watchdog is pinged from the event loop itself, so a stalled loop is
  // restarted by systemd.
  uint64_t watchdog_us = 0;
  bool watchdog = sd_watchdog_enabled(0, &watchdog_us) > 0;
  std::thread loop([&] {
    auto st = engine.run([&] {
      if (watchdog) sd_notify(0, "WATCHDOG=1");
    });
    if (!st) fmt::print(stderr, "tollgated: event loop stopped: {}\n", st.error().message());
    ::kill(::getpid(), SIGUSR1);  // wake the signal thread
  });

  // Marks after the loop runs: events on a marked filesystem are answered at once.
  int exit_code = 0;
  fmt::print(stderr, "tollgated: coverage: {} (each filesystem mark asks about exec opens{})\n",
             to_string(config.coverage), config.coverage == config::Coverage::kFull ? " and plain opens" : "");
  if (auto st = coverage.start(); !st) {
    fmt::print(stderr, "tollgated: {}\n", st.error().message());
    exit_code = 1;
  }
  std::thread coverage_thread([&] { coverage.run(); });
  census::ProcFs proc("/proc");
  CensusRunner census(engine, coverage, &log, proc,
                      {.interval_ms = config.census_interval_ms,
                       .kill = config.on_unwatched == config::OnUnwatched::kKill,
                       .exempt = std::move(exemptions),
                       .max_file_size = config.max_file_size,
                       .host = host});
  std::thread census_thread;
  if (exit_code == 0 && config.census_interval_ms > 0) {
    if (config.on_unwatched == config::OnUnwatched::kKill && !proc.shows_own_pid_namespace())
      fmt::print(stderr, "tollgated: warning: /proc is not this pid namespace's: the census will kill nothing\n");
    census_thread = std::thread([&] { census.run(); });
  }
  daemon.set_status_extra([&](control::StatusReply& s) {
    for (const auto& fs : coverage.filesystems()) s.filesystems.push_back(status_entry(fs));
    s.census = census.status();
  });
  control::ControlServer control(
      config.socket, config.admin_group,
      [&](const control::ControlRequest& r, const control::PeerCred& p) { return daemon.handle(r, p); });
  // systemd's RuntimeDirectory=: admin_group members must reach the socket.
  if (const char* dirs = std::getenv("RUNTIME_DIRECTORY")) control.set_runtime_directory(dirs);
  if (exit_code == 0) {
    // Only now: a successful status request means every mark is in place.
    if (auto st = control.start(); !st) {
      fmt::print(stderr, "tollgated: {}\n", st.error().message());
      exit_code = 1;
    }
  }
  if (exit_code == 0) {
    sd_notify(0, "READY=1");
    fmt::print(stderr, "tollgated {}: ready, control socket {}\n", version(), config.socket);
    if (auto st = daemon.write_metrics(); !st) fmt::print(stderr, "tollgated: metrics: {}\n", st.error().message());
    bool running = true;
    // Every second: what expires (pending trust, a timed audit window) ends
    // on time; the metrics file every fifth, after a reload and at exit (the
    // final counts).
    for (unsigned tick = 1; running; ++tick) {
      timespec timeout{1, 0};
      siginfo_t info;
      int sig = ::sigtimedwait(&signals, &info, &timeout);
      switch (sig) {
        case SIGTERM:
        case SIGINT:
        case SIGUSR1: running = false; break;
        case SIGHUP:
          log.reopen();
          (void)daemon.reload();
          break;
        default: break;
      }
      daemon.tick(now_us() / 1000000);
      if (running && tick % 5 != 0 && sig != SIGHUP) continue;
      if (auto st = daemon.write_metrics(); !st) fmt::print(stderr, "tollgated: metrics: {}\n", st.error().message());
    }
    sd_notify(0, "STOPPING=1");
  }
  control.stop();
  census.stop();
  if (census_thread.joinable()) census_thread.join();
  coverage.stop();
  coverage_thread.join();
  engine.stop();
  loop.join();
  scans.stop();  // after the loop: the engine offers files until it stops
  log.flush();
  log.stop();
  fmt::print(stderr, "tollgated: stopped\n");
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) { return run(argc, argv); }
