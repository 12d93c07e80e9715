#include "tools/admin.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cstdlib>

#include "common/io.h"
#include "common/text.h"
#include "enforcer/config.h"
#include "tools/file_facts.h"

namespace tollgate::tools {

void add_admin_options(CLI::App& app, AdminOptions& options, unsigned which) {
  options.config_option = app.add_option("--config", options.config, "Configuration file")->capture_default_str();
  if (which & kDbOption) app.add_option("--db", options.db, "Policy database (overrides 'database' in the config)");
  if (which & kLogOption) app.add_option("--log", options.log, "Event log (overrides 'event_log' in the config)");
  if (which & kSocketOption)
    app.add_option("--socket", options.socket, "Daemon control socket (overrides 'socket' in the config)");
}

Result<Settings> resolve_settings(const AdminOptions& options) {
  const bool given = options.config_option ? options.config_option->count() > 0
                                           : options.config != enforcer::kDefaultConfigPath;
  std::string explicit_path = given ? options.config : "";
  auto config = enforcer::load_config_or_default(explicit_path, "tollgate");
  if (!config) return std::unexpected(config.error());
  Settings s{.config_path = options.config,
             .config_found = !config->path.empty(),
             .mode = std::string(policy::to_string(config->mode)),
             .database = config->database,
             .public_key = config->public_key,
             .event_log = config->event_log,
             .socket = config->socket,
             .admin_group = config->admin_group,
             .manifest = config->manifest,
             .approvals = config->approvals,
             .signing_key = config->signing_key,
             .state_dir = config->state_dir,
             .must_allow = config->must_allow,
             .max_file_size = config->max_file_size,
             .watch = config->watch,
             .unwatched_exempt = config->unwatched_exempt,
             .census_interval_ms = config->census_interval_ms};
  if (!options.db.empty()) s.database = options.db;
  if (!options.log.empty()) s.event_log = options.log;
  if (!options.socket.empty()) s.socket = options.socket;
  return s;
}

Status check_admin(const Settings& settings, std::string_view command) {
  if (::geteuid() == 0) return {};
  if (settings.admin_group.empty())
    return fail(ErrorCode::kPermission,
                fmt::format("'{}' needs root (no admin_group is configured in {}); run it with sudo", command,
                            settings.config_path));
  std::string why = fmt::format("'{}' needs root or group {}", command, settings.admin_group);
  group grp {};
  group* found = nullptr;
  std::vector<char> buf(16384);
  if (::getgrnam_r(settings.admin_group.c_str(), &grp, buf.data(), buf.size(), &found) != 0 || !found)
    return fail(ErrorCode::kPermission, why + " (the group does not exist)");
  gid_t gid = found->gr_gid;
  if (::getgid() == gid || ::getegid() == gid) return {};
  int n = ::getgroups(0, nullptr);
  std::vector<gid_t> groups(static_cast<size_t>(n > 0 ? n : 0));
  if (n > 0 && ::getgroups(n, groups.data()) == n) {
    for (gid_t g : groups)
      if (g == gid) return {};
  }
  return fail(ErrorCode::kPermission, why);
}

std::string user_name(int64_t uid) {
  if (uid < 0) return {};
  passwd pw {};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found) != 0 || !found) return {};
  return found->pw_name;
}

std::string invoking_user() {
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) return sudo;
  std::string name = user_name(::getuid());
  return name.empty() ? fmt::format("uid {}", ::getuid()) : name;
}

Result<size_t> scan_events(const std::string& path, const std::function<void(policy::Event&&)>& on_event) {
  constexpr size_t kShown = 10;
  size_t problems = 0;
  auto scanned = policy::scan_event_log(path, on_event, [&](policy::ParseProblem&& p) {
    if (problems++ < kShown)
      fmt::print(stderr, "tollgate: {}: skipped malformed event: {}\n", p.where(), p.message);
  });
  if (!scanned) return std::unexpected(scanned.error());
  if (problems > kShown)
    fmt::print(stderr, "tollgate: {}: {} more malformed lines skipped\n", path, problems - kShown);
  return problems;
}

Result<policy::TimeUs> since_cutoff(const std::string& duration) {
  auto d = policy::parse_duration(duration);
  if (!d) return std::unexpected(d.error().with_prefix("--since"));
  return policy::now_us() - static_cast<int64_t>(d->count()) * 1000000;
}

std::string describe_user(const policy::UserCount& user) {
  if (user.name.empty()) return fmt::format("uid {}", user.uid);
  return fmt::format("{} ({})", user.name, user.uid);
}

Result<std::shared_ptr<const hashdb::PolicyStore>> open_policy(const Settings& settings, const std::string& pubkey) {
  std::string key_path = pubkey.empty() ? settings.public_key : pubkey;
  std::optional<hashdb::PublicKey> key;
  if (!key_path.empty()) {
    auto loaded = hashdb::load_public_key(key_path);
    if (!loaded) return std::unexpected(loaded.error());
    key = std::move(*loaded);
  }
  return hashdb::PolicyStore::open(settings.database, {.public_key = key ? &*key : nullptr});
}

Result<policy::ReplayResult> replay_history(const std::string& log_path, const hashdb::RuleSet& rules,
                                            std::optional<policy::TimeUs> since_us) {
  policy::ReplayHistory history({.since_us = since_us});
  auto scanned = scan_events(log_path, [&](policy::Event&& e) { history.add(e); });
  if (!scanned) return std::unexpected(scanned.error());
  auto facts = [&rules](const std::string& path, const std::optional<hashdb::Sha256>& sha) {
    return recorded_facts(path, sha, rules);
  };
  return std::move(history).decide(rules, facts);
}

std::string join_launchers(const std::vector<policy::LauncherCount>& launchers) {
  std::string out;
  for (const auto& l : launchers) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", printable(l.exe), l.count);
  return out.empty() ? "-" : out;
}

std::string join_users(const std::vector<policy::UserCount>& users) {
  std::string out;
  for (const auto& u : users) out += fmt::format("{}{} x{}", out.empty() ? "" : ", ", describe_user(u), u.count);
  return out.empty() ? "-" : out;
}

std::string denial_split(const policy::BinaryReport& b) {
  if (b.denied && b.would_deny) return fmt::format("{} denied, {} would-deny", b.denied, b.would_deny);
  return b.denied ? "denied" : "would-deny";
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

Status append_event(const std::string& path, const nlohmann::json& event) {
  auto fd = open_regular(path, O_WRONLY | O_APPEND | O_CREAT, 0640);
  if (!fd) return std::unexpected(fd.error());
  return write_all(fd->get(), event.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + "\n", path);
}

void print_would_deny(const std::vector<policy::ReplayItem>& items) {
  for (const auto& item : items) {
    fmt::print("  {}\n", printable(item.path));
    fmt::print("    sha256 {}, seen {} times, last {}{}\n", item.sha256.empty() ? "(unknown)" : item.sha256,
               item.count, item.last_seen, item.last_exe.empty() ? "" : ", launched by " + printable(item.last_exe));
    fmt::print("    {}: {}\n", printable(item.decision.rule), printable(item.decision.reason));
  }
}

}  // namespace tollgate::tools
