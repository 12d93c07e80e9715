#include "tools/watched.h"

#include <sys/sysmacros.h>

#include <charconv>

#include "enforcer/control.h"

namespace tollgate::tools {

std::vector<dev_t> marked_devices(const nlohmann::json& status) {
  std::vector<dev_t> out;
  if (!status.contains("filesystems") || !status["filesystems"].is_array()) return out;
  for (const auto& fs : status["filesystems"]) {
    if (!fs.is_object() || !fs.value("marked", false)) continue;
    const std::string dev = fs.value("device", "");
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
  auto reply = enforcer::control_request(settings.socket, {{"cmd", "status"}}, 3000);
  if (reply && reply->value("ok", false) && reply->contains("filesystems")) {
    w.status = *reply;
    w.devices = marked_devices(*reply);
    w.from_daemon = true;
    return w;
  }
  if (reply && reply->value("ok", false)) w.status = *reply;
  w.note = reply ? "tollgated did not report its filesystems; judging by the config's watch: list"
                 : "tollgated does not answer (" + reply.error().message() + "); judging by the config's watch: list";
  for (const auto& fs : census::select_watched(mounts, census::resolve_watch_prefixes(settings.watch)))
    w.devices.push_back(fs.dev);
  return w;
}

}  // namespace tollgate::tools
