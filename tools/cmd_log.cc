// tollgate log: a readable view of the event log, optionally following it
// (polling, across rotation and truncation).
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/io.h"
#include "common/text.h"
#include "tools/admin.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

std::string short_hash(const std::string& hex) { return hex.size() > 12 ? hex.substr(0, 12) : hex; }

// An absent `from`/`to` (a hand-written line) shows as nothing.
std::string_view mode_name(const std::optional<policy::Mode>& mode) { return mode ? policy::to_string(*mode) : ""; }

// One readable line; the caller makes it printable() as a whole, so every
// field (paths, a client-claimed `by`, fields of future types) is escaped.
std::string format_event(const eventlog::Event& e) {
  std::string head = fmt::format("{} {}", e.ts, e.host.empty() ? "-" : e.host);
  if (e.type == eventlog::EventType::kDecision) {
    std::string verdict = e.decision == policy::Verdict::kDeny ? "DENY" : e.would_deny ? "WOULD-DENY" : "allow";
    std::string user = user_name(e.uid);
    std::string who = user.empty() ? fmt::format("uid={}", e.uid) : fmt::format("uid={}({})", e.uid, user);
    return fmt::format("{} {:<10} {} {} {} by {} sha256={} rule={}{}{}", head, verdict, eventlog::to_string(e.event),
                       e.path, who, e.exe.empty() ? e.comm : e.exe, short_hash(e.sha256), e.rule,
                       e.source.empty() ? "" : " (" + e.source + ")",
                       e.repeated ? fmt::format(" repeated={}", e.repeated) : "");
  }
  if (e.type == eventlog::EventType::kMode)
    return fmt::format("{} mode       {} -> {} by {}{}{}", head, mode_name(e.from), mode_name(e.to),
                       e.by.empty() ? "?" : e.by, e.by_uid >= 0 ? fmt::format(" (uid {})", e.by_uid) : "",
                       e.forced ? " (forced)" : "");
  // start, reload, overflow and future types: their fields as key=value.
  std::string fields;
  auto obj = nlohmann::ordered_json::parse(e.raw, nullptr, false);
  if (obj.is_object()) {
    for (const auto& [key, value] : obj.items()) {
      if (key == "ts" || key == "host" || key == "type") continue;
      fields += fmt::format(" {}={}", key, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  return fmt::format("{} {:<10}{}", head, e.type.name(), fields);
}

// The line as logged; one carrying controls or bidi characters (a forged or
// old log: tollgated writes ASCII-only JSON) is re-encoded with \u escapes,
// the same JSON value.
std::string json_line(const eventlog::Event& e) {
  if (!has_unsafe_chars(e.raw)) return e.raw;
  auto obj = nlohmann::ordered_json::parse(e.raw, nullptr, false);
  if (obj.is_discarded()) return printable(e.raw);
  return obj.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
}

class LogCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kLogOption);
    app.add_flag("-f,--follow", follow_, "Keep reading as events are appended (survives log rotation)");
    app.add_flag("--denied-only", denied_only_, "Only denies and would-denies");
    app.add_flag("--json", json_, "Print the events' JSON lines unchanged");
    app.add_option("--since", since_, "Only events newer than this (30m, 24h, 7d)");
    app.add_option("--type", types_, "Only these event types (decision, start, reload, mode, overflow)")
        ->delimiter(',');
    app.add_option("--max-events", max_events_, "Stop after printing this many events (0 = no limit)");
    app.add_option("--poll-ms", poll_ms_, "How often --follow checks the file")->capture_default_str();
  }

  int run() override {
    auto settings = resolve_settings(options_);
    if (!settings) return report(settings.error());
    if (!since_.empty()) {
      auto cutoff = since_cutoff(since_);
      if (!cutoff) return usage_error(cutoff.error());
      filter_.since_us = *cutoff;
    }
    filter_.denied_only = denied_only_;
    filter_.types.insert(types_.begin(), types_.end());
    path_ = settings->event_log;
    if (!follow_) {
      // Stop printing (not reading) once --max-events is reached.
      bool more = true;
      auto scanned = scan_events(path_, [&](eventlog::Event&& e) {
        if (more) more = print(e);
      });
      if (!scanned) return report(scanned.error());
      return kExitOk;
    }
    return follow();
  }

 private:
  // Prints one event; false once --max-events is reached.
  bool print(const eventlog::Event& e) {
    if (!filter_.matches(e)) return true;
    fmt::print("{}\n", json_ ? json_line(e) : printable(format_event(e)));
    std::fflush(stdout);
    ++printed_;
    return max_events_ == 0 || printed_ < max_events_;
  }

  // Feeds complete lines of `chunk` (after any partial line kept from the
  // last read); returns false when --max-events is reached.
  bool feed(std::string_view chunk) {
    pending_ += chunk;
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(pending_.data() + start, nl - start);
      ++line_no_;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      auto e = eventlog::parse_event(line);
      if (!e) {
        fmt::print(stderr, "tollgate: {}:{}: skipped malformed event: {}\n", path_, line_no_, e.error().message());
        continue;
      }
      if (!print(*e)) return false;
    }
    pending_.erase(0, start);
    return true;
  }

  int follow() {
    UniqueFd fd;
    ino_t ino = 0;
    dev_t dev = 0;
    off_t offset = 0;
    bool warned_missing = false;
    char buf[65536];
    for (;;) {
      if (!fd) {
        auto opened = open_regular(path_, O_RDONLY);
        if (!opened && opened.error().code() != ErrorCode::kNotFound) return report(opened.error());
        if (opened) {
          fd = std::move(*opened);
          struct stat st {};
          ::fstat(fd.get(), &st);
          ino = st.st_ino;
          dev = st.st_dev;
          offset = 0;
          line_no_ = 0;
          pending_.clear();
        } else if (!warned_missing) {
          fmt::print(stderr, "tollgate: {}: waiting for the log to appear\n", path_);
          warned_missing = true;
        }
      }
      if (fd) {
        struct stat st {};
        if (::fstat(fd.get(), &st) == 0 && st.st_size < offset) {  // truncated in place
          offset = 0;
          line_no_ = 0;
          pending_.clear();
        }
        bool grew = false;
        for (;;) {
          ssize_t n = ::pread(fd.get(), buf, sizeof buf, offset);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          offset += n;
          grew = true;
          if (!feed(std::string_view(buf, static_cast<size_t>(n)))) return kExitOk;
        }
        // Rotated: the name now points at another file. The daemon keeps
        // appending to the old one until its SIGHUP, so move on only once the
        // old file has stopped growing for a whole poll interval.
        struct stat named {};
        if (!grew && ::stat(path_.c_str(), &named) == 0 && (named.st_ino != ino || named.st_dev != dev)) fd.reset();
      }
      if (fd || warned_missing) std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms_));
    }
  }

  AdminOptions options_;
  bool follow_ = false, denied_only_ = false, json_ = false;
  std::string since_;
  std::vector<std::string> types_;
  size_t max_events_ = 0;
  unsigned poll_ms_ = 250;
  eventlog::EventFilter filter_;
  std::string path_;
  std::string pending_;
  size_t line_no_ = 0;
  size_t printed_ = 0;
};

}  // namespace

CommandSpec log_command() {
  return {.name = "log",
          .summary = "Show the event log in readable form, optionally following it",
          .example =
              "  tollgate log --denied-only --since 1h\n"
              "  tollgate log --type mode,reload --since 7d\n"
              "  tollgate log --follow --denied-only\n",
          .make = [] { return std::make_unique<LogCommand>(); }};
}

}  // namespace tollgate::tools
