// Pending trust from the CLI side (docs/upgrades.md): which packages the
// policy trusts through dpkg, the pending set of a list of .deb files, and
// handing it to tollgated (or, when it is not running, to state_dir, where
// its next start picks it up). `tollgate trust-debs` (apt's
// DPkg::Pre-Install-Pkgs hook) and `tollgate approve --deb` use it.
//
//   auto scope = dpkg_scope(settings);       // nullopt: the policy does not trust dpkg
//   auto deb = pending_for_deb("/var/cache/apt/archives/bash_5.2-1_amd64.deb", **scope);
//   auto done = hand_over(settings, std::move(deb->files), "apt-hook");
//
// Not thread-safe (CLI, single thread).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "config/config.h"
#include "control/protocol.h"
#include "policy/pending_trust.h"
#include "tools/deb_archive.h"

namespace tollgate::tools {

// The allow entries `package_manager: dpkg` of the configured manifest.
struct DpkgScope {
  bool all = false;                   // an entry without `packages:`
  std::vector<std::string> packages;  // else these ("bash", "libc6:amd64")
  std::string manifest;               // where they were read
  bool covers(const DebInfo& deb) const;
};

// nullopt when the manifest has no unexpired allow entry `package_manager:
// dpkg` (then pending trust does not apply); an error when the manifest
// cannot be read or is invalid.
Result<std::optional<DpkgScope>> dpkg_scope(const config::Config& settings);

// One package's pending trust: the files the dpkg trust source would cover
// (every regular file that is executable by mode, ELF, a script or a shared
// library: the source's match) and its maintainer scripts (path
// "control:postinst" ...), labelled with the package and version. A
// package outside `scope` is read no further than its control archive:
// `covered` false, `files` empty.
struct DebPending {
  DebInfo info;
  bool covered = false;
  std::vector<policy::PendingFile> files;
};
Result<DebPending> pending_for_deb(const std::string& deb, const DpkgScope& scope);

struct HandOver {
  bool daemon = false;  // true: tollgated took it; false: stored in state_dir for its next start
  control::PendingReply reply;
};
// To the running tollgated (trust_pending); when none is running, merged
// into state_dir's pending-trust.json (root only) and logged in the event log.
Result<HandOver> hand_over(const config::Config& settings, std::vector<policy::PendingFile> files,
                           const std::string& by);

// The .deb files in what apt writes to a DPkg::Pre-Install-Pkgs hook: with
// protocol version 2 or 3 ("VERSION N", the configuration, a blank line,
// then one line per package whose last field is the .deb path, or
// **CONFIGURE** / **REMOVE**), or version 1 (one path per line).
std::vector<std::string> debs_from_apt_hook(std::string_view input);

// The whole of `trust-debs` / `approve --deb`: the scope, every package
// (one line per bad .deb, naming it), the hand-over, a summary on stdout.
// Returns the exit code. `apt_hook`: failures are reported loudly (stderr
// and syslog, authpriv warning) but the return is 0: apt goes on, and
// enforcement with it (docs/upgrades.md).
int trust_debs(const config::Config& settings, const std::vector<std::string>& debs, const std::string& by,
               bool apt_hook);

}  // namespace tollgate::tools
