#include "tools/watched.h"

#include <sys/sysmacros.h>

#include <charconv>

#include "control/client.h"

namespace tollgate::tools {

std::vector<dev_t> marked_devices(const control::StatusReply& status) {
  std::vector<dev_t> out;
  for (const auto& fs : status.filesystems) {
    if (!fs.marked) continue;
    const std::string& dev = fs.device;
    unsigned major = 0, minor = 0;
    auto colon = dev.find(':');
    if (colon == std::string::npos) continue;
    auto a = std::from_chars(dev.data(), dev.data() + colon, major);
    auto b = std::from_chars(dev.data() + colon + 1, dev.data() + dev.size(), minor);
    if (a.ec == std::errc() && b.ec == std::errc()) out.push_back(::makedev(major, minor));
  }
  return out;
}

Watched watched_filesystems(const Settings& settings, const std::vector<census::MountEntry>& mounts) {
  Watched w;
  auto answer = control::Client(settings.socket, 3000).status();
  if (!answer) {
    w.daemon_error = answer.error().message();
    w.daemon_refused = answer.error().code() == ErrorCode::kPermission;
    w.note = "tollgated does not answer (" + w.daemon_error + "); judging by the config's watch: list";
  } else if (!*answer) {
    w.daemon_error = answer->error().reason;
    w.daemon_refused = true;
    w.note = "tollgated refused us (" + w.daemon_error + "); judging by the config's watch: list";
  } else {
    w.status = std::move(**answer);
    if (w.status->raw.contains("filesystems")) {
      w.devices = marked_devices(*w.status);
      w.from_daemon = true;
      return w;
    }
    w.note = "tollgated did not report its filesystems; judging by the config's watch: list";
  }
  for (const auto& fs : census::select_watched(mounts, census::resolve_watch_prefixes(settings.watch)))
    w.devices.push_back(fs.dev);
  return w;
}

}  // namespace tollgate::tools
