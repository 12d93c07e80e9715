#include "common/time.h"

#include <charconv>
#include <cstdio>
#include <limits>

namespace tollgate {
namespace {

using namespace std::chrono;

constexpr int64_t kUsPerSecond = 1'000'000;

// n decimal digits at s[pos]; false when they are not all there.
bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

// Floor division: -1 µs is in second -1, not second 0.
int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string format(TimeUs t, bool micros) {
  const sys_time<microseconds> tp{microseconds(t)};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> hms{tp - day};
  // std::format is not in g++ 12's library; snprintf keeps common free of fmt.
  char buf[40];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02lld", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                        static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                        static_cast<long long>(hms.seconds().count()));
  std::string out(buf, static_cast<size_t>(n));
  if (micros) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(hms.subseconds().count()));
    out += buf;
  }
  return out + "Z";
}

}  // namespace

TimeUs now_us() { return to_time_us(system_clock::now()); }

TimeUs to_time_us(system_clock::time_point t) { return duration_cast<microseconds>(t.time_since_epoch()).count(); }

std::string format_rfc3339(TimeUs t) { return format(t, false); }
std::string format_rfc3339_us(TimeUs t) { return format(t, true); }
std::string format_rfc3339_us(system_clock::time_point t) { return format(to_time_us(t), true); }
std::string utc_now_rfc3339() { return format_rfc3339(now_us()); }

std::optional<TimeUs> parse_rfc3339_us(std::string_view s, bool date_only_allowed) {
  int y = 0, mo = 0, d = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' || !digits(s, 8, 2, d))
    return std::nullopt;
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  const int64_t midnight_us = duration_cast<microseconds>(sys_days(ymd).time_since_epoch()).count();
  if (s.size() == 10) return date_only_allowed ? std::optional<TimeUs>(midnight_us) : std::nullopt;

  int h = 0, mi = 0, sec = 0;
  if (s.size() < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  int64_t frac_us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t scale = 100000;
    const size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      frac_us += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59)
      return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return std::nullopt;  // the offset is required
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t seconds = h * 3600 + mi * 60 + sec - offset_s;
  return midnight_us + seconds * kUsPerSecond + frac_us;
}

std::optional<int64_t> parse_rfc3339(std::string_view text, bool date_only_allowed) {
  auto us = parse_rfc3339_us(text, date_only_allowed);
  if (!us) return std::nullopt;
  return floor_div(*us, kUsPerSecond);
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::kInvalidInput,
                "invalid duration '" + std::string(text) + "': " + std::string(why) + " (use e.g. 30m, 24h, 7d)");
  };
  if (text.empty()) return bad("empty");
  size_t end = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  if (end == 0) return bad("it must start with a number");
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (ec != std::errc() || ptr != text.data() + end) return bad("number out of range");
  const std::string_view unit = text.substr(end);
  int64_t mult = 0;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "m" || unit == "min") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  else if (unit == "w") mult = 7 * 86400;
  else return bad("unknown unit '" + std::string(unit) + "'");
  if (value > std::numeric_limits<int64_t>::max() / mult / kUsPerSecond) return bad("too long");
  return std::chrono::seconds(value * mult);
}

}  // namespace tollgate
