// Reading a Debian package without unpacking it (`tollgate trust-debs`,
// `tollgate approve --deb`): as streams, parsed here as tar and hashed as
// they pass, its control archive (`dpkg-deb --ctrl-tarfile`: the control
// fields and the maintainer scripts) and the regular files of its data
// archive (`dpkg-deb --fsys-tarfile`). Nothing is written to disk.
//
//   auto deb = read_deb("/var/cache/apt/archives/bash_5.2-1_amd64.deb",
//                       [](const std::string& path, mode_t mode, std::string_view head) { return true; });
//   if (!deb) ... deb.error().message(): one line naming the file
//   for (const auto& f : deb->files) ... f.path ("/usr/bin/bash"), f.sha256
//   for (const auto& s : deb->scripts) ... s.path ("postinst"), s.sha256
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
// What a control archive holds for trust: the package's fields and its
// maintainer scripts (policy::kMaintainerScripts at the archive's top
// level; path is the name, "postinst"), hashed whatever their content:
// dpkg executes them as they are.
struct DebControl {
  DebInfo info;
  std::vector<DebFile> scripts;
};
struct DebContents {
  DebInfo info;
  std::vector<DebFile> scripts;  // as in DebControl
  std::vector<DebFile> files;    // the regular files `want` selected (and hard links to them)
  uint64_t bytes = 0;            // content bytes read from the data archive
  bool data_read = false;        // false: `take` declined the package, `files` is empty
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

// The largest control file read_control_tar accepts (dpkg's own are a few KiB).
inline constexpr uint64_t kMaxControlFile = 1u << 20;

// The control archive `tar` (read_deb's core for it): ./control's Package,
// Version and Architecture, and the maintainer scripts. No control file, or
// one without Package or Version, is kInvalidInput naming `name`.
Result<DebControl> read_control_tar(TarStream& tar, const std::string& name);

// Whether to read on into a package's data archive, given its fields.
using WantPackage = std::function<bool(const DebInfo&)>;

// Reads the package `deb` with dpkg-deb (found in PATH): the control
// archive, then, unless `take` declines the package, the data archive. A
// file that is not a readable package is an error naming it, with
// dpkg-deb's own reason.
Result<DebContents> read_deb(const std::string& deb, const WantFile& want, const WantPackage& take = {});

}  // namespace tollgate::tools
