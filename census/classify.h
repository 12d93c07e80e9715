// The census's judgement of one process: pure, over plain facts.
//
//   MountView view = MountView::from(mounts, watched);     // the daemon's namespace
//   Located at = locate(facts, view, their_mounts);          // where its executable lives
//   auto finding = finding_for(at, judgement);               // judgement: the policy's, for a watched file
//
// Findings (docs/events.md, type "finding"):
//   fileless            the executable is a memfd or other anonymous file: it
//                       lives on no filesystem at all (memfd_create + fexecve)
//   foreign-filesystem  it lives on a filesystem that is not mounted in the
//                       daemon's namespace: mounted inside another mount or
//                       user namespace (`unshare -Urm` + tmpfs), or detached
//   deleted             on a watched filesystem, unlinked since, and the
//                       policy does not approve its content
//   unapproved          on a watched filesystem, and the policy denies it:
//                       started before the daemon, or before the policy changed
// A process on a filesystem that is mounted here but not watched (an
// explicit `watch:` list leaves it out) has no finding: that is the admin's
// choice, and `tollgate doctor` reports it.
//
// Where a file lives is decided by the superblock of the mount its process
// reached it through (STATX_MNT_ID, then that namespace's mountinfo), and
// only when neither table has that mount by st_dev: a btrfs subvolume's
// files carry an st_dev of their own.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "census/mounts.h"
#include "census/process.h"

namespace tollgate::census {

enum class Finding { kFileless, kForeignFilesystem, kDeleted, kUnapproved };
std::string_view to_string(Finding finding);
// Findings the daemon kills with `on_unwatched: kill`. Not `deleted`: a
// package upgrade replaces the executable of every running service, and the
// refreshed policy no longer lists the old content; killing those would take
// the host's services down (docs/configuration.md).
bool killable(Finding finding);

// The daemon's namespace as the census needs it.
struct MountView {
  std::unordered_map<int, dev_t> mounts;  // mount id -> filesystem
  std::set<dev_t> filesystems;            // every filesystem mounted here
  std::set<dev_t> watched;                // those marked
  std::unordered_map<dev_t, std::string> fs_types;
  static MountView from(const std::vector<MountEntry>& mounts, const std::vector<dev_t>& watched);
};

enum class Placement {
  kNone,       // no executable: a kernel thread, a zombie
  kFileless,   // on no filesystem
  kForeign,    // on a filesystem not mounted here
  kWatched,    // on a watched filesystem
  kUnwatched,  // on a filesystem mounted here but not watched
};

struct Located {
  Placement placement = Placement::kNone;
  bool deleted = false;  // the name ends in " (deleted)"
  dev_t dev = 0;         // the filesystem, when known
  bool dev_known = false;
  std::string fs_type;  // its type, when known
};

inline constexpr std::string_view kDeleted = " (deleted)";

// `their_mounts`: the process's own mountinfo, consulted only when its
// executable's mount is not one of ours (null: unknown).
Located locate(const ProcessFacts& process, const MountView& ours, const std::vector<MountEntry>* their_mounts);

// The policy's verdict on a watched executable (as in enforce mode).
struct Judgement {
  bool denied = false;
  std::string rule;  // "default-deny", "hash-allow:...", ...
  std::string reason;
  std::string sha256;  // hex, empty when not hashed
};

// The finding for a located process, or none. A watched executable needs a
// judgement; without one (no policy loaded, the file could not be read) it
// has no finding.
std::optional<Finding> finding_for(const Located& at, const std::optional<Judgement>& judgement);

}  // namespace tollgate::census
