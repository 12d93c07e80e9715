#include "policy/access.h"

#include <elf.h>
#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace tollgate::policy {
namespace {

constexpr std::array<std::pair<AccessKind, std::string_view>, 5> kAccessNames = {{
    {AccessKind::kExec, "exec"},
    {AccessKind::kLoader, "loader"},
    {AccessKind::kLibrary, "library"},
    {AccessKind::kScript, "script"},
    {AccessKind::kOpen, "open"},
}};

// Bounds on what is read of an attacker's file: the program header table and
// the dynamic section are small in every real object.
constexpr uint64_t kMaxProgramHeaders = 256;
constexpr uint64_t kMaxDynamicBytes = 64 * 1024;

// ELF fields in the file's own class and byte order.
class ElfView {
 public:
  ElfView(ByteReader& reader, bool is64, bool little) : reader_(reader), is64_(is64), little_(little) {}

  std::optional<uint64_t> word(uint64_t offset, size_t size) {
    std::array<unsigned char, 8> b{};
    if (reader_.read_at(offset, std::span(b.data(), size)) != size) return std::nullopt;
    uint64_t v = 0;
    for (size_t i = 0; i < size; ++i) v |= uint64_t{b[little_ ? i : size - 1 - i]} << (8 * i);
    return v;
  }
  size_t addr() const { return is64_ ? 8 : 4; }

  // DF_1_PIE in DT_FLAGS_1 of the PT_DYNAMIC segment; nullopt = unreadable.
  std::optional<bool> is_pie() {
    auto phoff = word(is64_ ? 32 : 28, addr());
    auto phentsize = word(is64_ ? 54 : 42, 2);
    auto phnum = word(is64_ ? 56 : 44, 2);
    if (!phoff || !phentsize || !phnum || *phnum > kMaxProgramHeaders) return std::nullopt;
    if (*phentsize < (is64_ ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) return std::nullopt;
    for (uint64_t i = 0; i < *phnum; ++i) {
      const uint64_t ph = *phoff + i * *phentsize;
      auto type = word(ph, 4);
      if (!type) return std::nullopt;
      if (*type != PT_DYNAMIC) continue;
      auto offset = word(ph + (is64_ ? 8 : 4), addr());
      auto filesz = word(ph + (is64_ ? 32 : 16), addr());
      if (!offset || !filesz) return std::nullopt;
      return dynamic_has_pie(*offset, std::min(*filesz, kMaxDynamicBytes));
    }
    return false;  // no dynamic section: nothing marks it a PIE
  }

 private:
  std::optional<bool> dynamic_has_pie(uint64_t offset, uint64_t size) {
    const uint64_t entry = 2 * addr();
    for (uint64_t at = offset; at + entry <= offset + size; at += entry) {
      auto tag = word(at, addr());
      auto value = word(at + addr(), addr());
      if (!tag || !value) return std::nullopt;
      if (*tag == DT_NULL) break;
      if (*tag == DT_FLAGS_1) return (*value & DF_1_PIE) != 0;
    }
    return false;
  }

  ByteReader& reader_;
  bool is64_;
  bool little_;
};

class FdReader final : public ByteReader {
 public:
  explicit FdReader(int fd) : fd_(fd) {}
  size_t read_at(uint64_t offset, std::span<unsigned char> out) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

 private:
  int fd_;
};

std::string_view basename_of(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::string_view to_string(AccessKind kind) {
  for (const auto& [k, name] : kAccessNames)
    if (k == kind) return name;
  return "open";
}

std::optional<AccessKind> parse_access_kind(std::string_view name) {
  for (const auto& [k, n] : kAccessNames)
    if (n == name) return k;
  return std::nullopt;
}

std::string_view to_string(FileKind kind) {
  switch (kind) {
    case FileKind::kElfExecutable: return "elf-executable";
    case FileKind::kElfShared: return "elf-shared";
    case FileKind::kNoContent: return "no-content";
    case FileKind::kOther: break;
  }
  return "other";
}

FileKind classify_content(ByteReader& reader) {
  std::array<unsigned char, EI_NIDENT + 4> head{};
  if (reader.read_at(0, head) != head.size()) return FileKind::kOther;
  if (head[EI_MAG0] != ELFMAG0 || head[EI_MAG1] != ELFMAG1 || head[EI_MAG2] != ELFMAG2 || head[EI_MAG3] != ELFMAG3)
    return FileKind::kOther;
  const bool is64 = head[EI_CLASS] == ELFCLASS64;
  const bool little = head[EI_DATA] == ELFDATA2LSB;
  // An unknown class or byte order: no loader takes it as is, but an object
  // we cannot read is treated as the riskier kind.
  if ((!is64 && head[EI_CLASS] != ELFCLASS32) || (!little && head[EI_DATA] != ELFDATA2MSB)) return FileKind::kElfShared;
  ElfView elf(reader, is64, little);
  auto type = elf.word(16, 2);
  if (!type) return FileKind::kElfShared;
  if (*type == ET_EXEC) return FileKind::kElfExecutable;
  if (*type != ET_DYN) return FileKind::kOther;  // ET_REL, ET_CORE: never mapped by the loader
  auto pie = elf.is_pie();
  return pie && *pie ? FileKind::kElfExecutable : FileKind::kElfShared;
}

FileKind file_kind_of_fd(int fd, const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_size == 0) return FileKind::kNoContent;
  FdReader reader(fd);
  return classify_content(reader);
}

std::string_view to_string(ScriptTrust trust) { return trust == ScriptTrust::kHash ? "hash" : "hash_or_safe_path"; }

std::optional<ScriptTrust> parse_script_trust(std::string_view name) {
  if (name == "hash") return ScriptTrust::kHash;
  if (name == "hash_or_safe_path") return ScriptTrust::kHashOrSafePath;
  return std::nullopt;
}

std::vector<std::string> OpenRules::default_interpreters() {
  return {"python*", "perl*", "ruby*", "node", "php*", "bash", "sh", "dash", "zsh", "ksh", "busybox", "lua*", "tclsh*"};
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative with one backtrack point: linear for patterns with single stars.
  size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const std::string* match_executable(const std::vector<std::string>& patterns, std::string_view exe) {
  if (exe.empty()) return nullptr;
  for (const auto& pattern : patterns) {
    const bool whole = pattern.find('/') != std::string::npos;
    if (glob_match(pattern, whole ? exe : basename_of(exe))) return &pattern;
  }
  return nullptr;
}

bool is_loader(std::string_view exe) {
  if (exe.empty()) return false;
  const auto name = basename_of(exe);
  return std::any_of(std::begin(kLoaderPatterns), std::end(kLoaderPatterns),
                     [&](std::string_view p) { return glob_match(p, name); });
}

AccessKind classify_open(FileKind kind, std::string_view opener_exe, const OpenRules& rules) {
  if (kind == FileKind::kNoContent) return AccessKind::kOpen;
  const bool elf = kind == FileKind::kElfExecutable || kind == FileKind::kElfShared;
  if (elf && is_loader(opener_exe)) return AccessKind::kLoader;
  if (kind == FileKind::kElfShared) return AccessKind::kLibrary;
  if (kind == FileKind::kOther && match_executable(rules.interpreters, opener_exe)) return AccessKind::kScript;
  return AccessKind::kOpen;
}

}  // namespace tollgate::policy
