#include "enforcer/census_runner.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <chrono>

#include "census/judge.h"
#include "common/text.h"
#include "eventlog/builders.h"
#include "eventlog/writer.h"

namespace tollgate::enforcer {

CensusRunner::CensusRunner(Engine& engine, const MountWatcher& coverage, EventLog* log, census::ProcSource& proc,
                           CensusRunnerOptions options)
    : engine_(engine),
      coverage_(coverage),
      log_(log),
      proc_(proc),
      options_(std::move(options)),
      census_(proc_, {.exempt = options_.exempt, .max_hash_bytes = options_.max_file_size}),
      path_means_here_([this](int fd) { return coverage_.reached_through_our_mount(fd); }) {}

void CensusRunner::run() {
  for (;;) {
    walk_once();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, std::chrono::milliseconds(options_.interval_ms), [&] { return stopping_; })) return;
  }
}

void CensusRunner::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

std::optional<census::Judgement> CensusRunner::judge(int fd) {
  auto state = engine_.policy();
  struct stat st {};
  if (!state->store || ::fstat(fd, &st) != 0) return std::nullopt;
  const auto key = std::make_tuple(st.st_dev, st.st_ino, st.st_size,
                                   int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec, state->epoch);
  if (auto it = judged_.find(key); it != judged_.end()) return it->second;
  auto j = census::judge_executable(fd, state->view(), options_.max_file_size, &path_means_here_);
  if (!j) return j;
  if (judged_.size() > 65536) judged_.clear();
  judged_.emplace(key, *j);
  return j;
}

void CensusRunner::walk_once() {
  const auto started = std::chrono::steady_clock::now();
  const auto view = coverage_.view();
  auto found = census_.walk(
      *view, [&](int fd, const census::ProcessFacts&) { return judge(fd); }, engine_.policy()->epoch);
  const bool enforcing = engine_.mode() == policy::Mode::kEnforce;
  for (auto& r : found) {
    findings_.fetch_add(1, std::memory_order_relaxed);
    const bool exempt = !r.exempt.empty();
    if (exempt) exempt_.fetch_add(1, std::memory_order_relaxed);
    const bool kill = options_.kill && enforcing && census::killable(r.finding) && !exempt;
    const char* action = exempt ? "exempt" : kill ? "kill" : "log";
    fmt::print(stderr, "tollgated: census: {} pid {} ({}, uid {}): {}{}\n", census::to_string(r.finding), r.id.pid,
               printable(r.exe), r.uid, printable(r.reason), exempt ? fmt::format(" [exempt: {}]", r.exempt) : "");
    if (log_) log_->submit(eventlog::finding_event(options_.host, r, action));
    if (!kill) continue;
    Status killed = proc_.kill(r.id);
    (killed ? killed_ : kill_failed_).fetch_add(1, std::memory_order_relaxed);
    fmt::print(stderr, "tollgated: census: {} pid {} ({}){}\n", killed ? "killed" : "could not kill", r.id.pid,
               printable(r.exe), killed ? "" : ": " + killed.error().message());
    if (log_) log_->submit(eventlog::kill_event(options_.host, r, killed));
  }
  processes_.store(census_.last_walk().processes, std::memory_order_relaxed);
  walks_.fetch_add(1, std::memory_order_relaxed);
  last_walk_us_.store(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count()));
}

control::StatusReply::Census CensusRunner::status() const {
  auto v = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  return {.enabled = options_.interval_ms > 0,
          .interval_ms = options_.interval_ms,
          .on_unwatched = options_.kill ? "kill" : "log",
          .walks = v(walks_),
          .last_walk_us = v(last_walk_us_),
          .processes = v(processes_),
          .findings = v(findings_),
          .exempt = v(exempt_),
          .killed = v(killed_),
          .kill_failed = v(kill_failed_)};
}

}  // namespace tollgate::enforcer
