#include "enforcer/coverage_events.h"

#include <chrono>

#include "census/mounts.h"
#include "enforcer/events.h"

namespace tollgate::enforcer {

using nlohmann::json;

namespace {

json base(const std::string& host, const char* type) {
  return json{{"ts", rfc3339_us(std::chrono::system_clock::now())}, {"host", host}, {"type", type}};
}

}  // namespace

json mark_event(const std::string& host, const WatchedFilesystem& fs, std::string_view trigger) {
  json j = base(host, "mark");
  j["device"] = census::device_name(fs.dev);
  j["fs_type"] = fs.fs_type;
  j["source"] = fs.source;
  j["mount_points"] = fs.mount_points;
  j["trigger"] = trigger;
  j["ok"] = fs.marked;
  j["error"] = fs.error;
  return j;
}

json finding_event(const std::string& host, const census::ProcessRecord& record, std::string_view action) {
  json j = base(host, "finding");
  j.update(census::to_json(record));
  j["action"] = action;
  return j;
}

json kill_event(const std::string& host, const census::ProcessRecord& record, const Status& result) {
  json j = base(host, "kill");
  j["pid"] = record.id.pid;
  j["finding"] = census::to_string(record.finding);
  j["exe"] = record.exe;
  j["uid"] = record.uid;
  j["signal"] = "SIGKILL";
  j["ok"] = result.has_value();
  j["error"] = result ? std::string() : result.error().message();
  return j;
}

}  // namespace tollgate::enforcer
