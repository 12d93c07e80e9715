#include "census/mounts.h"

#include <fmt/core.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <set>

namespace tollgate::census {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [](char c) { return c >= '0' && c <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_device(std::string_view s, dev_t& dev) {
  auto colon = s.find(':');
  unsigned major = 0, minor = 0;
  if (colon == std::string_view::npos || !parse_number(s.substr(0, colon), major) ||
      !parse_number(s.substr(colon + 1), minor))
    return false;
  dev = ::makedev(major, minor);
  return true;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

}  // namespace

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    auto f = split_fields(line);
    // id parent major:minor root mount-point options [optional...] - type source super-options
    auto sep = std::find(f.begin(), f.end(), std::string_view("-"));
    if (f.size() < 9 || sep == f.end() || sep - f.begin() < 6 || f.end() - sep < 3) continue;
    MountEntry m;
    if (!parse_number(f[0], m.mount_id) || !parse_number(f[1], m.parent_id) || !parse_device(f[2], m.dev)) continue;
    m.root = unescape(f[3]);
    m.mount_point = unescape(f[4]);
    const std::string opts = "," + std::string(f[5]) + ",";
    m.noexec = opts.find(",noexec,") != std::string::npos;
    m.fs_type = std::string(*(sep + 1));
    m.source = unescape(*(sep + 2));
    out.push_back(std::move(m));
  }
  return out;
}

std::string device_name(dev_t dev) { return fmt::format("{}:{}", ::major(dev), ::minor(dev)); }

FsKind fs_kind(std::string_view t) {
  // Pseudo filesystems: kernel state, not files anyone put there to run.
  static const std::set<std::string, std::less<>> kPseudo = {
      "proc",       "sysfs",     "cgroup", "cgroup2",  "devpts",  "mqueue",      "debugfs",    "tracefs",
      "securityfs", "pstore",    "bpf",    "configfs", "fusectl", "binfmt_misc", "rpc_pipefs", "nsfs",
      "efivarfs",   "selinuxfs", "autofs", "nfsd",     "smackfs", "apparmorfs",  "rdma_cgroup"};
  // Filesystems whose content another machine serves (or changes).
  static const std::set<std::string, std::less<>> kNetwork = {
      "nfs",        "nfs4",      "cifs",        "smb3",           "smbfs",       "ceph",         "9p",
      "afs",        "coda",      "glusterfs",   "lustre",         "davfs",       "ncpfs",        "virtiofs",
      "fuse.sshfs", "fuse.s3fs", "fuse.rclone", "fuse.glusterfs", "fuse.cephfs", "fuse.gcsfuse", "fuse.davfs2"};
  if (kPseudo.contains(t)) return FsKind::kPseudo;
  if (kNetwork.contains(t)) return FsKind::kNetwork;
  return FsKind::kLocal;
}

bool holds_executables(std::string_view fs_type) { return fs_kind(fs_type) != FsKind::kPseudo; }

bool at_or_below(std::string_view mount_point, std::string_view prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.remove_suffix(1);
  if (prefix.empty() || prefix.front() != '/') return false;
  if (prefix == "/") return !mount_point.empty() && mount_point.front() == '/';
  if (!mount_point.starts_with(prefix)) return false;
  return mount_point.size() == prefix.size() || mount_point[prefix.size()] == '/';
}

const MountEntry* holding_mount(const std::vector<MountEntry>& mounts, std::string_view path) {
  const MountEntry* best = nullptr;
  for (const auto& m : mounts) {
    if (!at_or_below(path, m.mount_point)) continue;
    if (!best || m.mount_point.size() >= best->mount_point.size()) best = &m;
  }
  return best;
}

std::vector<std::string> resolve_watch_prefixes(const std::vector<std::string>& watch) {
  if (watch.size() == 1 && watch.front() == "auto") return {"/"};
  std::vector<std::string> out;
  for (const auto& p : watch) {
    char resolved[PATH_MAX];
    out.push_back(::realpath(p.c_str(), resolved) ? std::string(resolved) : p);
  }
  return out;
}

std::vector<WatchedFs> select_watched(const std::vector<MountEntry>& mounts, const std::vector<std::string>& prefixes) {
  std::vector<const MountEntry*> qualifying;
  for (const auto& p : prefixes) {
    if (const MountEntry* holder = holding_mount(mounts, p)) qualifying.push_back(holder);
    for (const auto& m : mounts)
      if (at_or_below(m.mount_point, p)) qualifying.push_back(&m);
  }
  std::vector<WatchedFs> out;
  auto find = [&](dev_t dev) {
    return std::find_if(out.begin(), out.end(), [&](const WatchedFs& w) { return w.dev == dev; });
  };
  for (const MountEntry* m : qualifying) {
    if (!holds_executables(m->fs_type)) continue;
    auto it = find(m->dev);
    if (it == out.end()) {
      out.push_back({.dev = m->dev, .fs_type = m->fs_type, .source = m->source, .mounts = {}});
      it = out.end() - 1;
    }
    if (std::find(it->mounts.begin(), it->mounts.end(), m) == it->mounts.end()) it->mounts.push_back(m);
  }
  // Every other mount of a watched filesystem, to mark it through when the
  // qualifying ones cannot be reached (hidden under a later mount).
  for (auto& w : out)
    for (const auto& m : mounts)
      if (m.dev == w.dev && std::find(w.mounts.begin(), w.mounts.end(), &m) == w.mounts.end()) w.mounts.push_back(&m);
  return out;
}

}  // namespace tollgate::census
