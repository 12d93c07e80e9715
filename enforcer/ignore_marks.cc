#include "enforcer/ignore_marks.h"

#include <errno.h>
#include <fmt/core.h>
#include <sys/fanotify.h>

#include <array>
#include <cstring>

#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_MARK_IGNORE
#define FAN_MARK_IGNORE 0x00000400
#endif

namespace tollgate::enforcer {
namespace {

struct Flavour {
  unsigned flags;
  const char* name;
};
// Best first; a kernel without a flag answers EINVAL.
constexpr std::array<Flavour, 3> kFlavours = {{
    {FAN_MARK_IGNORE | FAN_MARK_EVICTABLE, "ignore+evictable"},
    {FAN_MARK_IGNORED_MASK | FAN_MARK_EVICTABLE, "ignored-mask+evictable"},
    {FAN_MARK_IGNORED_MASK, "ignored-mask"},
}};

}  // namespace

std::string ignore_marks_precondition(bool log_allows, uint64_t max_marks,
                                      const std::optional<std::string>& protected_hardlinks) {
  if (log_allows) return "log_allows is on (an ignore-marked file's allowed execs would go unlogged)";
  if (max_marks == 0) return "max_ignore_marks is 0";
  if (!protected_hardlinks) return "fs.protected_hardlinks cannot be read";
  std::string_view v = *protected_hardlinks;
  while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
  if (v != "1")
    return fmt::format(
        "fs.protected_hardlinks is {}, not 1 (a user could hard-link an approved root-owned file "
        "past a path-deny rule)",
        v.empty() ? "empty" : std::string(v));
  return {};
}

IgnoreMarks::IgnoreMarks(InodeMarkApi& api, Metrics& metrics, Options options)
    : api_(api), metrics_(metrics), options_(options), enabled_(options.max_marks > 0) {
  if (options_.max_marks == 0) reason_ = "max_ignore_marks is 0";
}

void IgnoreMarks::disable(std::string reason) {
  std::lock_guard lock(mu_);
  enabled_.store(false, std::memory_order_release);
  reason_ = std::move(reason);
  flush_locked("ignore marks turned off");
}

std::string IgnoreMarks::disabled_reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

std::string IgnoreMarks::flavour() const {
  std::lock_guard lock(mu_);
  return flavour_ < 0 ? std::string() : kFlavours[static_cast<size_t>(flavour_)].name;
}

bool IgnoreMarks::add(int fd, uint64_t ticket, Scope scope) {
  std::lock_guard lock(mu_);
  if (!enabled() || ticket != flushes_.load(std::memory_order_relaxed)) return false;
  if (count_ >= options_.max_marks) flush_locked("max_ignore_marks reached");
  // The flush above is ours: the decision behind `ticket` is still current.
  const uint64_t mask = scope == Scope::kEveryAccess ? (FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM) : FAN_OPEN_PERM;
  if (!try_add(fd, mask)) return false;
  ++count_;
  metrics_.ignore_marks.store(count_, std::memory_order_relaxed);
  metrics_.ignore_marks_added.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool IgnoreMarks::try_add(int fd, uint64_t mask) {
  for (size_t i = flavour_ < 0 ? 0 : static_cast<size_t>(flavour_); i < kFlavours.size(); ++i) {
    const int err = api_.add_inode_mark(kFlavours[i].flags, mask, fd);
    if (err == 0) {
      flavour_ = static_cast<int>(i);
      return true;
    }
    if (err != EINVAL || flavour_ >= 0) {
      metrics_.ignore_mark_failures.fetch_add(1, std::memory_order_relaxed);
      return false;  // this file only (EEXIST, ENOMEM...)
    }
  }
  enabled_.store(false, std::memory_order_release);
  reason_ = "the kernel refuses inode ignore marks (FAN_MARK_IGNORED_MASK: EINVAL)";
  fmt::print(stderr, "tollgated: ignore marks off: {}\n", reason_);
  return false;
}

void IgnoreMarks::flush(std::string_view why) {
  std::lock_guard lock(mu_);
  flush_locked(why);
}

void IgnoreMarks::flush_locked(std::string_view why) {
  // Bumped first: a decision whose ticket predates this flush can no longer add.
  flushes_.fetch_add(1, std::memory_order_acq_rel);
  if (count_ == 0) return;  // nothing added since the last flush
  if (const int err = api_.flush_inode_marks(); err != 0)
    fmt::print(stderr, "tollgated: cannot flush ignore marks ({}): {}\n", why, std::strerror(err));
  count_ = 0;
  metrics_.ignore_marks.store(0, std::memory_order_relaxed);
  metrics_.ignore_mark_flushes.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace tollgate::enforcer
