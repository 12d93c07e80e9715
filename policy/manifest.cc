#include "policy/manifest.h"

#include <glob.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>

#include "common/io.h"
#include "common/time.h"
#include "hashdb/sha256.h"
#include "policy/yaml_util.h"

namespace tollgate::policy {
namespace {

namespace fs = std::filesystem;

// Backing arrays of namespace-scope initializer lists live as long as the
// lists, so these can be handed to check_keys/closest_match.
const std::initializer_list<std::string_view> kTopKeys = {"version", "name", "description",
                                                           "include", "allow", "deny"};
const std::initializer_list<std::string_view> kIncludeKeys = {"path", "optional"};
const std::initializer_list<std::string_view> kMatchValues = {"executables", "elf", "all"};
const std::initializer_list<std::string_view> kAllEntryKeys = {
    "file", "dir", "sha256", "path", "path_prefix", "package_manager", "signer", "optional", "recursive",
    "match", "exclude", "packages", "origin", "label", "owner", "ticket", "expires", "approved_by", "approved_at",
    "allow_writable", "reason"};
// Keys valid per kind (the kind key first, then the common ones).
const std::initializer_list<std::string_view> kFileKeys = {
    "file", "optional", "allow_writable", "reason", "label", "owner", "ticket", "expires", "approved_by",
    "approved_at"};
const std::initializer_list<std::string_view> kDirKeys = {
    "dir", "recursive", "match", "exclude", "allow_writable", "reason", "label", "owner", "ticket", "expires",
    "approved_by", "approved_at"};
const std::initializer_list<std::string_view> kSha256Keys = {
    "sha256", "origin", "label", "owner", "ticket", "expires", "approved_by", "approved_at"};
const std::initializer_list<std::string_view> kPathKeys = {
    "path", "label", "owner", "ticket", "expires", "approved_by", "approved_at"};
const std::initializer_list<std::string_view> kPathPrefixKeys = {
    "path_prefix", "label", "owner", "ticket", "expires", "approved_by", "approved_at"};
const std::initializer_list<std::string_view> kPackageKeys = {
    "package_manager", "packages", "label", "owner", "ticket", "expires", "approved_by", "approved_at"};
const std::initializer_list<std::string_view> kSignerKeys = {
    "signer", "label", "owner", "ticket", "expires", "approved_by", "approved_at"};

const std::initializer_list<std::string_view>& keys_for(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile: return kFileKeys;
    case EntryKind::kDir: return kDirKeys;
    case EntryKind::kSha256: return kSha256Keys;
    case EntryKind::kPath: return kPathKeys;
    case EntryKind::kPathPrefix: return kPathPrefixKeys;
    case EntryKind::kPackageManager: return kPackageKeys;
    case EntryKind::kSigner: return kSignerKeys;
  }
  return kFileKeys;
}

bool contains(const std::initializer_list<std::string_view>& list, std::string_view key) {
  return std::find(list.begin(), list.end(), key) != list.end();
}

std::optional<EntryKind> kind_from_key(std::string_view key) {
  static constexpr std::array<std::pair<std::string_view, EntryKind>, 7> kKinds = {{
      {"file", EntryKind::kFile},
      {"dir", EntryKind::kDir},
      {"sha256", EntryKind::kSha256},
      {"path", EntryKind::kPath},
      {"path_prefix", EntryKind::kPathPrefix},
      {"package_manager", EntryKind::kPackageManager},
      {"signer", EntryKind::kSigner},
  }};
  for (const auto& [name, kind] : kKinds)
    if (name == key) return kind;
  return std::nullopt;
}

Location location_of(const std::string& file, const YAML::Mark& mark) {
  return {file, mark.line >= 0 ? mark.line + 1 : 1, mark.column >= 0 ? mark.column + 1 : 1};
}

std::string display_path(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) return path;
  return abs.lexically_normal().string();
}

bool has_glob_meta(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

bool valid_package_name(std::string_view name) {
  auto colon = name.find(':');
  std::string_view base = name.substr(0, colon);
  if (base.empty() || !(std::islower(static_cast<unsigned char>(base[0])) || std::isdigit(static_cast<unsigned char>(base[0]))))
    return false;
  for (char c : base)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '+' ||
          c == '-' || c == '.'))
      return false;
  if (colon != std::string_view::npos) {
    std::string_view arch = name.substr(colon + 1);
    if (arch.empty()) return false;
    for (char c : arch)
      if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-'))
        return false;
  }
  return true;
}

class Loader {
 public:
  explicit Loader(const LoadOptions& options) : options_(options), diag_(options.error_cap) {}

  // Loads one file; `from` is the include entry that named it (nullptr for the root).
  void load_file(const std::string& path, const Location* from) {
    std::string shown = display_path(path);
    auto text = read_file(shown, 16u << 20);
    if (!text) {
      if (from) diag_.add_plain(from->to_string() + ": cannot read included manifest: " + text.error().message());
      else root_error_ = text.error();
      return;
    }
    load_text(*text, shown, from);
  }

  void load_text(const std::string& text, const std::string& shown, const Location* from) {
    std::error_code ec;
    std::string identity = fs::weakly_canonical(shown, ec).string();
    if (ec) identity = shown;
    if (!from) manifest_.root_file = shown;
    if (std::find(stack_.begin(), stack_.end(), identity) != stack_.end()) {
      std::string chain;
      for (const auto& s : stack_) chain += s + " -> ";
      diag_.add_plain(from->to_string() + ": include cycle: " + chain + identity);
      return;
    }
    if (!loaded_.insert(identity).second) return;  // already read through another include
    manifest_.files.push_back(shown);

    auto root = load_yaml_string(text, shown, diag_);
    if (!root) return;
    stack_.push_back(identity);
    parse_document(*root, shown, from == nullptr);
    stack_.pop_back();
  }

  Result<Manifest> finish() {
    if (root_error_) return std::unexpected(*root_error_);
    check_hash_conflicts();
    if (!diag_.ok()) return std::unexpected(diag_.to_error());
    return std::move(manifest_);
  }

 private:
  void error(const std::string& file, const YAML::Node& node, std::string_view message) {
    diag_.add(file, node.Mark(), message);
  }

  void parse_document(const YAML::Node& root, const std::string& file, bool is_root) {
    if (root.IsNull()) {
      if (is_root) diag_.add_plain(file + ":1:1: empty manifest; a root manifest starts with 'version: 1'");
      return;
    }
    if (root.IsSequence() && root.size() == 0 && !is_root) return;  // an empty approvals file: []
    if (!check_keys(root, file, kTopKeys, diag_)) return;
    std::set<std::string> seen;
    for (const auto& item : root) {
      const std::string key = item.first.Scalar();
      if (!seen.insert(key).second) {
        error(file, item.first, "duplicate key '" + key + "'");
        continue;
      }
      const YAML::Node& value = item.second;
      if (key == "version") {
        if (!value.IsScalar() || value.Scalar() != "1")
          error(file, value, "unsupported manifest version; this tollgate reads 'version: 1'");
      } else if (key == "name" || key == "description") {
        auto text = read_string(value, file, key, diag_);
        if (text && is_root) (key == "name" ? manifest_.name : manifest_.description) = *text;
      } else if (key == "include") {
        parse_includes(value, file);
      } else if (key == "allow" || key == "deny") {
        parse_entries(value, file, key == "allow" ? hashdb::Action::kAllow : hashdb::Action::kDeny, key);
      }
    }
    if (is_root && !seen.contains("version"))
      diag_.add(file, root.Mark(), "missing 'version: 1' at the top of the root manifest");
  }

  void parse_includes(const YAML::Node& value, const std::string& file) {
    if (value.IsNull()) return;
    if (value.IsScalar()) {
      include_one(value, value.Scalar(), false, file);
      return;
    }
    if (!value.IsSequence()) {
      error(file, value, "'include' must be a list of paths or globs");
      return;
    }
    for (const auto& item : value) {
      if (item.IsScalar()) {
        include_one(item, item.Scalar(), false, file);
      } else if (item.IsMap()) {
        if (!check_keys(item, file, kIncludeKeys, diag_)) continue;
        std::optional<std::string> path;
        bool optional = false;
        for (const auto& kv : item) {
          const std::string key = kv.first.Scalar();
          if (key == "path") path = read_string(kv.second, file, key, diag_);
          else if (key == "optional") optional = read_bool(kv.second, file, key, diag_).value_or(false);
        }
        if (!item["path"]) error(file, item, "an include needs 'path'");
        else if (path) include_one(item, *path, optional, file);
      } else {
        error(file, item, "an include is a path or glob, or {path: ..., optional: true}");
      }
    }
  }

  void include_one(const YAML::Node& node, const std::string& pattern, bool optional, const std::string& file) {
    Location where = location_of(file, node.Mark());
    if (pattern.empty()) {
      diag_.add_plain(where.to_string() + ": empty include path");
      return;
    }
    std::string full = pattern.front() == '/' ? pattern : parent_dir(file) + "/" + pattern;
    if (!options_.follow_includes) return;
    glob_t g{};
    int rc = ::glob(full.c_str(), 0, nullptr, &g);
    std::vector<std::string> matches;
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
      diag_.add_plain(where.to_string() + ": cannot expand include '" + pattern + "'");
      return;
    }
    if (matches.empty()) {
      // A glob may match nothing yet (an approvals.d/ still empty); a
      // literal path names a file that must exist unless marked optional.
      if (!has_glob_meta(pattern) && !optional)
        diag_.add_plain(where.to_string() + ": included manifest '" + full +
                        "' does not exist (write {path: ..., optional: true} if it may be absent)");
      return;
    }
    std::sort(matches.begin(), matches.end());
    for (const auto& m : matches) {
      std::error_code ec;
      if (fs::is_directory(m, ec)) continue;
      load_file(m, &where);
    }
  }

  void parse_entries(const YAML::Node& list, const std::string& file, hashdb::Action action, const std::string& key) {
    if (list.IsNull()) return;
    if (!list.IsSequence()) {
      error(file, list, "'" + key + "' must be a list of entries");
      return;
    }
    for (const auto& node : list) parse_entry(node, file, action);
  }

  std::optional<std::string> absolute_path(const YAML::Node& node, const std::string& file, std::string_view key) {
    auto text = read_string(node, file, key, diag_);
    if (!text) return std::nullopt;
    const std::string& p = *text;
    if (p.empty() || p.front() != '/') {
      error(file, node, "'" + std::string(key) + "' must be an absolute path (got '" + p + "')");
      return std::nullopt;
    }
    if (p.find('\0') != std::string::npos) {
      error(file, node, "'" + std::string(key) + "' contains a NUL byte");
      return std::nullopt;
    }
    std::string out;
    size_t i = 0;
    while (i < p.size()) {
      while (i < p.size() && p[i] == '/') ++i;
      size_t j = p.find('/', i);
      if (j == std::string::npos) j = p.size();
      std::string_view part(p.data() + i, j - i);
      if (part == "." || part == "..") {
        error(file, node, "'" + std::string(key) + "' must not contain '.' or '..' components (got '" + p + "')");
        return std::nullopt;
      }
      if (!part.empty()) {
        out += '/';
        out += part;
      }
      i = j;
    }
    return out.empty() ? std::string("/") : out;
  }

  std::optional<std::vector<std::string>> string_list(const YAML::Node& node, const std::string& file,
                                                      std::string_view key) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
      return out;
    }
    if (!node.IsSequence()) {
      error(file, node, "'" + std::string(key) + "' must be a list of strings");
      return std::nullopt;
    }
    bool ok = true;
    for (const auto& item : node) {
      auto s = read_string(item, file, key, diag_);
      if (s) out.push_back(*s);
      else ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void parse_entry(const YAML::Node& node, const std::string& file, hashdb::Action action) {
    if (!node.IsMap()) {
      error(file, node, "an entry must be a mapping such as 'file: /usr/bin/tool'");
      return;
    }
    // The kind: exactly one kind key.
    std::optional<EntryKind> kind;
    YAML::Node kind_key;
    bool bad = false;
    for (const auto& item : node) {
      auto k = kind_from_key(item.first.Scalar());
      if (!k) continue;
      if (kind) {
        error(file, item.first,
              "an entry has exactly one kind; '" + item.first.Scalar() + "' conflicts with '" +
                  std::string(to_string(*kind)) + "' at " + location_of(file, kind_key.Mark()).to_string());
        bad = true;
        continue;
      }
      kind = k;
      kind_key = item.first;
    }
    if (!kind) {
      size_t before = diag_.count();
      check_keys(node, file, kAllEntryKeys, diag_);
      if (diag_.count() == before)
        error(file, node, "the entry needs one of: file, dir, sha256, path, path_prefix, package_manager, signer");
      return;
    }

    Entry e;
    e.kind = *kind;
    e.action = action;
    e.where = location_of(file, node.Mark());
    if (action == hashdb::Action::kDeny && (*kind == EntryKind::kSigner || *kind == EntryKind::kPackageManager)) {
      error(file, kind_key, "'" + std::string(to_string(*kind)) + "' entries can only be allowed, not denied");
      bad = true;
    }

    const auto& allowed = keys_for(*kind);
    std::set<std::string> seen;
    // Where allow_writable / reason were written (null: absent).
    std::optional<YAML::Node> writable_key, reason_key;
    for (const auto& item : node) {
      const std::string key = item.first.Scalar();
      const YAML::Node& v = item.second;
      if (!seen.insert(key).second) {
        error(file, item.first, "duplicate key '" + key + "'");
        bad = true;
        continue;
      }
      if (key == "allow_writable") writable_key = item.first;
      if (key == "reason") reason_key = item.first;
      if (!contains(allowed, key)) {
        bad = true;
        if (kind_from_key(key)) continue;  // reported above
        if (contains(kAllEntryKeys, key)) {
          error(file, item.first,
                "'" + key + "' does not apply to a '" + std::string(to_string(*kind)) + "' entry");
        } else {
          std::string msg = "unknown key '" + key + "'";
          if (auto hint = closest_match(key, allowed)) msg += "; did you mean '" + *hint + "'?";
          error(file, item.first, msg);
        }
        continue;
      }
      if (!parse_value(e, key, v, file)) bad = true;
    }
    if (!bad && !check_allow_writable(e, writable_key, reason_key, file)) bad = true;
    if (!bad) manifest_.entries.push_back(std::move(e));
  }

  // `allow_writable: true` trusts files an unprivileged user could change:
  // only on allow entries, and only with a reason a reviewer can read.
  bool check_allow_writable(const Entry& e, const std::optional<YAML::Node>& writable_key,
                            const std::optional<YAML::Node>& reason_key, const std::string& file) {
    if (writable_key && e.action == hashdb::Action::kDeny) {
      error(file, *writable_key, "'allow_writable' applies to allow entries only (a deny needs no ownership check)");
      return false;
    }
    if (e.allow_writable && e.writable_reason.empty()) {
      error(file, *writable_key,
            "'allow_writable: true' needs a 'reason:' saying why files an unprivileged user can change may be trusted");
      return false;
    }
    if (reason_key && !e.allow_writable) {
      error(file, *reason_key, "'reason' explains 'allow_writable: true'; add that, or remove 'reason'");
      return false;
    }
    return true;
  }

  bool parse_value(Entry& e, const std::string& key, const YAML::Node& v, const std::string& file) {
    auto set_string = [&](std::string& out) {
      auto s = read_string(v, file, key, diag_);
      if (s) out = *s;
      return s.has_value();
    };
    if (key == "file" || key == "dir" || key == "path") {
      auto p = absolute_path(v, file, key);
      if (p) e.value = *p;
      return p.has_value();
    }
    if (key == "path_prefix") {
      auto p = absolute_path(v, file, key);
      if (!p) return false;
      e.value = *p == "/" ? *p : *p + "/";
      return true;
    }
    if (key == "sha256") {
      auto s = read_string(v, file, key, diag_);
      if (!s) return false;
      auto digest = hashdb::sha256_from_hex(*s);
      if (!digest) {
        error(file, v, "'sha256' must be 64 hex digits (got '" + *s + "')");
        return false;
      }
      e.value = hashdb::to_hex(*digest);
      return true;
    }
    if (key == "package_manager") {
      auto s = read_string(v, file, key, diag_);
      if (!s) return false;
      if (*s != "dpkg") {
        error(file, v, "unsupported package manager '" + *s + "'; supported: dpkg");
        return false;
      }
      e.value = *s;
      return true;
    }
    if (key == "signer") {
      auto s = read_string(v, file, key, diag_);
      if (!s) return false;
      if (s->empty()) {
        error(file, v, "'signer' must name a public key file");
        return false;
      }
      e.value = s->front() == '/' ? *s : display_path(parent_dir(file) + "/" + *s);
      return true;
    }
    if (key == "optional" || key == "recursive" || key == "allow_writable") {
      auto b = read_bool(v, file, key, diag_);
      if (b) (key == "optional" ? e.optional : key == "recursive" ? e.recursive : e.allow_writable) = *b;
      return b.has_value();
    }
    if (key == "reason") {
      if (!set_string(e.writable_reason)) return false;
      if (e.writable_reason.find_first_not_of(" \t") != std::string::npos) return true;
      error(file, v, "'reason' must not be empty");
      return false;
    }
    if (key == "match") {
      auto s = read_string(v, file, key, diag_);
      if (!s) return false;
      if (*s == "executables") e.match = DirMatch::kExecutables;
      else if (*s == "elf") e.match = DirMatch::kElf;
      else if (*s == "all") e.match = DirMatch::kAll;
      else {
        std::string msg = "'match' must be executables, elf or all (got '" + *s + "')";
        if (auto hint = closest_match(*s, kMatchValues)) msg += "; did you mean '" + *hint + "'?";
        error(file, v, msg);
        return false;
      }
      return true;
    }
    if (key == "exclude") {
      auto list = string_list(v, file, key);
      if (list) e.exclude = std::move(*list);
      return list.has_value();
    }
    if (key == "packages") {
      auto list = string_list(v, file, key);
      if (!list) return false;
      for (const auto& name : *list) {
        if (!valid_package_name(name)) {
          error(file, v, "'" + name + "' is not a Debian package name");
          return false;
        }
      }
      e.packages = std::move(*list);
      return true;
    }
    if (key == "origin") {
      auto p = absolute_path(v, file, key);
      if (p) e.origin = *p;
      return p.has_value();
    }
    if (key == "expires" || key == "approved_at") {
      auto s = read_string(v, file, key, diag_);
      if (!s) return false;
      auto t = parse_rfc3339(*s);
      if (!t) {
        error(file, v, "'" + key + "' must be an RFC 3339 date such as 2026-12-31 or 2026-12-31T23:59:59Z (got '" +
                           *s + "')");
        return false;
      }
      if (key == "expires") {
        e.expires = *s;
        e.expires_at = *t;
      } else {
        e.approved_at = *s;
      }
      return true;
    }
    if (key == "label") {
      if (!set_string(e.label)) return false;
      // The compiler marks rules it verified against dpkg's md5sums with
      // "dpkg:PACKAGE" labels and trusts that mark on the next compile.
      if (e.label.find("dpkg:") == std::string::npos) return true;
      error(file, v, "'label' may not contain 'dpkg:' (reserved for rules of the dpkg trust source)");
      return false;
    }
    if (key == "owner") return set_string(e.owner);
    if (key == "ticket") return set_string(e.ticket);
    if (key == "approved_by") return set_string(e.approved_by);
    return true;
  }

  // The same hash both allowed and denied by explicit sha256 entries.
  // (Hashes taken from files are checked by the compiler.)
  void check_hash_conflicts() {
    std::map<std::string, const Entry*> allowed, denied;
    for (const auto& e : manifest_.entries) {
      if (e.kind != EntryKind::kSha256) continue;
      auto& mine = e.action == hashdb::Action::kAllow ? allowed : denied;
      auto& other = e.action == hashdb::Action::kAllow ? denied : allowed;
      mine.emplace(e.value, &e);
      if (auto it = other.find(e.value); it != other.end())
        diag_.add_plain(e.where.to_string() + ": hash " + e.value + " is " +
                        (e.action == hashdb::Action::kAllow ? "allowed here but denied at " : "denied here but allowed at ") +
                        it->second->where.to_string());
    }
  }

  LoadOptions options_;
  Diagnostics diag_;
  Manifest manifest_;
  std::vector<std::string> stack_;
  std::set<std::string> loaded_;
  std::optional<Error> root_error_;
};

}  // namespace

std::string_view to_string(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile: return "file";
    case EntryKind::kDir: return "dir";
    case EntryKind::kSha256: return "sha256";
    case EntryKind::kPath: return "path";
    case EntryKind::kPathPrefix: return "path_prefix";
    case EntryKind::kPackageManager: return "package_manager";
    case EntryKind::kSigner: return "signer";
  }
  return "file";
}

std::string_view to_string(DirMatch match) {
  switch (match) {
    case DirMatch::kExecutables: return "executables";
    case DirMatch::kElf: return "elf";
    case DirMatch::kAll: return "all";
  }
  return "executables";
}

std::string Location::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

Result<Manifest> load_manifest(const std::string& path, const LoadOptions& options) {
  try {
    Loader loader(options);
    loader.load_file(path, nullptr);
    return loader.finish();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidInput, path + ": " + e.what());
  }
}

Result<Manifest> load_manifest_text(const std::string& text, const std::string& name, const LoadOptions& options) {
  try {
    Loader loader(options);
    loader.load_text(text, display_path(name), nullptr);
    return loader.finish();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidInput, name + ": " + e.what());
  }
}

}  // namespace tollgate::policy
