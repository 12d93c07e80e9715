#include "enforcer/events.h"

#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <fmt/core.h>

#include <ctime>

#include "common/io.h"
#include "common/text.h"

namespace tollgate::enforcer {

using nlohmann::json;

std::string rfc3339_us(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1'000'000);
  long frac = static_cast<long>(us % 1'000'000);
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  struct tm tm {};
  ::gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:06d}Z", buf, frac);
}

namespace {

std::string read_small(const std::string& path) {
  auto text = read_file(path, 64 * 1024);
  return text ? *text : std::string();
}

json base(const std::string& host, const char* type) {
  return json{{"ts", rfc3339_us(std::chrono::system_clock::now())}, {"host", host}, {"type", type}};
}

}  // namespace

ProcessInfo read_process_info(pid_t pid) {
  ProcessInfo info;
  info.pid = pid;
  const std::string dir = "/proc/" + std::to_string(pid);
  char buf[4096];
  ssize_t n = ::readlink((dir + "/exe").c_str(), buf, sizeof buf - 1);
  if (n > 0) info.exe.assign(buf, static_cast<size_t>(n));
  info.comm = read_small(dir + "/comm");
  while (!info.comm.empty() && info.comm.back() == '\n') info.comm.pop_back();
  std::string status = read_small(dir + "/status");
  auto field = [&](std::string_view name) -> std::string {
    auto pos = status.find(name);
    if (pos == std::string::npos) return {};
    pos += name.size();
    auto end = status.find_first_of("\t\n", status.find_first_not_of(" \t", pos));
    return status.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  };
  try {
    if (auto p = field("\nPPid:\t"); !p.empty()) info.ppid = static_cast<pid_t>(std::stol(p));
    if (auto u = field("\nUid:\t"); !u.empty()) info.uid = static_cast<uid_t>(std::stoul(u));
  } catch (const std::exception&) {
  }
  return info;
}

json decision_event(const std::string& host, const DecisionRecord& r) {
  const auto& d = r.decision;
  std::string source;
  if (!d.source.file.empty())
    source = d.source.line > 0 ? fmt::format("{}:{}", d.source.file, d.source.line) : d.source.file;
  return json{{"ts", rfc3339_us(r.ts)},
              {"host", host},
              {"type", "decision"},
              {"mode", policy::to_string(r.mode)},
              {"decision", policy::to_string(d.verdict)},
              {"would_deny", d.would_deny},
              {"rule", d.rule},
              {"reason", d.reason},
              {"source", source},
              {"path", r.path},
              {"sha256", r.sha256},
              {"size", r.size},
              {"event", r.event},
              {"pid", r.process.pid},
              {"ppid", r.process.ppid},
              {"uid", r.process.uid},
              {"exe", r.process.exe},
              {"comm", r.process.comm},
              {"latency_us", r.latency_us}};
}

json start_event(const std::string& host, policy::Mode mode, const std::string& database, uint64_t generation,
                 const std::string& version, const std::string& note, const std::string& degraded) {
  json j = base(host, "start");
  j["mode"] = policy::to_string(mode);
  j["database"] = database;
  j["generation"] = generation;
  j["version"] = version;
  if (!note.empty()) j["note"] = note;
  if (!degraded.empty()) j["degraded"] = degraded;
  return j;
}

json reload_event(const std::string& host, bool ok, const std::string& database, uint64_t generation,
                  const std::string& error, const std::string& degraded) {
  json j = base(host, "reload");
  j["ok"] = ok;
  j["database"] = database;
  j["generation"] = generation;
  j["error"] = error;
  if (!degraded.empty()) j["degraded"] = degraded;
  return j;
}

json policy_change_event(const std::string& host, const PolicyChange& c) {
  json j = base(host, c.type == "rollback" ? "rollback" : "install");
  j["ok"] = c.ok;
  j["database"] = c.database;
  j["file"] = c.file;
  j["from_generation"] = c.from_generation;
  j["to_generation"] = c.to_generation;
  j["by"] = c.by;
  j["by_uid"] = c.by_uid;
  j["error"] = c.error;
  if (!c.degraded.empty()) j["degraded"] = c.degraded;
  return j;
}

json mode_event(const std::string& host, policy::Mode from, policy::Mode to, const std::string& by, bool forced,
                uid_t by_uid) {
  json j = base(host, "mode");
  j["from"] = policy::to_string(from);
  j["to"] = policy::to_string(to);
  j["by"] = by;
  j["by_uid"] = by_uid;
  j["forced"] = forced;
  return j;
}

json overflow_event(const std::string& host, uint64_t count) {
  json j = base(host, "overflow");
  j["count"] = count;
  return j;
}

json read_error_event(const std::string& host, const std::string& error, uint64_t count) {
  json j = base(host, "read_error");
  j["error"] = error;
  j["count"] = count;
  return j;
}

std::string syslog_summary(const json& e) {
  auto s = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string(); };
  std::string type = s("type");
  if (type == "decision") {
    std::string verdict = e.value("would_deny", false) ? "would deny" : s("decision");
    return printable(fmt::format("{} {} {} by pid {} ({}, uid {}): {}", verdict, s("event"), s("path"),
                                 e.value("pid", 0), s("comm"), e.value("uid", 0), s("rule")));
  }
  if (type == "mode")
    return printable(fmt::format("mode {} -> {} by {} (uid {})", s("from"), s("to"), s("by"), e.value("by_uid", -1)));
  if (type == "reload")
    return printable(e.value("ok", false)
                         ? fmt::format("reloaded {} generation {}", s("database"), e.value("generation", 0))
                         : fmt::format("reload refused: {}{}", s("error"),
                                       s("degraded").empty() ? "" : "; DEGRADED: " + s("degraded")));
  if (type == "start")
    return printable(fmt::format("started in {} mode, database {}{}", s("mode"), s("database"),
                                 s("degraded").empty() ? "" : "; DEGRADED: " + s("degraded")));
  if (type == "install" || type == "rollback")
    return printable(e.value("ok", false)
                         ? fmt::format("{} by {} (uid {}): {} generation {} -> {}", type, s("by"), e.value("by_uid", -1),
                                       s("database"), e.value("from_generation", 0), e.value("to_generation", 0))
                         : fmt::format("{} by {} (uid {}) refused: {}", type, s("by"), e.value("by_uid", -1), s("error")));
  if (type == "finding")
    return printable(fmt::format("census: {} pid {} ({}, uid {}): {}{}", s("finding"), e.value("pid", 0), s("exe"),
                                 e.value("uid", 0), s("action"), s("exempt").empty() ? "" : " (exempt: " + s("exempt") + ")"));
  if (type == "kill")
    return printable(fmt::format("census: {} pid {} ({}, {}){}", e.value("ok", false) ? "killed" : "could not kill",
                                 e.value("pid", 0), s("exe"), s("finding"), s("error").empty() ? "" : ": " + s("error")));
  if (type == "mark")
    return printable(fmt::format("{} {} ({}, {}){}", e.value("ok", false) ? "watching" : "CANNOT watch", s("device"),
                                 s("fs_type"), s("trigger"), s("error").empty() ? "" : ": " + s("error")));
  if (type == "scan") {
    const auto& m = e.contains("miner") && e["miner"].is_object() ? e["miner"] : json::object();
    const auto& reasons = m.contains("reasons") && m["reasons"].is_array() ? m["reasons"] : json::array();
    return printable(fmt::format("scan of {} (sha256 {}): {}{}", s("path"), s("sha256").substr(0, 12),
                                 m.value("suspect", false) ? "suspect miner, score " : "score ", m.value("score", 0)) +
                     (reasons.empty() || !reasons[0].is_string() ? "" : ": " + reasons[0].get<std::string>()));
  }
  if (type == "overflow") return fmt::format("kernel queue overflow, {} total", e.value("count", 0));
  if (type == "read_error")
    return fmt::format("fanotify read failed {} times ({}); the kernel denied those events", e.value("count", 0),
                       s("error"));
  return e.dump(-1, ' ', true, json::error_handler_t::replace);
}

EventLog::EventLog(EventLogOptions options, Metrics& metrics) : options_(std::move(options)), metrics_(metrics) {}

EventLog::~EventLog() { stop(); }

void EventLog::start() {
  if (options_.syslog) ::openlog("tollgated", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
  thread_ = std::thread([this] { run(); });
}

bool EventLog::submit(json event) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      metrics_.log_dropped.fetch_add(1, std::memory_order_relaxed);
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
        // ASCII-only JSON: a path's controls, C1 or bidi characters become
        // \u escapes, so `tail` or `less` on the log shows them as text.
        std::string line = event.dump(-1, ' ', true, json::error_handler_t::replace) + "\n";
        // One write(2) per line: with O_APPEND the line lands whole.
        if (!write_all(fd_.get(), line, options_.path)) fd_.reset();
      }
      if (options_.syslog) {
        const std::string type = event.value("type", "");
        const bool failed_mark = type == "mark" && !event.value("ok", true);
        int prio = event.contains("degraded") || failed_mark                          ? LOG_ERR
                   : event.value("decision", "") == "deny" || type == "finding" || type == "kill" ? LOG_WARNING
                                                                                                    : LOG_NOTICE;
        ::syslog(prio, "%s", syslog_summary(event).c_str());
      }
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

}  // namespace tollgate::enforcer
