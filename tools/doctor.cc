#include "tools/doctor.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <sstream>

#include "common/io.h"
#include "policy/facts.h"
#include "tools/watched.h"

namespace tollgate::tools {
namespace {

using nlohmann::json;

std::optional<std::string> sysctl(const HostFacts& f, const std::string& name) {
  auto it = f.sysctls.find(name);
  return it == f.sysctls.end() ? std::nullopt : it->second;
}

std::optional<long> number(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  long n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc()) return std::nullopt;
  return n;
}

Check ok(std::string id, std::string why, std::string hole = "") {
  return {.id = std::move(id), .status = Severity::kOk, .why = std::move(why), .hole = std::move(hole)};
}

Check user_namespaces(const HostFacts& f) {
  const std::string hole = "user namespaces";
  if (number(sysctl(f, "kernel.apparmor_restrict_unprivileged_userns")).value_or(0) == 1)
    return ok("user-namespaces",
              "AppArmor restricts unprivileged user namespaces "
              "(kernel.apparmor_restrict_unprivileged_userns = 1)",
              hole);
  const std::string why_open =
      "unprivileged users can create user and mount namespaces and mount filesystems there that no mark reaches "
      "(`unshare -Urm`, then a tmpfs); the census only finds what runs from them, after the fact";
  if (auto clone = number(sysctl(f, "kernel.unprivileged_userns_clone"))) {
    if (*clone == 0) return ok("user-namespaces", "kernel.unprivileged_userns_clone = 0", hole);
    return {.id = "user-namespaces",
            .status = Severity::kWarn,
            .why = why_open + " (kernel.unprivileged_userns_clone = 1)",
            .fix =
                "sysctl kernel.unprivileged_userns_clone=0 (unprivileged users only; root's services keep "
                "theirs)",
            .sysctl = SysctlFix{"kernel.unprivileged_userns_clone", "0"},
            .hole = hole};
  }
  auto max = number(sysctl(f, "user.max_user_namespaces"));
  if (!max) return ok("user-namespaces", "this kernel has no user namespaces", hole);
  if (*max == 0) return ok("user-namespaces", "user.max_user_namespaces = 0", hole);
  // Without Debian's knob the only switch is for everyone, root included:
  // printed, not applied by --fix.
  return {.id = "user-namespaces",
          .status = Severity::kWarn,
          .why = why_open + fmt::format(" (user.max_user_namespaces = {}; this kernel has no "
                                        "kernel.unprivileged_userns_clone)",
                                        *max),
          .fix =
              "sysctl user.max_user_namespaces=0, by hand: it stops root's services from using user namespaces "
              "too (systemd PrivateUsers=, rootless containers), so --fix does not apply it",
          .hole = hole};
}

Check memfd(const HostFacts& f) {
  const std::string hole = "memfd exec";
  auto v = number(sysctl(f, "vm.memfd_noexec"));
  if (!v)
    return {.id = "memfd",
            .status = Severity::kWarn,
            .why = fmt::format("kernel {} has no vm.memfd_noexec (added in 6.3): any process can run a memfd "
                               "(memfd_create + fexecve) and no mark sees it; what remains is the census, which "
                               "finds such processes every census_interval_ms",
                               f.kernel_release.empty() ? "?" : f.kernel_release),
            .fix =
                "a kernel 6.3 or later (Debian 12: linux-image-amd64 from bookworm-backports), then "
                "vm.memfd_noexec=2",
            .hole = hole};
  if (*v >= 2) return ok("memfd", "vm.memfd_noexec = 2: no executable memfd can be created", hole);
  return {.id = "memfd",
          .status = Severity::kWarn,
          .why = fmt::format("vm.memfd_noexec = {}: any process can run a memfd (memfd_create + fexecve) and no "
                             "mark sees it; the census finds it after the fact",
                             *v),
          .fix =
              "sysctl vm.memfd_noexec=2 (programs that execute memfds, e.g. some container runtimes' "
              "self-protection, must then use files)",
          .sysctl = SysctlFix{"vm.memfd_noexec", "2"},
          .hole = hole};
}

Check unwatched(const HostFacts& f) {
  const std::string hole = "unwatched filesystems";
  std::vector<std::string> open;
  std::vector<dev_t> seen;
  for (const auto& m : f.mounts) {
    if (!census::holds_executables(m.fs_type) || m.noexec) continue;
    if (std::find(f.watched.begin(), f.watched.end(), m.dev) != f.watched.end()) continue;
    if (std::find(seen.begin(), seen.end(), m.dev) != seen.end()) continue;
    seen.push_back(m.dev);
    open.push_back(fmt::format("{} ({})", m.mount_point, m.fs_type));
  }
  const std::string whose = f.watched_from_daemon ? "tollgated watches" : "the config's watch: selects";
  if (open.empty()) return ok("watched-filesystems", "every filesystem mounted with exec here is one " + whose, hole);
  std::string list;
  for (size_t i = 0; i < open.size() && i < 8; ++i) list += (i ? ", " : "") + open[i];
  if (open.size() > 8) list += fmt::format(" and {} more", open.size() - 8);
  return {.id = "watched-filesystems",
          .status = Severity::kWarn,
          .why = fmt::format("{} filesystem(s) mounted with exec are not among those {}: {}; nothing run from them "
                             "is decided",
                             open.size(), whose, list),
          .fix =
              "watch: auto in tollgate.yaml (every filesystem), or add their mount points to watch:, then restart "
              "tollgated",
          .hole = hole};
}

// What a temporary directory's fstab line looks like.
std::string fstab_line(const std::string& path) {
  if (path == "/var/tmp") return "/var/tmp /var/tmp none rw,bind,nosuid,nodev,noexec 0 0";
  if (path == "/tmp") return "tmpfs /tmp tmpfs rw,nosuid,nodev,noexec,mode=1777 0 0";
  return fmt::format("tmpfs {} tmpfs rw,nosuid,nodev,noexec 0 0", path);
}

Check noexec(const HostFacts& f, const std::string& path) {
  const std::string id = "noexec:" + path;
  const census::MountEntry* m = census::holding_mount(f.mounts, path);
  if (!m) return {.id = id, .status = Severity::kInfo, .why = path + ": not in the mount table"};
  if (m->mount_point == path && m->noexec) return ok(id, path + " is mounted noexec");
  const std::string why =
      m->mount_point == path
          ? fmt::format(
                "{} is mounted without noexec: anyone can write there and then run it through ld.so or as "
                "a library, which coverage: exec does not decide",
                path)
          : fmt::format(
                "{} has no mount of its own (it is on {}), so it cannot be noexec: anyone can write there "
                "and then run it through ld.so or as a library, which coverage: exec does not decide",
                path, m->mount_point);
  return {.id = id,
          .status = Severity::kWarn,
          .why = why,
          .fix = fmt::format("add to /etc/fstab: \"{}\", then at a quiet moment: {}", fstab_line(path),
                             m->mount_point == path ? "mount -o remount,noexec " + path : "mount " + path)};
}

Check ptrace(const HostFacts& f) {
  auto v = number(sysctl(f, "kernel.yama.ptrace_scope"));
  if (!v)
    return {.id = "ptrace",
            .status = Severity::kWarn,
            .why =
                "no Yama LSM (kernel.yama.ptrace_scope is missing): a process can ptrace every other process of "
                "its user and run code inside an approved program",
            .fix = "a kernel with Yama enabled (Debian's is), then kernel.yama.ptrace_scope=2"};
  if (*v >= 2) return ok("ptrace", fmt::format("kernel.yama.ptrace_scope = {}: only root can ptrace", *v));
  return {.id = "ptrace",
          .status = Severity::kWarn,
          .why = fmt::format("kernel.yama.ptrace_scope = {}: a process can ptrace {}, so a user can start an approved "
                             "interpreter and inject code into it",
                             *v, *v == 0 ? "every other process of its user" : "its own children"),
          .fix = "sysctl kernel.yama.ptrace_scope=2 (only root may attach: debuggers and strace need root then)",
          .sysctl = SysctlFix{"kernel.yama.ptrace_scope", "2"}};
}

Check file_check(const FileFact& file) {
  const std::string id = "file:" + file.role;
  if (!file.error.empty()) return {.id = id, .status = Severity::kInfo, .why = file.error};
  if (!file.exists)
    return {.id = id, .status = Severity::kInfo, .why = fmt::format("{} {}: not present", file.role, file.path)};
  std::string why_not;
  if (!policy::chain_is_safe(file.chain, &why_not))
    return {.id = id,
            .status = Severity::kFail,
            .why = fmt::format("{} {} can be changed by a user other than root: {}", file.role, file.path, why_not),
            .fix = fmt::format("chown root:root and chmod go-w {} and each directory above it", file.path)};
  if (file.secret && (file.mode & 077))
    return {.id = id,
            .status = Severity::kFail,
            .why = fmt::format("{} {} is readable by group or others (mode {:04o})", file.role, file.path,
                               file.mode & 07777),
            .fix = fmt::format("chmod 0600 {}", file.path)};
  return ok(id, fmt::format("{} {}: root-owned, not writable by others", file.role, file.path));
}

std::vector<Check> daemon_checks(const HostFacts& f) {
  std::vector<Check> out;
  if (!f.daemon) {
    if (f.daemon_refused)
      out.push_back({.id = "daemon",
                     .status = Severity::kInfo,
                     .why = "tollgated runs but refused to answer us (" + f.daemon_error + "); run doctor as root"});
    else
      out.push_back({.id = "daemon",
                     .status = Severity::kFail,
                     .why = "tollgated is not running (" + f.daemon_error + "): nothing is decided",
                     .fix = "systemctl enable --now tollgated"});
    return out;
  }
  const control::StatusReply& s = *f.daemon;
  const std::string mode = s.mode ? std::string(policy::to_string(*s.mode)) : "?";
  if (s.health.status == "DEGRADED")
    out.push_back({.id = "daemon",
                   .status = Severity::kFail,
                   .why = "tollgated is DEGRADED: " + (s.health.reason.empty() ? "?" : s.health.reason),
                   .fix = "tollgate status, then fix what it names"});
  else if (mode != "enforce")
    out.push_back({.id = "daemon",
                   .status = Severity::kWarn,
                   .why = "tollgated runs in " + mode + " mode: nothing is denied",
                   .fix = "tollgate report, approve what is legitimate, then tollgate mode enforce"});
  else out.push_back(ok("daemon", "tollgated runs in enforce mode"));
  for (const auto& fs : s.filesystems)
    if (!fs.marked)
      out.push_back({.id = "mark:" + fs.device,
                     .status = Severity::kFail,
                     .why = fmt::format("tollgated cannot watch {} ({}): {}", fs.device, fs.fs_type, fs.error),
                     .fix = "see the mark event in the event log; a filesystem hidden under another mount needs the "
                            "unit drop-in of docs/configuration.md (\"Filesystem marks\")"});
  const std::string coverage = s.coverage.empty() ? "exec" : s.coverage;
  if (coverage == "exec")
    out.push_back({.id = "coverage",
                   .status = Severity::kInfo,
                   .why = "coverage: exec: scripts read by interpreters, ld.so and libraries are not decided "
                          "(noexec on user-writable mounts closes most of it)"});
  else out.push_back(ok("coverage", "coverage: " + coverage));
  return out;
}

}  // namespace

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::kOk: return "ok";
    case Severity::kInfo: return "info";
    case Severity::kWarn: return "warn";
    case Severity::kFail: return "fail";
  }
  return "fail";
}

const std::vector<std::string>& checked_sysctls() {
  static const std::vector<std::string> names = {
      "user.max_user_namespaces", "kernel.unprivileged_userns_clone", "kernel.apparmor_restrict_unprivileged_userns",
      "vm.memfd_noexec",          "kernel.yama.ptrace_scope",         "kernel.osrelease"};
  return names;
}

std::vector<Check> run_checks(const HostFacts& f) {
  std::vector<Check> out;
  for (auto& c : daemon_checks(f)) out.push_back(std::move(c));
  out.push_back(user_namespaces(f));
  out.push_back(memfd(f));
  out.push_back(unwatched(f));
  if (f.census_interval_ms <= 0)
    out.push_back({.id = "census",
                   .status = Severity::kWarn,
                   .why = "census_interval_ms: 0: nothing looks for processes that run from memfds, other "
                          "namespaces' filesystems or before the daemon",
                   .fix = "census_interval_ms: 2000 in tollgate.yaml (the default), then restart tollgated",
                   .hole = "census off"});
  else
    out.push_back(ok("census", fmt::format("the census walks /proc every {} ms", f.census_interval_ms), "census off"));
  for (const char* path : {"/tmp", "/var/tmp", "/dev/shm"}) out.push_back(noexec(f, path));
  out.push_back(ptrace(f));
  for (const auto& file : f.files) out.push_back(file_check(file));
  if (f.signing_key_present)
    out.push_back({.id = "signing-key",
                   .status = Severity::kWarn,
                   .why = fmt::format("the private key that signs policies ({}) is on this host: whoever becomes root "
                                      "here can sign a policy every host trusting its public key accepts",
                                      f.signing_key),
                   .fix = "keep the key in CI and sign policies there (docs/threat-model.md, \"Root is out of "
                          "scope\"); remove signing_key from this host"});
  else out.push_back(ok("signing-key", "no policy signing key on this host"));
  if (f.public_key.empty())
    out.push_back({.id = "signatures",
                   .status = Severity::kWarn,
                   .why = "public_key is not set: tollgated loads any database at the configured path, signed or not",
                   .fix = "tollgate keygen --out signing; compile with --sign-key; public_key: signing.pub in "
                          "tollgate.yaml; restart tollgated"});
  else out.push_back(ok("signatures", "only databases signed by " + f.public_key + " are loaded"));
  return out;
}

Severity worst(const std::vector<Check>& checks) {
  Severity w = Severity::kOk;
  for (const auto& c : checks) w = std::max(w, c.status);
  return w;
}

std::vector<std::string> open_holes(const std::vector<Check>& checks) {
  std::vector<std::string> out;
  for (const auto& c : checks)
    if (!c.hole.empty() && c.status >= Severity::kWarn) out.push_back(c.hole);
  return out;
}

std::string sysctl_dropin(const std::string& existing, const std::vector<SysctlFix>& fixes) {
  std::vector<SysctlFix> all;
  std::istringstream in(existing);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (line.empty() || line[0] == '#' || line[0] == ';' || eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
      return s;
    };
    all.push_back({trim(line.substr(0, eq)), trim(line.substr(eq + 1))});
  }
  for (const auto& fix : fixes) {
    auto it = std::find_if(all.begin(), all.end(), [&](const SysctlFix& s) { return s.name == fix.name; });
    if (it != all.end()) it->value = fix.value;
    else all.push_back(fix);
  }
  std::string out =
      "# Written by `tollgate doctor --fix`: kernel hardening that closes what\n"
      "# fanotify cannot see (docs/threat-model.md). Each line is a fix doctor\n"
      "# named; edit or delete the file to undo one (then reboot or sysctl -w).\n";
  for (const auto& s : all) out += s.name + " = " + s.value + "\n";
  return out;
}

namespace {

std::string sysctl_path(const std::string& proc_root, const std::string& name) {
  std::string rel = name;
  std::replace(rel.begin(), rel.end(), '.', '/');
  return proc_root + "/sys/" + rel;
}

FileFact file_fact(const std::string& role, const std::string& path, bool secret = false) {
  FileFact f{.role = role, .path = path, .secret = secret};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) f.error = fmt::format("{} {}: cannot examine it: {}", role, path, std::strerror(errno));
    return f;
  }
  f.exists = true;
  f.mode = st.st_mode;
  auto chain = policy::ownership_chain(path, st);
  if (chain) f.chain = std::move(*chain);
  else f.error = chain.error().message();
  return f;
}

// Sysctls and the mount table, from a proc root.
void read_kernel_facts(const std::string& proc_root, HostFacts& f) {
  for (const auto& name : checked_sysctls()) {
    auto text = read_file(sysctl_path(proc_root, name), 4096);
    if (!text) {
      f.sysctls[name] = std::nullopt;
      continue;
    }
    std::string v = *text;
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    f.sysctls[name] = v;
  }
  f.kernel_release = f.sysctls["kernel.osrelease"].value_or("");
  if (auto table = read_file(proc_root + "/self/mountinfo", 16u << 20)) f.mounts = census::parse_mountinfo(*table);
}

// The census as the daemon runs it: off when it says so (an older daemon says nothing).
int census_interval(const control::StatusReply& s, int configured) {
  if (!s.census) return configured;
  return s.census->enabled ? static_cast<int>(s.census->interval_ms) : 0;
}

}  // namespace

std::vector<std::string> status_holes(const std::string& proc_root, const control::StatusReply& status) {
  HostFacts f;
  read_kernel_facts(proc_root, f);
  f.watched = marked_devices(status);
  f.watched_from_daemon = true;
  f.daemon = status;
  f.census_interval_ms = census_interval(status, 1);
  return open_holes(run_checks(f));
}

HostFacts gather_host_facts(const std::string& proc_root, const Settings& settings) {
  HostFacts f;
  read_kernel_facts(proc_root, f);
  Watched watched = watched_filesystems(settings, f.mounts);
  f.watched = std::move(watched.devices);
  f.watched_from_daemon = watched.from_daemon;
  f.daemon = std::move(watched.status);
  f.daemon_error = std::move(watched.daemon_error);
  f.daemon_refused = watched.daemon_refused;
  f.census_interval_ms =
      f.daemon ? census_interval(*f.daemon, settings.census_interval_ms) : settings.census_interval_ms;
  if (settings.from_file()) f.files.push_back(file_fact("config", settings.path));
  f.files.push_back(file_fact("database", settings.database));
  f.files.push_back(file_fact("manifest", settings.manifest));
  f.files.push_back(file_fact("approvals", settings.approvals));
  if (!settings.public_key.empty()) f.files.push_back(file_fact("public key", settings.public_key));
  f.files.push_back(file_fact("state directory", settings.state_dir));
  f.public_key = settings.public_key;
  f.signing_key = settings.signing_key;
  if (!settings.signing_key.empty()) {
    f.files.push_back(file_fact("signing key", settings.signing_key, true));
    f.signing_key_present = f.files.back().exists;
  }
  return f;
}

Status apply_sysctls(const std::string& proc_root, const std::vector<SysctlFix>& fixes) {
  for (const auto& fix : fixes) {
    const std::string path = sysctl_path(proc_root, fix.name);
    auto fd = open_fd(path, O_WRONLY | O_TRUNC);
    if (!fd) return std::unexpected(fd.error());
    if (auto st = write_all(fd->get(), fix.value + "\n", path); !st) return st;
  }
  return {};
}

}  // namespace tollgate::tools
