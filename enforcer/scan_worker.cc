#include "enforcer/scan_worker.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "enforcer/engine.h"
#include "enforcer/thread_priority.h"
#include "eventlog/builders.h"
#include "miner/content_scan.h"

namespace tollgate::enforcer {
namespace {

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

}  // namespace

size_t scan_queue_bound_for_fd_limit(uint64_t nofile) {
  const uint64_t pending = pending_bound_for_fd_limit(nofile);
  const uint64_t reserve = nofile > pending ? nofile - pending : 0;
  return static_cast<size_t>(std::clamp<uint64_t>(reserve / 8, 1, 16));
}

size_t ScanWorker::HashKey::operator()(const hashdb::Sha256& s) const {
  size_t h;
  std::memcpy(&h, s.data(), sizeof h);  // a cryptographic hash: any 8 bytes are uniform
  return h;
}

ScanWorker::ScanWorker(ScanWorkerOptions options, eventlog::EventLog* log, Metrics& metrics)
    : options_(std::move(options)), log_(log), metrics_(metrics) {}

ScanWorker::~ScanWorker() { stop(); }

void ScanWorker::start() {
  thread_ = std::thread([this] {
    if (options_.idle_priority) make_thread_idle();
    run();
  });
}

void ScanWorker::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cancel_.store(true);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ScanWorker::offer(int fd, const hashdb::Sha256& sha256, const std::string& path, const struct stat& st) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (known_.contains(sha256)) {
      metrics_.scans_cached.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (queue_.size() >= options_.queue_capacity) {
      metrics_.scans_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    known_.emplace(sha256, done_.end());  // queued: a second offer is skipped from now on
  }
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  std::lock_guard lock(mu_);
  // Checked again: other threads may have queued while this one dup'ed.
  if (!copy || stopping_ || queue_.size() >= options_.queue_capacity) {
    known_.erase(sha256);
    metrics_.scans_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  queue_.push_back({std::move(copy), sha256, path, st});
  cv_.notify_one();
}

bool ScanWorker::flush(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, limit, [&] { return queue_.empty() && !busy_; });
}

void ScanWorker::remember_done(const hashdb::Sha256& sha256) {
  done_.push_back(sha256);
  known_[sha256] = std::prev(done_.end());
  while (done_.size() > options_.remembered) {
    known_.erase(done_.front());
    done_.pop_front();
  }
}

void ScanWorker::forget(const hashdb::Sha256& sha256) {
  std::lock_guard lock(mu_);
  if (auto it = known_.find(sha256); it != known_.end() && it->second == done_.end()) known_.erase(it);
}

void ScanWorker::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    scan(job);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

void ScanWorker::scan(Job& job) {
  struct stat before {
  }, after{};
  if (::fstat(job.fd.get(), &before) != 0 || !same_file(before, job.st)) {
    metrics_.scans_skipped.fetch_add(1, std::memory_order_relaxed);
    forget(job.sha256);
    return;
  }
  auto result = miner::scan_fd(
      job.fd.get(), {.max_bytes = options_.max_bytes, .max_time = options_.max_time, .cancel = &cancel_}, job.path);
  if (!result || result->end == miner::ScanEnd::kCancelled || ::fstat(job.fd.get(), &after) != 0 ||
      !same_file(after, job.st)) {
    metrics_.scans_skipped.fetch_add(1, std::memory_order_relaxed);
    forget(job.sha256);
    return;
  }
  metrics_.scans.fetch_add(1, std::memory_order_relaxed);
  metrics_.scan_bytes.fetch_add(result->bytes_scanned, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    remember_done(job.sha256);
  }
  if (!log_) return;
  const eventlog::ScanRecord record{.sha256 = hashdb::to_hex(job.sha256),
                                    .path = job.path,
                                    .size = static_cast<uint64_t>(job.st.st_size),
                                    .scan = std::move(*result)};
  log_->submit(eventlog::scan_event(options_.host, record));
}

}  // namespace tollgate::enforcer
