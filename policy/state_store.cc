#include "policy/state_store.h"

#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/io.h"
#include "common/time.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"

namespace tollgate::policy {
namespace {

constexpr int kFormat = 1;

Error corrupt(const std::string& path, std::string_view why) {
  return Error(ErrorCode::kCorrupt, fmt::format("{}: corrupt state file: {}", path, why));
}

// A small JSON object file of this version's format: nullopt when missing.
Result<std::optional<nlohmann::json>> load_object(const std::string& path, size_t max_bytes) {
  auto text = read_file(path, max_bytes);
  if (!text) {
    if (text.error().code() == ErrorCode::kNotFound) return std::optional<nlohmann::json>();
    if (text.error().code() == ErrorCode::kInvalidInput) return std::unexpected(corrupt(path, text.error().message()));
    return std::unexpected(text.error());
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::unexpected(corrupt(path, "not a JSON object"));
  if (!j.contains("format") || j["format"] != kFormat)
    return std::unexpected(corrupt(path, fmt::format("\"format\" is not {}", kFormat)));
  return std::optional<nlohmann::json>(std::move(j));
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno(errno, path, "cannot remove");
  return fsync_parent_dir(path);
}

}  // namespace

Status StateStore::prepare() const {
  if (dir_.empty() || dir_.front() != '/')
    return fail(ErrorCode::kInvalidInput, fmt::format("state_dir '{}' is not an absolute path", dir_));
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno(errno, dir_, "cannot create state_dir");
  struct stat st {};
  if (::lstat(dir_.c_str(), &st) != 0) return fail_errno(errno, dir_, "cannot stat state_dir");
  if (!S_ISDIR(st.st_mode))
    return fail(ErrorCode::kPermission, dir_ + ": state_dir is not a directory (a symlink is refused)");
  if (st.st_uid != ::geteuid())
    return fail(ErrorCode::kPermission, fmt::format("{}: state_dir is owned by uid {}, not by uid {} (the daemon)",
                                                    dir_, st.st_uid, ::geteuid()));
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return fail(ErrorCode::kPermission,
                fmt::format("{}: state_dir is writable by group or others (mode {:04o}); chmod 0700 it", dir_,
                            st.st_mode & 07777));
  return {};
}

Result<std::optional<Floor>> StateStore::load() const {
  const std::string path = state_file();
  auto j = load_object(path, 64 * 1024);
  if (!j || !*j) return j ? Result<std::optional<Floor>>(std::nullopt) : std::unexpected(j.error());
  const auto& o = **j;
  if (!o.contains("generation") || !o["generation"].is_number_unsigned())
    return std::unexpected(corrupt(path, "\"generation\" is not a non-negative integer"));
  if (!o.contains("content_digest") || !o["content_digest"].is_string() ||
      !hashdb::sha256_from_hex(o["content_digest"].get<std::string>()))
    return std::unexpected(corrupt(path, "\"content_digest\" is not 64 hex digits"));
  return Floor{o["generation"].get<uint64_t>(), o["content_digest"].get<std::string>()};
}

Status StateStore::save(const Floor& floor, const std::string& source) const {
  nlohmann::json j = {{"format", kFormat},
                      {"generation", floor.generation},
                      {"content_digest", floor.content_digest},
                      {"source", source},
                      {"accepted_at", utc_now_rfc3339()}};
  return write_file_atomic(state_file(), j.dump(2) + "\n", 0600);
}

Status StateStore::save_lockout_candidates(const std::vector<std::string>& paths) const {
  return write_file_atomic(dir_ + "/lockout.json", nlohmann::json(paths).dump() + "\n", 0600);
}

std::vector<std::string> StateStore::load_lockout_candidates() const {
  auto text = read_file(dir_ + "/lockout.json", 1 << 20);
  if (!text) return {};
  auto j = nlohmann::json::parse(*text, nullptr, false);
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& p : j)
    if (p.is_string()) out.push_back(p.get<std::string>());
  return out;
}

Result<std::optional<PendingTrust>> StateStore::load_pending() const {
  const std::string path = pending_file();
  auto j = load_object(path, 256u << 20);
  if (!j || !*j) return j ? Result<std::optional<PendingTrust>>(std::nullopt) : std::unexpected(j.error());
  const auto& o = **j;
  if (!o.contains("expires_at") || !o["expires_at"].is_number_integer())
    return std::unexpected(corrupt(path, "\"expires_at\" is not an integer"));
  if (!o.contains("packages")) return std::unexpected(corrupt(path, "no \"packages\""));
  auto files = pending_files_from_json(o["packages"], path);
  if (!files) return std::unexpected(corrupt(path, files.error().message()));
  return PendingTrust{std::move(*files), o["expires_at"].get<int64_t>()};
}

Status StateStore::save_pending(const PendingTrust& set) const {
  if (set.empty()) return remove_file(pending_file());
  nlohmann::json j = {{"format", kFormat},
                      {"expires_at", set.expires_at},
                      {"expires", format_rfc3339(set.expires_at * 1000000)},
                      {"packages", pending_files_to_json(set.files)}};
  return write_file_atomic(pending_file(), j.dump() + "\n", 0600);
}

Result<std::optional<TimedAudit>> StateStore::load_timed_audit() const {
  const std::string path = timed_audit_file();
  auto j = load_object(path, 64 * 1024);
  if (!j || !*j) return j ? Result<std::optional<TimedAudit>>(std::nullopt) : std::unexpected(j.error());
  const auto& o = **j;
  if (!o.contains("until") || !o["until"].is_number_integer())
    return std::unexpected(corrupt(path, "\"until\" is not an integer"));
  TimedAudit w{o["until"].get<int64_t>(), {}};
  if (o.contains("by") && o["by"].is_string()) w.by = o["by"].get<std::string>();
  return w;
}

Status StateStore::save_timed_audit(const std::optional<TimedAudit>& window) const {
  if (!window) return remove_file(timed_audit_file());
  nlohmann::json j = {{"format", kFormat},
                      {"until", window->until},
                      {"until_utc", format_rfc3339(window->until * 1000000)},
                      {"by", window->by}};
  return write_file_atomic(timed_audit_file(), j.dump(2) + "\n", 0600);
}

Status StateStore::set_aside() const {
  const std::string from = state_file(), to = from + ".corrupt";
  if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
    return fail_errno(errno, from, "cannot move the corrupt state file aside");
  return {};
}

}  // namespace tollgate::policy
