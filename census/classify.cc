#include "census/classify.h"

#include <algorithm>

namespace tollgate::census {

std::string_view to_string(Finding finding) {
  switch (finding) {
    case Finding::kFileless: return "fileless";
    case Finding::kForeignFilesystem: return "foreign-filesystem";
    case Finding::kDeleted: return "deleted";
    case Finding::kUnapproved: return "unapproved";
  }
  return "fileless";
}

bool killable(Finding finding) { return finding != Finding::kDeleted; }

MountView MountView::from(const std::vector<MountEntry>& mounts, const std::vector<dev_t>& watched) {
  MountView v;
  for (const auto& m : mounts) {
    v.mounts[m.mount_id] = m.dev;
    v.filesystems.insert(m.dev);
    v.fs_types.emplace(m.dev, m.fs_type);
  }
  v.watched.insert(watched.begin(), watched.end());
  return v;
}

Located locate(const ProcessFacts& p, const MountView& ours, const std::vector<MountEntry>* theirs) {
  Located at;
  if (!p.has_exe) return at;
  at.deleted = p.exe.ends_with(kDeleted);
  if (auto it = ours.mounts.find(p.exe_mount_id); p.exe_mount_id >= 0 && it != ours.mounts.end()) {
    at.dev = it->second;
    at.dev_known = true;
    if (auto t = ours.fs_types.find(at.dev); t != ours.fs_types.end()) at.fs_type = t->second;
  } else if (p.exe_mount_id >= 0 && theirs) {
    auto m =
        std::find_if(theirs->begin(), theirs->end(), [&](const MountEntry& e) { return e.mount_id == p.exe_mount_id; });
    if (m != theirs->end()) {
      at.dev = m->dev;
      at.dev_known = true;
      at.fs_type = m->fs_type;
    }
  }
  if (!at.dev_known && ours.filesystems.contains(p.id.exe_dev)) {
    // The mount is in no table we can read: a kernel before 5.8 (no mount
    // ids), or the process left the namespace it exec'd in (unshare after
    // exec). st_dev names the filesystem (for all but btrfs subvolumes).
    at.dev = p.id.exe_dev;
    at.dev_known = true;
    if (auto t = ours.fs_types.find(at.dev); t != ours.fs_types.end()) at.fs_type = t->second;
  }
  if (at.dev_known && ours.filesystems.contains(at.dev)) {
    at.placement = ours.watched.contains(at.dev) ? Placement::kWatched : Placement::kUnwatched;
    return at;
  }
  // On no mount of any namespace, under a name that is no path: a memfd or
  // another anonymous file.
  const bool anonymous = p.exe.starts_with("/memfd:") || p.exe.empty() || p.exe.front() != '/';
  at.placement = !at.dev_known && anonymous ? Placement::kFileless : Placement::kForeign;
  return at;
}

std::optional<Finding> finding_for(const Located& at, const std::optional<Judgement>& judgement) {
  switch (at.placement) {
    case Placement::kFileless: return Finding::kFileless;
    case Placement::kForeign: return Finding::kForeignFilesystem;
    case Placement::kWatched:
      if (!judgement || !judgement->denied) return std::nullopt;
      return at.deleted ? Finding::kDeleted : Finding::kUnapproved;
    case Placement::kNone:
    case Placement::kUnwatched: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace tollgate::census
