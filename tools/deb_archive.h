// Reading a Debian package without unpacking it (`tollgate trust-debs`,
// `tollgate approve --deb`): its control fields (`dpkg-deb --field`) and,
// as a stream, the regular files of its data archive (`dpkg-deb
// --fsys-tarfile`, parsed here as tar), hashed as they pass. Nothing is
// written to disk.
//
//   auto deb = read_deb("/var/cache/apt/archives/bash_5.2-1_amd64.deb",
//                       [](const std::string& path, mode_t mode, std::string_view head) { return true; });
//   if (!deb) ... deb.error().message(): one line naming the file
//   for (const auto& f : deb->files) ... f.path ("/usr/bin/bash"), f.sha256
//
// Thread-safety: no shared state; read_deb runs dpkg-deb as a child.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "hashdb/sha256.h"

namespace tollgate::tools {

// A tar stream (ustar, GNU long names and base-256 sizes, pax `path`,
// `linkpath` and `size` records), read forward only.
class TarStream {
 public:
  // Fills the span; returns the bytes read, 0 at the end of the input.
  using Reader = std::function<Result<size_t>(std::span<std::byte>)>;
  struct Entry {
    std::string path;  // as in the archive ("./usr/bin/x")
    char type = '0';   // '0' regular, '1' hard link, '2' symlink, '5' directory, ...
    mode_t mode = 0;   // permission bits
    uint64_t size = 0;
    std::string link;  // hard and symbolic links: the target
  };
  TarStream(Reader read, std::string name);
  // The next entry, skipping what is left of the current one's content;
  // nullopt at the end of the archive. kCorrupt naming the stream on a
  // damaged or truncated header.
  Result<std::optional<Entry>> next();
  // Up to buf.size() bytes of the current entry's content; 0 at its end.
  Result<size_t> read(std::span<std::byte> buf);

 private:
  Result<size_t> fill(std::span<std::byte> out);  // exactly out.size() bytes, or kCorrupt
  Status skip(uint64_t bytes);
  Reader read_;
  std::string name_;
  uint64_t left_ = 0;     // content bytes of the current entry not yet read
  uint64_t padding_ = 0;  // then its padding to the next 512-byte block
};

// "./usr/bin/x" -> "/usr/bin/x"; "" for the archive's root directory.
std::string installed_path(std::string_view tar_path);

struct DebInfo {
  std::string package, version, architecture;
};
struct DebFile {
  std::string path;  // absolute, as dpkg will install it
  mode_t mode = 0;
  uint64_t size = 0;
  hashdb::Sha256 sha256{};
};
struct DebContents {
  DebInfo info;
  std::vector<DebFile> files;  // the regular files `want` selected (and hard links to them)
  uint64_t bytes = 0;          // content bytes read from the data archive
};

// Selects a regular file: its installed path, mode and first bytes.
using WantFile = std::function<bool(const std::string& path, mode_t mode, std::string_view head)>;

// How many first bytes of a file `want` is given (at least; fewer only for a
// shorter file): enough for the ELF and "#!" magic the dpkg trust source
// looks at (policy::file_matches).
inline constexpr size_t kHeadBytes = 64;

// The regular files of `tar` that `want` selects, hashed, and the hard
// links to them, in archive order (read_deb's core). `name` names the
// stream in errors; `bytes` (optional) grows by the content bytes read.
Result<std::vector<DebFile>> hash_tar_files(TarStream& tar, const WantFile& want, const std::string& name,
                                            uint64_t* bytes = nullptr);

// Reads the package `deb` with dpkg-deb (found in PATH). A file that is not
// a readable package is an error naming it, with dpkg-deb's own reason.
Result<DebInfo> read_deb_info(const std::string& deb);
Result<DebContents> read_deb(const std::string& deb, const WantFile& want);

}  // namespace tollgate::tools
