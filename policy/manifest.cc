#include "policy/manifest.h"

#include <glob.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <map>
#include <set>
#include <span>

#include "common/io.h"
#include "common/time.h"
#include "hashdb/sha256.h"
#include "policy/yaml_util.h"

namespace tollgate::policy {
namespace {

namespace fs = std::filesystem;

// Backing arrays of namespace-scope initializer lists live as long as the
// lists, so these can be handed to check_keys/closest_match.
const std::initializer_list<std::string_view> kTopKeys = {"version", "name", "description", "include", "allow", "deny"};
const std::initializer_list<std::string_view> kIncludeKeys = {"path", "optional"};
const std::initializer_list<std::string_view> kMatchValues = {"executables", "elf", "all"};
constexpr std::array<EntryKind, 7> kAllKinds = {EntryKind::kFile,  EntryKind::kDir,        EntryKind::kSha256,
                                                EntryKind::kPath,  EntryKind::kPathPrefix, EntryKind::kPackageManager,
                                                EntryKind::kSigner};

// Kinds as bits, for the table of entry keys.
constexpr unsigned bit(EntryKind kind) { return 1u << static_cast<unsigned>(kind); }
constexpr unsigned kEveryKind = (1u << kAllKinds.size()) - 1;

std::optional<EntryKind> kind_from_key(std::string_view key) {
  for (EntryKind kind : kAllKinds)
    if (to_string(kind) == key) return kind;
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
  if (base.empty() ||
      !(std::islower(static_cast<unsigned char>(base[0])) || std::isdigit(static_cast<unsigned char>(base[0]))))
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
    bool bad = false;
    auto kind = entry_kind(node, file, bad);
    if (!kind) return;
    Entry e;
    e.kind = kind->first;
    e.action = action;
    e.where = location_of(file, node.Mark());
    if (action == hashdb::Action::kDeny && (e.kind == EntryKind::kSigner || e.kind == EntryKind::kPackageManager)) {
      error(file, kind->second, "'" + std::string(to_string(e.kind)) + "' entries can only be allowed, not denied");
      bad = true;
    }
    if (!parse_entry_keys(e, node, file, bad)) bad = true;
    if (!bad) manifest_.entries.push_back(std::move(e));
  }

  // The kind: exactly one kind key, and where it was written. nullopt when
  // there is none (reported); a second one is reported and sets `bad`.
  std::optional<std::pair<EntryKind, YAML::Node>> entry_kind(const YAML::Node& node, const std::string& file,
                                                             bool& bad) {
    std::optional<std::pair<EntryKind, YAML::Node>> kind;
    for (const auto& item : node) {
      auto k = kind_from_key(item.first.Scalar());
      if (!k) continue;
      if (kind) {
        error(file, item.first,
              "an entry has exactly one kind; '" + item.first.Scalar() + "' conflicts with '" +
                  std::string(to_string(kind->first)) + "' at " + location_of(file, kind->second.Mark()).to_string());
        bad = true;
        continue;
      }
      kind.emplace(*k, item.first);
    }
    if (kind) return kind;
    size_t before = diag_.count();
    check_keys(node, file, key_names(kEveryKind), diag_);
    if (diag_.count() == before)
      error(file, node, "the entry needs one of: file, dir, sha256, path, path_prefix, package_manager, signer");
    return std::nullopt;
  }

  // Every key of the entry, read through its EntryKey; false when any is
  // duplicated, unknown, not for this kind or invalid (each reported). The
  // allow_writable/reason pairing is checked only on an entry without other
  // errors (`bad`).
  bool parse_entry_keys(Entry& e, const YAML::Node& node, const std::string& file, bool bad) {
    bool ok = true;
    std::set<std::string> seen;
    // Where allow_writable / reason were written (null: absent).
    std::optional<YAML::Node> writable_key, reason_key;
    for (const auto& item : node) {
      const std::string key = item.first.Scalar();
      if (!seen.insert(key).second) {
        error(file, item.first, "duplicate key '" + key + "'");
        ok = false;
        continue;
      }
      if (key == "allow_writable") writable_key = item.first;
      if (key == "reason") reason_key = item.first;
      const EntryKey* spec = find_entry_key(key);
      if (!spec || !(spec->kinds & bit(e.kind))) {
        ok = false;
        if (!kind_from_key(key)) report_misplaced_key(e.kind, item.first, spec != nullptr, file);  // kinds: above
        continue;
      }
      if (!(this->*spec->parse)(e, {item.second, file, spec->name})) ok = false;
    }
    return ok && (bad || check_allow_writable(e, writable_key, reason_key, file));
  }

  void report_misplaced_key(EntryKind kind, const YAML::Node& key, bool known, const std::string& file) {
    if (known) {
      error(file, key, "'" + key.Scalar() + "' does not apply to a '" + std::string(to_string(kind)) + "' entry");
      return;
    }
    std::string msg = "unknown key '" + key.Scalar() + "'";
    if (auto hint = closest_match(key.Scalar(), key_names(bit(kind)))) msg += "; did you mean '" + *hint + "'?";
    error(file, key, msg);
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

  // One value of an entry being read.
  struct Value {
    const YAML::Node& node;
    const std::string& file;
    std::string_view key;
  };
  using Parser = bool (Loader::*)(Entry&, const Value&);
  // A key an entry may carry: the kinds it applies to, and how its value is read.
  struct EntryKey {
    std::string_view name;
    unsigned kinds;
    Parser parse;
  };

  // Every entry key, in the order suggestions and per-kind lists use: the
  // kind keys, the kind-specific ones, then the keys every entry may carry.
  static std::span<const EntryKey> entry_keys() {
    static const EntryKey kKeys[] = {
        {"file", bit(EntryKind::kFile), &Loader::parse_path},
        {"dir", bit(EntryKind::kDir), &Loader::parse_path},
        {"sha256", bit(EntryKind::kSha256), &Loader::parse_sha256},
        {"path", bit(EntryKind::kPath), &Loader::parse_path},
        {"path_prefix", bit(EntryKind::kPathPrefix), &Loader::parse_path_prefix},
        {"package_manager", bit(EntryKind::kPackageManager), &Loader::parse_package_manager},
        {"signer", bit(EntryKind::kSigner), &Loader::parse_signer},
        {"optional", bit(EntryKind::kFile), &Loader::parse_optional},
        {"recursive", bit(EntryKind::kDir), &Loader::parse_recursive},
        {"match", bit(EntryKind::kDir), &Loader::parse_match},
        {"exclude", bit(EntryKind::kDir), &Loader::parse_exclude},
        {"packages", bit(EntryKind::kPackageManager), &Loader::parse_packages},
        {"origin", bit(EntryKind::kSha256), &Loader::parse_origin},
        {"allow_writable", bit(EntryKind::kFile) | bit(EntryKind::kDir), &Loader::parse_allow_writable},
        {"reason", bit(EntryKind::kFile) | bit(EntryKind::kDir), &Loader::parse_reason},
        // Common to every kind.
        {"label", kEveryKind, &Loader::parse_label},
        {"owner", kEveryKind, &Loader::parse_owner},
        {"ticket", kEveryKind, &Loader::parse_ticket},
        {"expires", kEveryKind, &Loader::parse_expires},
        {"approved_by", kEveryKind, &Loader::parse_approved_by},
        {"approved_at", kEveryKind, &Loader::parse_approved_at},
    };
    return kKeys;
  }

  static const EntryKey* find_entry_key(std::string_view name) {
    for (const auto& k : entry_keys())
      if (k.name == name) return &k;
    return nullptr;
  }

  // The key names valid for `kinds` (every kind's keys: kEveryKind), in table order.
  static const std::vector<std::string_view>& key_names(unsigned kinds) {
    static const auto lists = [] {
      std::array<std::vector<std::string_view>, kAllKinds.size() + 1> out;
      for (const auto& k : entry_keys()) {
        out.back().push_back(k.name);
        for (size_t i = 0; i < kAllKinds.size(); ++i)
          if (k.kinds & bit(kAllKinds[i])) out[i].push_back(k.name);
      }
      return out;
    }();
    for (size_t i = 0; i < kAllKinds.size(); ++i)
      if (kinds == bit(kAllKinds[i])) return lists[i];
    return lists.back();
  }

  std::optional<std::string> read_text(const Value& v) { return read_string(v.node, v.file, v.key, diag_); }

  bool read_into(const Value& v, std::string& out) {
    auto s = read_text(v);
    if (s) out = *s;
    return s.has_value();
  }

  bool read_flag(const Value& v, bool& out) {
    auto b = read_bool(v.node, v.file, v.key, diag_);
    if (b) out = *b;
    return b.has_value();
  }

  // file:, dir:, path: an absolute, normalised path.
  bool parse_path(Entry& e, const Value& v) {
    auto p = absolute_path(v.node, v.file, v.key);
    if (p) e.value = *p;
    return p.has_value();
  }

  bool parse_path_prefix(Entry& e, const Value& v) {
    auto p = absolute_path(v.node, v.file, v.key);
    if (!p) return false;
    e.value = *p == "/" ? *p : *p + "/";
    return true;
  }

  bool parse_sha256(Entry& e, const Value& v) {
    auto s = read_text(v);
    if (!s) return false;
    auto digest = hashdb::sha256_from_hex(*s);
    if (!digest) {
      error(v.file, v.node, "'sha256' must be 64 hex digits (got '" + *s + "')");
      return false;
    }
    e.value = hashdb::to_hex(*digest);
    return true;
  }

  bool parse_package_manager(Entry& e, const Value& v) {
    auto s = read_text(v);
    if (!s) return false;
    if (*s != "dpkg") {
      error(v.file, v.node, "unsupported package manager '" + *s + "'; supported: dpkg");
      return false;
    }
    e.value = *s;
    return true;
  }

  bool parse_signer(Entry& e, const Value& v) {
    auto s = read_text(v);
    if (!s) return false;
    if (s->empty()) {
      error(v.file, v.node, "'signer' must name a public key file");
      return false;
    }
    e.value = s->front() == '/' ? *s : display_path(parent_dir(v.file) + "/" + *s);
    return true;
  }

  bool parse_optional(Entry& e, const Value& v) { return read_flag(v, e.optional); }
  bool parse_recursive(Entry& e, const Value& v) { return read_flag(v, e.recursive); }
  bool parse_allow_writable(Entry& e, const Value& v) { return read_flag(v, e.allow_writable); }

  bool parse_reason(Entry& e, const Value& v) {
    if (!read_into(v, e.writable_reason)) return false;
    if (e.writable_reason.find_first_not_of(" \t") != std::string::npos) return true;
    error(v.file, v.node, "'reason' must not be empty");
    return false;
  }

  bool parse_match(Entry& e, const Value& v) {
    auto s = read_text(v);
    if (!s) return false;
    if (*s == "executables") e.match = DirMatch::kExecutables;
    else if (*s == "elf") e.match = DirMatch::kElf;
    else if (*s == "all") e.match = DirMatch::kAll;
    else {
      std::string msg = "'match' must be executables, elf or all (got '" + *s + "')";
      if (auto hint = closest_match(*s, kMatchValues)) msg += "; did you mean '" + *hint + "'?";
      error(v.file, v.node, msg);
      return false;
    }
    return true;
  }

  bool parse_exclude(Entry& e, const Value& v) {
    auto list = string_list(v.node, v.file, v.key);
    if (list) e.exclude = std::move(*list);
    return list.has_value();
  }

  bool parse_packages(Entry& e, const Value& v) {
    auto list = string_list(v.node, v.file, v.key);
    if (!list) return false;
    for (const auto& name : *list) {
      if (!valid_package_name(name)) {
        error(v.file, v.node, "'" + name + "' is not a Debian package name");
        return false;
      }
    }
    e.packages = std::move(*list);
    return true;
  }

  bool parse_origin(Entry& e, const Value& v) {
    auto p = absolute_path(v.node, v.file, v.key);
    if (p) e.origin = *p;
    return p.has_value();
  }

  // expires / approved_at: an RFC 3339 date, kept as written.
  std::optional<std::pair<std::string, int64_t>> read_date(const Value& v) {
    auto s = read_text(v);
    if (!s) return std::nullopt;
    auto t = parse_rfc3339(*s);
    if (!t) {
      error(v.file, v.node,
            "'" + std::string(v.key) + "' must be an RFC 3339 date such as 2026-12-31 or 2026-12-31T23:59:59Z (got '" +
                *s + "')");
      return std::nullopt;
    }
    return std::pair{*s, *t};
  }

  bool parse_expires(Entry& e, const Value& v) {
    auto date = read_date(v);
    if (!date) return false;
    e.expires = date->first;
    e.expires_at = date->second;
    return true;
  }

  bool parse_approved_at(Entry& e, const Value& v) {
    auto date = read_date(v);
    if (date) e.approved_at = date->first;
    return date.has_value();
  }

  bool parse_label(Entry& e, const Value& v) {
    if (!read_into(v, e.label)) return false;
    // The compiler marks rules it verified against dpkg's md5sums with
    // "dpkg:PACKAGE" labels and trusts that mark on the next compile.
    if (e.label.find("dpkg:") == std::string::npos) return true;
    error(v.file, v.node, "'label' may not contain 'dpkg:' (reserved for rules of the dpkg trust source)");
    return false;
  }

  bool parse_owner(Entry& e, const Value& v) { return read_into(v, e.owner); }
  bool parse_ticket(Entry& e, const Value& v) { return read_into(v, e.ticket); }
  bool parse_approved_by(Entry& e, const Value& v) { return read_into(v, e.approved_by); }

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
        diag_.add_plain(
            e.where.to_string() + ": hash " + e.value + " is " +
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

std::string Location::to_string() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column); }

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
