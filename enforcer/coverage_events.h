// Event-log lines of coverage (docs/events.md): a filesystem marked (or a
// mark that failed), a census finding, a kill.
//
//   log.submit(mark_event(host, fs, "mount"));
//   log.submit(finding_event(host, record, "kill"));
//   log.submit(kill_event(host, record, status));
//
// Pure builders; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "census/record.h"
#include "common/error.h"
#include "enforcer/mount_watcher.h"

namespace tollgate::enforcer {

// `trigger`: "start" (the marks placed at start), "mount" (a filesystem that
// appeared later), "rescan" (a retry).
nlohmann::json mark_event(const std::string& host, const WatchedFilesystem& fs, std::string_view trigger);
// `action`: what on_unwatched does with it: "log", "kill", or "exempt".
nlohmann::json finding_event(const std::string& host, const census::ProcessRecord& record, std::string_view action);
nlohmann::json kill_event(const std::string& host, const census::ProcessRecord& record, const Status& result);

}  // namespace tollgate::enforcer
