#include "tools/admin.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "common/host.h"
#include "common/io.h"
#include "common/text.h"
#include "config/config.h"
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
  const bool given =
      options.config_option ? options.config_option->count() > 0 : options.config != config::kDefaultConfigPath;
  std::string explicit_path = given ? options.config : "";
  auto config = config::load_config_or_default(explicit_path, "tollgate");
  if (!config) return std::unexpected(config.error());
  Settings s = std::move(*config);
  if (!options.db.empty()) s.database = options.db;
  if (!options.log.empty()) s.event_log = options.log;
  if (!options.socket.empty()) s.socket = options.socket;
  return s;
}

int ConfiguredCommand::prepare() {
  auto resolved = resolve_settings(options_);
  if (!resolved) return report(resolved.error());
  settings_ = std::move(*resolved);
  return kExitOk;
}

std::string user_name(int64_t uid) {
  if (uid < 0) return {};
  passwd pw{};
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

Result<size_t> scan_events(const std::string& path, const std::function<void(eventlog::Event&&)>& on_event) {
  constexpr size_t kShown = 10;
  size_t problems = 0;
  auto scanned = eventlog::scan_event_log(path, on_event, [&](eventlog::ParseProblem&& p) {
    if (problems++ < kShown) fmt::print(stderr, "tollgate: {}: skipped malformed event: {}\n", p.where(), p.message);
  });
  if (!scanned) return std::unexpected(scanned.error());
  if (problems > kShown) fmt::print(stderr, "tollgate: {}: {} more malformed lines skipped\n", path, problems - kShown);
  return problems;
}

Result<TimeUs> since_cutoff(const std::string& duration) {
  auto d = parse_duration(duration);
  if (!d) return std::unexpected(d.error().with_prefix("--since"));
  return now_us() - static_cast<int64_t>(d->count()) * 1000000;
}

Result<std::optional<TimeUs>> since_window(const std::string& duration) {
  if (duration == "all") return std::optional<TimeUs>();
  return since_cutoff(duration);
}

int usage_error(const Error& error) {
  fmt::print(stderr, "tollgate: {}\n", error.message());
  return kExitUsage;
}

std::string describe_user(const eventlog::UserCount& user) {
  if (user.name.empty()) return fmt::format("uid {}", user.uid);
  return fmt::format("{} ({})", user.name, user.uid);
}

Result<std::optional<hashdb::PublicKey>> load_pinned_key(const std::string& path) {
  if (path.empty()) return std::optional<hashdb::PublicKey>();
  auto key = hashdb::load_public_key(path);
  if (!key) return std::unexpected(key.error());
  return std::optional<hashdb::PublicKey>(std::move(*key));
}

Result<std::shared_ptr<const hashdb::PolicyStore>> open_policy(const Settings& settings, const std::string& pubkey) {
  auto key = load_pinned_key(pubkey.empty() ? settings.public_key : pubkey);
  if (!key) return std::unexpected(key.error());
  return hashdb::PolicyStore::open(settings.database, {.public_key = *key ? &**key : nullptr});
}

Result<eventlog::ReplayResult> replay_history(const std::string& log_path, const hashdb::RuleSet& rules,
                                              std::optional<TimeUs> since_us) {
  eventlog::ReplayHistory history({.since_us = since_us});
  auto scanned = scan_events(log_path, [&](eventlog::Event&& e) { history.add(e); });
  if (!scanned) return std::unexpected(scanned.error());
  auto facts = [&rules](const std::string& path, const std::optional<hashdb::Sha256>& sha) {
    return recorded_facts(path, sha, rules);
  };
  return std::move(history).decide(rules, facts);
}

std::string join_launchers(const std::vector<eventlog::LauncherCount>& launchers) {
  std::string out;
  for (const auto& l : launchers) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", printable(l.exe), l.count);
  return out.empty() ? "-" : out;
}

std::string join_users(const std::vector<eventlog::UserCount>& users) {
  std::string out;
  for (const auto& u : users) out += fmt::format("{}{} x{}", out.empty() ? "" : ", ", describe_user(u), u.count);
  return out.empty() ? "-" : out;
}

std::string denial_split(const eventlog::BinaryReport& b) {
  if (b.denied && b.would_deny) return fmt::format("{} denied, {} would-deny", b.denied, b.would_deny);
  return b.denied ? "denied" : "would-deny";
}

void print_would_deny(const std::vector<eventlog::ReplayItem>& items) {
  for (const auto& item : items) {
    fmt::print("  {}\n", printable(item.path));
    fmt::print("    sha256 {}, seen {} times, last {}{}\n", item.sha256.empty() ? "(unknown)" : item.sha256, item.count,
               item.last_seen, item.last_exe.empty() ? "" : ", launched by " + printable(item.last_exe));
    fmt::print("    {}: {}\n", printable(item.decision.rule), printable(item.decision.reason));
  }
}

}  // namespace tollgate::tools
