#include "enforcer/mount_watcher.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "census/process.h"
#include "common/io.h"
#include "common/time.h"
#include "eventlog/writer.h"

namespace tollgate::enforcer {
namespace {

// A prefix that covers no filesystem able to hold executables is a mistake
// in the configuration (a typo, or `watch: [/proc]`).
Status check_prefixes(const std::vector<census::MountEntry>& mounts, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    const census::MountEntry* holder = census::holding_mount(mounts, p);
    bool covered = holder && census::holds_executables(holder->fs_type);
    for (const auto& m : mounts)
      if (!covered && census::at_or_below(m.mount_point, p) && census::holds_executables(m.fs_type)) covered = true;
    if (!covered)
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("watch: {}: no filesystem that can hold executables is mounted there{}", p,
                              holder ? fmt::format(" ({} is {})", holder->mount_point, holder->fs_type) : ""));
  }
  return {};
}

}  // namespace

eventlog::MarkRecord mark_record(const WatchedFilesystem& fs, std::string_view trigger) {
  return {.device = census::device_name(fs.dev),
          .fs_type = fs.fs_type,
          .source = fs.source,
          .mount_points = fs.mount_points,
          .trigger = std::string(trigger),
          .ok = fs.marked,
          .hidden = fs.hidden,
          .error = fs.error};
}

control::StatusReply::Filesystem status_entry(const WatchedFilesystem& fs) {
  return {.device = census::device_name(fs.dev),
          .fs_type = fs.fs_type,
          .source = fs.source,
          .mount_points = fs.mount_points,
          .network = fs.network,
          .marked = fs.marked,
          .error = fs.error};
}

MountWatcher::MountWatcher(FilesystemMarker& marker, EventLog* log, MountWatcherOptions options)
    : marker_(marker),
      log_(log),
      options_(std::move(options)),
      view_(std::make_shared<census::MountView>()),
      wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

MountWatcher::~MountWatcher() { stop(); }

Status MountWatcher::start() {
  auto text = read_file(options_.mountinfo, 16u << 20);
  if (!text) return std::unexpected(text.error());
  if (auto st = check_prefixes(census::parse_mountinfo(*text), options_.prefixes); !st) return st;
  if (auto st = scan(false, false, "start"); !st) return st;
  std::lock_guard lock(mu_);
  for (const auto& fs : filesystems_)
    if (!fs.network && !fs.marked)
      return fail(ErrorCode::kIo, fmt::format("cannot watch {} ({}, {}): {}", fs.mount_points.front(), fs.fs_type,
                                              census::device_name(fs.dev), fs.error));
  return {};
}

Status MountWatcher::scan(bool network, bool notified, const char* trigger) {
  std::lock_guard scan_lock(scan_mu_);
  auto text = read_file(options_.mountinfo, 16u << 20);
  if (!text) return std::unexpected(text.error());
  // Notified, yet the table reads the same: something was unmounted and
  // mounted again with the same device number and mount id. Its mark went
  // with the old superblock; mark everything again.
  const bool force = notified && *text == last_text_;
  last_text_ = *text;
  const auto mounts = census::parse_mountinfo(*text);
  const auto selected = census::select_watched(mounts, options_.prefixes);

  std::vector<WatchedFilesystem> prev;
  std::vector<std::vector<int>> prev_ids;
  {
    std::lock_guard lock(mu_);
    prev = filesystems_;
    prev_ids = mount_ids_;
  }
  std::vector<WatchedFilesystem> next;
  std::vector<std::vector<int>> next_ids;
  std::vector<dev_t> marked;
  std::vector<nlohmann::json> events;
  for (const auto& w : selected) {
    WatchedFilesystem fs{.dev = w.dev, .fs_type = w.fs_type, .source = w.source};
    fs.network = census::fs_kind(w.fs_type) == census::FsKind::kNetwork;
    std::vector<int> ids;
    for (const auto* m : w.mounts) {
      ids.push_back(m->mount_id);
      if (std::find(fs.mount_points.begin(), fs.mount_points.end(), m->mount_point) == fs.mount_points.end())
        fs.mount_points.push_back(m->mount_point);
    }
    std::sort(ids.begin(), ids.end());
    auto old = std::find_if(prev.begin(), prev.end(), [&](const WatchedFilesystem& p) { return p.dev == w.dev; });
    const bool was_marked = old != prev.end() && old->marked;
    if (was_marked && !force && prev_ids[static_cast<size_t>(old - prev.begin())] == ids) {
      fs.marked = true;  // the same mounts as when it was marked
      fs.hidden = old->hidden;
      fs.marked_at_us = old->marked_at_us;
    } else if (fs.network && !network) {
      fs.error = "pending (network filesystems are marked after start)";
    } else {
      bool all_hidden = true;
      for (const auto* m : w.mounts) {
        auto st = marker_.mark_filesystem(m->mount_point, m->mount_id);
        if (st) {
          fs.marked = true;
          fs.error.clear();
          break;
        }
        fs.error = st.error().message();
        all_hidden = all_hidden && st.error().code() == ErrorCode::kUnavailable;
      }
      // No mount of it is reachable by path here; reach one from a private
      // copy, until one works or the copy itself is refused (no namespace).
      for (size_t i = 0; !fs.marked && all_hidden && i < w.mounts.size(); ++i) {
        auto st = marker_.mark_hidden_filesystem(*w.mounts[i]);
        fs.marked = fs.hidden = st.has_value();
        fs.error = st ? "" : st.error().message();
        all_hidden = st || st.error().code() == ErrorCode::kUnavailable;
      }
      if (fs.marked) fs.marked_at_us = was_marked ? old->marked_at_us : tollgate::now_us();
      const bool news = fs.marked ? !was_marked : (old == prev.end() || old->error != fs.error);
      if (news) events.push_back(eventlog::mark_event(options_.host, mark_record(fs, trigger)));
    }
    if (fs.marked) marked.push_back(fs.dev);
    next.push_back(std::move(fs));
    next_ids.push_back(std::move(ids));
  }
  auto view = std::make_shared<census::MountView>(census::MountView::from(mounts, marked));
  {
    std::lock_guard lock(mu_);
    filesystems_ = std::move(next);
    mount_ids_ = std::move(next_ids);
    view_ = std::move(view);
  }
  for (auto& e : events) {
    fmt::print(stderr, "tollgated: {} {} ({}, {}) at {}{}{}\n", e["ok"].get<bool>() ? "watching" : "CANNOT watch",
               e["device"].get<std::string>(), e["fs_type"].get<std::string>(), e["source"].get<std::string>(),
               e["mount_points"][0].get<std::string>(),
               e["hidden"].get<bool>() ? " (hidden under another mount: marked from a private mount namespace)" : "",
               e["ok"].get<bool>() ? "" : ": " + e["error"].get<std::string>());
    if (log_) log_->submit(std::move(e));
  }
  return {};
}

void MountWatcher::run() {
  // Opened before the first pass: a change from here on raises POLLPRI.
  UniqueFd table(::open(options_.mountinfo.c_str(), O_RDONLY | O_CLOEXEC));
  if (!table)
    fmt::print(stderr, "tollgated: cannot follow {}: rescanning every {} ms only\n", options_.mountinfo,
               options_.rescan_ms);
  if (auto st = scan(true, false, "start"); !st) fmt::print(stderr, "tollgated: coverage: {}\n", st.error().message());
  using Clock = std::chrono::steady_clock;
  auto next_rescan = Clock::now() + std::chrono::milliseconds(options_.rescan_ms);
  while (!stopping_.load()) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_rescan - Clock::now()).count();
    pollfd fds[2] = {{table.get(), POLLPRI, 0}, {wake_fd_.get(), POLLIN, 0}};
    int rc = ::poll(fds, 2, static_cast<int>(std::clamp<long long>(wait, 0, options_.rescan_ms)));
    if (stopping_.load()) break;
    if (rc < 0 && errno != EINTR) {
      fmt::print(stderr, "tollgated: coverage: poll failed: {}\n", std::strerror(errno));
      ::poll(nullptr, 0, 1000);
      continue;
    }
    const bool changed = rc > 0 && (fds[0].revents & (POLLPRI | POLLERR));
    const bool due = Clock::now() >= next_rescan;
    if (!changed && !due) continue;
    if (due) next_rescan = Clock::now() + std::chrono::milliseconds(options_.rescan_ms);
    if (auto st = scan(true, changed, changed ? "mount" : "rescan"); !st)
      fmt::print(stderr, "tollgated: coverage: {}\n", st.error().message());
  }
}

void MountWatcher::stop() {
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
  (void)ignored;
}

std::vector<WatchedFilesystem> MountWatcher::filesystems() const {
  std::lock_guard lock(mu_);
  return filesystems_;
}

std::shared_ptr<const census::MountView> MountWatcher::view() const {
  std::lock_guard lock(mu_);
  return view_;
}

bool MountWatcher::reached_through_our_mount(int fd) const {
  auto id = census::mount_id_at(fd, "");
  if (!id) return id.error().code() == ErrorCode::kUnavailable && id.error().sys_errno() == 0;  // no mount ids (< 5.8)
  auto view = this->view();
  return view->mounts.contains(*id);
}

}  // namespace tollgate::enforcer
