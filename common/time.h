// Time as Tollgate writes and reads it: the one RFC 3339 format/parse pair
// and the duration syntax of --since. Every timestamp in the event log, the
// policy database's meta, state.json and the manifests' `expires:` goes
// through here.
//
//   TimeUs t = now_us();
//   std::string ts = format_rfc3339_us(t);        // "2026-12-01T03:44:35.123456Z" (event log)
//   std::string at = format_rfc3339(t);           // "2026-12-01T03:44:35Z"
//   auto back = parse_rfc3339_us(ts);             // == t
//   auto day = parse_rfc3339("2027-01-01");       // seconds; a bare date is midnight UTC
//   auto window = parse_duration("7d");           // 604800 s
//
// Built on std::chrono (sys_days, year_month_day): no hand-written calendar
// arithmetic. Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace tollgate {

// Microseconds since the Unix epoch (UTC).
using TimeUs = int64_t;

TimeUs now_us();
TimeUs to_time_us(std::chrono::system_clock::time_point t);

// RFC 3339 UTC with seconds: "2026-12-01T03:44:35Z" (a fraction is dropped,
// rounding towards the past).
std::string format_rfc3339(TimeUs t);
// RFC 3339 UTC with microseconds: "2026-12-01T03:44:35.123456Z".
std::string format_rfc3339_us(TimeUs t);
std::string format_rfc3339_us(std::chrono::system_clock::time_point t);
// format_rfc3339(now_us()).
std::string utc_now_rfc3339();

// Parses "2026-12-01T03:44:35Z", "...35.123456Z" (any number of fraction
// digits; beyond microseconds they are dropped), "...35+01:00" (the offset's
// hours 00-23, minutes 00-59), a lower-case 't'/'z' or a space for the 'T'.
// The date must exist (no February 30th), hours 00-23, minutes 00-59,
// seconds 00-60. With `date_only_allowed`, a bare "2026-12-01" is midnight
// UTC. Anything else, including trailing text, is nullopt.
std::optional<TimeUs> parse_rfc3339_us(std::string_view text, bool date_only_allowed = false);
// The same in whole seconds (the fraction dropped, rounding towards the
// past); a bare date is accepted unless `date_only_allowed` is false. The
// manifests' `expires:` and `approved_at:`.
std::optional<int64_t> parse_rfc3339(std::string_view text, bool date_only_allowed = true);

// "30m", "24h", "7d", "90s", "2w" (a bare number is seconds; "min" = "m").
// Rejects (InvalidInput) negative, empty, overflowing or unknown units with
// "invalid duration 'TEXT': WHY (use e.g. 30m, 24h, 7d)".
Result<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace tollgate
