#include "policy/trust_sources.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "common/io.h"
#include "common/unique_fd.h"

namespace tollgate::policy {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

bool excluded(const std::vector<std::string>& patterns, const std::string& rel, std::string_view base) {
  std::string b(base);
  for (const auto& p : patterns)
    if (::fnmatch(p.c_str(), rel.c_str(), 0) == 0 || ::fnmatch(p.c_str(), b.c_str(), 0) == 0) return true;
  return false;
}

std::string_view skip_reason(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return "vanished";
    case EACCES:
    case EPERM: return "unreadable";
    case ELOOP: return "not a regular file";
    default: return "unreadable";
  }
}

// What a "Status: WANT FLAG STATE" line (dpkg-query(1)) leaves on disk.
// From "unpacked" on, the package's files are all there, whatever the
// admin wants next (`hold`, `deinstall`) and whether or not its postinst
// has succeeded yet (`half-configured`, pending triggers): it counts as
// installed. "config-files": removed, only its conffiles and postrm are
// left. A package that needs reinstalling (flag "reinstreq") or is
// half-installed counts as neither.
enum class Present : uint8_t { kNo, kInstalled, kConfigFiles };

Present present(std::string_view status) {
  auto first = status.find(' ');
  auto second = first == std::string_view::npos ? first : status.find(' ', first + 1);
  if (second == std::string_view::npos || status.substr(first + 1, second - first - 1) != "ok") return Present::kNo;
  const std::string_view state = status.substr(second + 1);
  if (state == "installed" || state == "unpacked" || state == "half-configured" || state == "triggers-awaited" ||
      state == "triggers-pending")
    return Present::kInstalled;
  return state == "config-files" ? Present::kConfigFiles : Present::kNo;
}

// "Package:"/"Status:"/"Architecture:" of every stanza in dpkg's status
// file whose package is present (above).
struct Installed {
  std::string name;
  std::string arch;
  bool config_files = false;  // Present::kConfigFiles: only its postrm is left
  // Conffiles (/etc/...) are not in PKG.md5sums; their md5 is in status.
  std::vector<std::pair<std::string, std::string>> conffiles;  // path, md5
};

std::vector<Installed> parse_status(std::string_view text) {
  std::vector<Installed> out;
  Installed cur;
  std::string status;
  bool in_conffiles = false;
  auto flush = [&] {
    const Present p = present(status);
    cur.config_files = p == Present::kConfigFiles;
    if (!cur.name.empty() && p != Present::kNo) out.push_back(std::move(cur));
    cur = Installed();
    status.clear();
    in_conffiles = false;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      flush();
      if (end == text.size()) break;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      // A continuation line; " /etc/x 0123...md5 [obsolete]" under Conffiles.
      if (in_conffiles) {
        line.remove_prefix(1);
        auto sp = line.find(' ');
        if (sp != std::string_view::npos && !line.empty() && line.front() == '/') {
          std::string_view md5 = line.substr(sp + 1, 32);
          bool obsolete = line.find(" obsolete", sp) != std::string_view::npos;
          if (md5.size() == 32 && !obsolete) cur.conffiles.emplace_back(line.substr(0, sp), md5);
        }
      }
      if (end == text.size()) break;
      continue;
    }
    in_conffiles = false;
    auto value = [&](std::string_view key) -> std::optional<std::string> {
      if (line.size() >= key.size() && line.substr(0, key.size()) == key) {
        std::string_view v = line.substr(key.size());
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
        return std::string(v);
      }
      return std::nullopt;
    };
    if (auto v = value("Package:")) cur.name = *v;
    else if (auto s = value("Status:")) status = *s;
    else if (auto a = value("Architecture:")) cur.arch = *a;
    else if (value("Conffiles:")) in_conffiles = true;
    if (end == text.size()) break;
  }
  flush();
  return out;
}

template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) fn(line);
    pos = end + 1;
  }
}

// ADMINDIR/info/PKG, or PKG:ARCH for Multi-Arch: same packages.
std::string info_base(const std::string& admindir, const Installed& pkg) {
  std::string base = admindir + "/info/" + pkg.name;
  struct stat st {};
  if (::stat((base + ".list").c_str(), &st) != 0 && !pkg.arch.empty()) base += ":" + pkg.arch;
  return base;
}

void add_scripts(const std::string& base, const std::string& package, std::vector<DpkgFile>& out) {
  for (std::string_view name : kMaintainerScripts) {
    std::string path = base + "." + std::string(name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) continue;
    out.push_back({package, std::move(path), {}});
  }
}

}  // namespace

bool is_maintainer_script(std::string_view name) {
  return std::find(kMaintainerScripts.begin(), kMaintainerScripts.end(), name) != kMaintainerScripts.end();
}

bool is_elf(std::string_view header) {
  return header.size() >= 4 && header.substr(0, 4) ==
                                   "\x7f"
                                   "ELF";
}
bool is_shebang(std::string_view header) { return header.size() >= 2 && header.substr(0, 2) == "#!"; }

bool is_shared_library_name(std::string_view path) {
  auto slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (base.size() > 3 && base.ends_with(".so")) return true;
  // "libfoo.so.6", "libfoo.so.6.0.1"; not "ld.so.conf".
  auto pos = base.rfind(".so.");
  if (pos == std::string_view::npos || pos == 0) return false;
  std::string_view version = base.substr(pos + 4);
  return !version.empty() &&
         std::all_of(version.begin(), version.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

bool match_needs_header(DirMatch match, mode_t mode, std::string_view path) {
  switch (match) {
    case DirMatch::kAll: return false;
    case DirMatch::kElf: return true;
    case DirMatch::kExecutables: return (mode & 0111) == 0 && !is_shared_library_name(path);
  }
  return true;
}

bool file_matches(DirMatch match, mode_t mode, std::string_view path, std::string_view header) {
  switch (match) {
    case DirMatch::kAll: return true;
    case DirMatch::kElf: return is_elf(header);
    case DirMatch::kExecutables:
      return (mode & 0111) != 0 || is_shared_library_name(path) || is_elf(header) || is_shebang(header);
  }
  return false;
}

void scan_dir(int dir_fd, const std::string& path, const std::string& rel, const std::vector<std::string>& exclude,
              const std::function<void(DirChild&&)>& on_file, const std::function<void(DirChild&&)>& on_subdir,
              const std::function<void(const std::string&, std::string_view reason)>& on_skip) {
  int own = ::dup(dir_fd);
  if (own < 0) {
    on_skip(path, skip_reason(errno));
    return;
  }
  DirPtr dir(::fdopendir(own));
  if (!dir) {
    ::close(own);
    on_skip(path, skip_reason(errno));
    return;
  }
  ::rewinddir(dir.get());
  while (dirent* de = ::readdir(dir.get())) {
    std::string_view name(de->d_name);
    if (name == "." || name == "..") continue;
    DirChild child;
    child.name = name;
    child.path = path == "/" ? "/" + child.name : path + "/" + child.name;
    child.rel = rel.empty() ? child.name : rel + "/" + child.name;
    if (!exclude.empty() && excluded(exclude, child.rel, child.name)) continue;
    if (::fstatat(dir_fd, child.name.c_str(), &child.st, AT_SYMLINK_NOFOLLOW) != 0) {
      on_skip(child.path, skip_reason(errno));
      continue;
    }
    if (S_ISLNK(child.st.st_mode)) continue;  // covered where it points
    if (S_ISDIR(child.st.st_mode)) on_subdir(std::move(child));
    else if (S_ISREG(child.st.st_mode)) on_file(std::move(child));
    else on_skip(child.path, "not a regular file");
  }
}

Result<UniqueFd> open_listed_dir(const DirChild& d) {
  UniqueFd fd(::open(d.path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fail_errno(errno, d.path, "cannot open directory");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, d.path, "cannot stat directory");
  if (st.st_dev != d.st.st_dev || st.st_ino != d.st.st_ino)
    return fail(ErrorCode::kNotFound, d.path + ": directory replaced during the walk");
  return fd;
}

Result<DpkgFiles> read_dpkg_files(const std::string& admindir, const std::vector<std::string>& packages) {
  auto status = read_file(admindir + "/status", 256u << 20);
  if (!status) return std::unexpected(status.error());
  std::vector<Installed> known = parse_status(*status);
  std::vector<Installed> installed, config_files;
  for (auto& p : known) (p.config_files ? config_files : installed).push_back(std::move(p));

  // Select packages: all, or the named ones ("name" or "name:arch").
  std::vector<Installed> selected;
  DpkgFiles out;
  if (packages.empty()) {
    selected = installed;
    for (const auto& pkg : config_files) add_scripts(info_base(admindir, pkg), pkg.name, out.scripts);
  } else {
    for (const auto& want : packages) {
      auto colon = want.find(':');
      std::string name = want.substr(0, colon);
      std::string arch = colon == std::string::npos ? "" : want.substr(colon + 1);
      bool found = false;
      for (const auto& p : installed) {
        if (p.name == name && (arch.empty() || p.arch == arch)) {
          selected.push_back(p);
          found = true;
        }
      }
      if (!found) out.missing.push_back(want);
    }
  }
  std::sort(selected.begin(), selected.end(),
            [](const Installed& a, const Installed& b) { return std::tie(a.name, a.arch) < std::tie(b.name, b.arch); });
  selected.erase(
      std::unique(selected.begin(), selected.end(),
                  [](const Installed& a, const Installed& b) { return a.name == b.name && a.arch == b.arch; }),
      selected.end());

  for (const auto& pkg : selected) {
    const std::string base = info_base(admindir, pkg);
    add_scripts(base, pkg.name, out.scripts);
    auto list = read_file(base + ".list", 64u << 20);
    if (!list) {
      if (list.error().code() == ErrorCode::kNotFound) continue;  // a package without files
      return std::unexpected(list.error());
    }
    std::map<std::string, std::string, std::less<>> md5;
    if (auto sums = read_file(base + ".md5sums", 64u << 20)) {
      for_each_line(*sums, [&](std::string_view line) {
        // "<32 hex>  relative/path"
        if (line.size() < 35 || line[32] != ' ') return;
        std::string_view hex = line.substr(0, 32);
        std::string_view rel = line.substr(33);
        while (!rel.empty() && rel.front() == ' ') rel.remove_prefix(1);
        if (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
        std::string lower(hex);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        md5.emplace("/" + std::string(rel), std::move(lower));
      });
    } else if (sums.error().code() != ErrorCode::kNotFound) {
      return std::unexpected(sums.error());
    }
    for (const auto& [path, sum] : pkg.conffiles) md5.emplace(path, sum);
    ++out.packages;
    std::string display = pkg.name;
    for_each_line(*list, [&](std::string_view line) {
      if (line.empty() || line.front() != '/' || line == "/." || line == "/") return;
      auto it = md5.find(line);
      out.files.push_back({display, std::string(line), it == md5.end() ? std::string() : it->second});
    });
  }
  for (auto* list : {&out.files, &out.scripts})
    std::sort(list->begin(), list->end(), [](const DpkgFile& a, const DpkgFile& b) {
      return std::tie(a.path, a.package) < std::tie(b.path, b.package);
    });
  return out;
}

}  // namespace tollgate::policy
