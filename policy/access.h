// What kind of access an open is, for `coverage: full`: the file's content
// kind (learned once per inode from its first bytes) and the opener's
// executable decide whether a plain open must be approved like an exec.
// Pure except file_kind_of_fd, which reads through the fd it is given.
//
//   FileKind kind = file_kind_of_fd(event_fd, st);                 // once per inode, cached
//   AccessKind access = classify_open(kind, "/usr/bin/python3.11", coverage);
//   // access == AccessKind::kScript: decided like a script (script_trust)
//
// The rules (docs/threat-model.md, "Coverage"):
//   exec     the kernel's exec open (FAN_OPEN_EXEC_PERM); not classified here
//   loader   the opener's executable is the dynamic loader (ld-linux*.so*,
//            ld-musl*) and the file is ELF: approved exactly like an exec
//   library  an ELF shared object (ET_DYN that is not a PIE executable),
//            whoever opens it: approved by hash, signer or path rule
//   script   the opener's executable matches `interpreters` and the file is
//            not ELF: approved by hash, signer or path rule, or (script_trust
//            hash_or_safe_path) on a root-owned, non-writable chain
//   open     everything else: allowed, never hashed
//
// A script is whatever regular, non-empty file an interpreter opens that is
// not ELF (`> /tmp/out` creates an empty file: nothing in it can run; a FIFO
// is a stream, like stdin), whatever its
// first bytes say: interpreters run files without a shebang (python3 x.py),
// and their compiled or packed forms (.pyc, a zip for python, a phar) are
// binary, so content cannot tell a script from data.
//
// How a PIE executable is told from a shared library (both ET_DYN): a PIE
// carries DF_1_PIE in DT_FLAGS_1 (set by every linker since binutils 2.26
// and by gcc -pie). glibc (since 2.30) refuses to load such an object as a
// library ("cannot dynamically load position-independent executable") for
// dlopen, LD_PRELOAD and DT_NEEDED alike, so reading it with cp, sha256sum
// or tar is allowed without opening a way to load it. An ET_DYN object
// without DF_1_PIE, or whose dynamic section cannot be read, is a library
// (fail closed). ET_EXEC cannot be loaded as a library at all.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::policy {

enum class AccessKind : uint8_t { kExec, kLoader, kLibrary, kScript, kOpen };
std::string_view to_string(AccessKind kind);
std::optional<AccessKind> parse_access_kind(std::string_view name);

// What the first bytes of a file say it is.
enum class FileKind : uint8_t {
  kNoContent,      // empty (a file being created), or not a regular file (FIFO, device): nothing to hash
  kOther,          // not ELF, or ELF that cannot be loaded (ET_REL, ET_CORE)
  kElfExecutable,  // ET_EXEC, or ET_DYN with DF_1_PIE
  kElfShared,      // ET_DYN without DF_1_PIE (or whose flags cannot be read)
};
std::string_view to_string(FileKind kind);

// Reads `size` bytes at `offset` into `out`; returns how many were read
// (fewer at end of file or on error).
class ByteReader {
 public:
  virtual ~ByteReader() = default;
  virtual size_t read_at(uint64_t offset, std::span<unsigned char> out) = 0;
};

// The kind of the content `reader` gives (at most a 64-byte header, the
// program headers and the dynamic section are read, each bounded).
FileKind classify_content(ByteReader& reader);
// classify_content through pread on `fd`; kNoContent for an empty file and
// for anything that is not a regular file (never read: a FIFO or device is
// not touched).
FileKind file_kind_of_fd(int fd, const struct stat& st);

// How far an interpreter's script is trusted without an approval.
enum class ScriptTrust : uint8_t { kHash, kHashOrSafePath };
std::string_view to_string(ScriptTrust trust);
std::optional<ScriptTrust> parse_script_trust(std::string_view name);

// The coverage settings that classify and decide opens (config keys
// `interpreters`, `script_trust`, `library_readers`).
struct OpenRules {
  // Glob patterns (* and ?) for the opener's executable: matched against the
  // whole path when the pattern contains '/', else against its basename.
  std::vector<std::string> interpreters = default_interpreters();
  ScriptTrust script_trust = ScriptTrust::kHashOrSafePath;
  // Readers (backup, scanners) that may open unapproved libraries: their
  // library opens are allowed without a decision (rule library-reader:PATTERN).
  std::vector<std::string> library_readers;

  static std::vector<std::string> default_interpreters();
};

// The dynamic loader's names (ld-linux*.so*, ld-musl*).
inline constexpr std::string_view kLoaderPatterns[] = {"ld-linux*.so*", "ld-musl*"};

// Glob match: '*' any run of characters, '?' one character; nothing else is
// special. No allocation.
bool glob_match(std::string_view pattern, std::string_view text);
// The first of `patterns` that `exe` matches (see OpenRules), or nullptr.
const std::string* match_executable(const std::vector<std::string>& patterns, std::string_view exe);
bool is_loader(std::string_view exe);

// The kind of a plain open (not the exec open) of a file of kind `kind` by a
// process whose executable is `opener_exe` (empty when unknown: neither a
// loader nor an interpreter).
AccessKind classify_open(FileKind kind, std::string_view opener_exe, const OpenRules& rules);

}  // namespace tollgate::policy
