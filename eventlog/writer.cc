#include "eventlog/writer.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <syslog.h>

#include "common/io.h"
#include "eventlog/builders.h"

namespace tollgate::eventlog {

using nlohmann::json;

std::string encode_line(const json& event) {
  // ASCII-only JSON: a path's controls, C1 or bidi characters become \u
  // escapes, so `tail` or `less` on the log shows them as text.
  return event.dump(-1, ' ', true, json::error_handler_t::replace) + "\n";
}

Status append_event(const std::string& path, const json& event) {
  // Never through a symlink (one planted at the path would have root append
  // to any file) and never a FIFO or device.
  auto fd = open_regular(path, O_WRONLY | O_APPEND | O_CREAT, 0640);
  if (!fd) return std::unexpected(fd.error());
  return write_all(fd->get(), encode_line(event), path);
}

EventLog::EventLog(EventLogOptions options, std::atomic<uint64_t>& dropped)
    : options_(std::move(options)), dropped_(dropped) {}

EventLog::~EventLog() { stop(); }

void EventLog::start() {
  if (options_.syslog) ::openlog("tollgated", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
  thread_ = std::thread([this] { run(); });
}

bool EventLog::submit(json event) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(event));
  }
  cv_.notify_one();
  return true;
}

void EventLog::reopen() {
  {
    std::lock_guard lock(mu_);
    reopen_ = true;
  }
  cv_.notify_one();
}

void EventLog::flush(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  idle_cv_.wait_for(lock, limit, [&] { return queue_.empty() && !busy_; });
}

void EventLog::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      if (!thread_.joinable()) return;
    }
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void EventLog::open_file() {
  fd_.reset();
  if (options_.path.empty()) return;
  // Never through a symlink (one planted at the path would have root append
  // to any file) and never a FIFO or device.
  auto fd = open_regular(options_.path, O_WRONLY | O_APPEND | O_CREAT, 0640);
  if (!fd) {
    if (!open_failed_reported_)
      fmt::print(stderr, "tollgated: event log: {} (events are not written until it can be opened)\n",
                 fd.error().message());
    open_failed_reported_ = true;
    return;
  }
  open_failed_reported_ = false;
  fd_ = std::move(*fd);
}

void EventLog::run() {
  open_file();
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || reopen_ || !queue_.empty(); });
    if (reopen_) {
      reopen_ = false;
      lock.unlock();
      open_file();
      lock.lock();
    }
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }
    std::deque<json> batch;
    batch.swap(queue_);
    busy_ = true;
    lock.unlock();
    for (const auto& event : batch) {
      if (!fd_ && !options_.path.empty()) open_file();
      if (fd_) {
        // One write(2) per line: with O_APPEND the line lands whole.
        if (!write_all(fd_.get(), encode_line(event), options_.path)) fd_.reset();
      }
      if (options_.syslog) {
        ::syslog(syslog_priority(event), "%s", syslog_summary(event).c_str());
      }
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

}  // namespace tollgate::eventlog
