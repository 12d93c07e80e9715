#include "eventlog/schema.h"

#include <array>
#include <utility>

namespace tollgate::eventlog {
namespace {

// The names as written in the log (docs/events.md): one table per enum, so
// to_string and parse cannot disagree.
constexpr std::array<std::pair<EventType, std::string_view>, 13> kTypes = {{
    {EventType::kDecision, "decision"},
    {EventType::kStart, "start"},
    {EventType::kReload, "reload"},
    {EventType::kMode, "mode"},
    {EventType::kInstall, "install"},
    {EventType::kRollback, "rollback"},
    {EventType::kOverflow, "overflow"},
    {EventType::kReadError, "read_error"},
    {EventType::kScan, "scan"},
    {EventType::kPendingTrust, "pending_trust"},
    {EventType::kMark, "mark"},
    {EventType::kFinding, "finding"},
    {EventType::kKill, "kill"},
}};

template <typename E, size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [v, name] : table)
    if (v == value) return name;
  return table.front().second;
}

template <typename E, size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view name) {
  for (const auto& [v, n] : table)
    if (n == name) return v;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(EventType type) { return name_of(kTypes, type); }
std::optional<EventType> parse_event_type(std::string_view name) { return value_of(kTypes, name); }

}  // namespace tollgate::eventlog
