// policy/access.h: the content kind from the first bytes (synthetic ELF
// images, no toolchain needed), glob matching and the classification of an
// open by its opener.
#include "policy/access.h"

#include <doctest/doctest.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

namespace {

class SpanReader final : public ByteReader {
 public:
  explicit SpanReader(const std::vector<unsigned char>& bytes) : bytes_(bytes) {}
  size_t read_at(uint64_t offset, std::span<unsigned char> out) override {
    if (offset >= bytes_.size()) return 0;
    const size_t n = std::min<size_t>(out.size(), bytes_.size() - offset);
    std::memcpy(out.data(), bytes_.data() + offset, n);
    return n;
  }

 private:
  const std::vector<unsigned char>& bytes_;
};

// A 64-bit little-endian ELF: header, one program header (PT_DYNAMIC when
// `dynamic`) and a dynamic section with DT_FLAGS_1 = `flags_1` (when set).
struct ElfImage {
  uint16_t type = ET_DYN;
  bool dynamic = true;
  std::optional<uint64_t> flags_1;
  uint64_t phnum = 1;
  size_t truncate_to = 0;  // 0 = whole image

  std::vector<unsigned char> bytes() const {
    std::vector<unsigned char> out(4096, 0);
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = type;
    eh.e_machine = EM_X86_64;
    eh.e_phoff = sizeof eh;
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(phnum);
    std::memcpy(out.data(), &eh, sizeof eh);
    Elf64_Phdr ph{};
    ph.p_type = dynamic ? PT_DYNAMIC : PT_LOAD;
    ph.p_offset = 1024;
    ph.p_filesz = 4 * sizeof(Elf64_Dyn);
    std::memcpy(out.data() + sizeof eh, &ph, sizeof ph);
    std::vector<Elf64_Dyn> dyn = {{DT_NEEDED, {1}}};
    if (flags_1) dyn.push_back({DT_FLAGS_1, {*flags_1}});
    dyn.push_back({DT_NULL, {0}});
    std::memcpy(out.data() + 1024, dyn.data(), dyn.size() * sizeof(Elf64_Dyn));
    if (truncate_to) out.resize(truncate_to);
    return out;
  }
};

FileKind kind_of(const std::vector<unsigned char>& bytes) {
  SpanReader reader(bytes);
  return classify_content(reader);
}

std::vector<unsigned char> text(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_SUITE("policy.access") {
  TEST_CASE("the content kind: PIE executables and ET_EXEC are executables, other ET_DYN objects are libraries") {
    struct Case {
      const char* name;
      ElfImage image;
      FileKind want;
    };
    const Case cases[] = {
        {"ET_DYN with DF_1_PIE (a PIE executable)", {.flags_1 = DF_1_PIE | DF_1_NOW}, FileKind::kElfExecutable},
        {"ET_DYN with other DT_FLAGS_1 bits", {.flags_1 = DF_1_NOW}, FileKind::kElfShared},
        {"ET_DYN without DT_FLAGS_1", {}, FileKind::kElfShared},
        {"ET_DYN without a dynamic section", {.dynamic = false}, FileKind::kElfShared},
        {"ET_EXEC", {.type = ET_EXEC}, FileKind::kElfExecutable},
        {"ET_REL (an object file)", {.type = ET_REL}, FileKind::kOther},
        {"ET_CORE", {.type = ET_CORE}, FileKind::kOther},
        // Fail closed: an ET_DYN whose flags cannot be read is a library.
        {"ET_DYN cut off before its dynamic section", {.flags_1 = DF_1_PIE, .truncate_to = 600}, FileKind::kElfShared},
        {"ET_DYN claiming an absurd number of program headers",
         {.flags_1 = DF_1_PIE, .phnum = 60000},
         FileKind::kElfShared},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      CHECK(kind_of(c.image.bytes()) == c.want);
    }
  }

  TEST_CASE("not ELF: scripts, data, short and empty files are 'other'") {
    CHECK(kind_of(text("#!/bin/sh\necho hi\n")) == FileKind::kOther);
    CHECK(kind_of(text("print('hi')\n")) == FileKind::kOther);
    CHECK(kind_of(text("\x7f"
                       "ELF")) == FileKind::kOther);  // too short for a header
    CHECK(kind_of({}) == FileKind::kOther);
  }

  TEST_CASE("an ELF image with an unknown class is treated as a library") {
    auto bytes = ElfImage{.flags_1 = DF_1_PIE}.bytes();
    bytes[EI_CLASS] = 7;
    CHECK(kind_of(bytes) == FileKind::kElfShared);
  }

  TEST_CASE("file_kind_of_fd reads a file through its fd and never reads a FIFO") {
    testing::TempDir dir;
    const auto bytes = ElfImage{.flags_1 = DF_1_PIE}.bytes();
    const std::string path = dir.file("pie");
    testing::write_text(path, std::string(bytes.begin(), bytes.end()), 0755);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    struct stat st {};
    REQUIRE(::fstat(fd.get(), &st) == 0);
    CHECK(file_kind_of_fd(fd.get(), st) == FileKind::kElfExecutable);
    testing::write_text(dir.file("empty"), "");
    UniqueFd empty(::open(dir.file("empty").c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(::fstat(empty.get(), &st) == 0);
    CHECK(file_kind_of_fd(empty.get(), st) == FileKind::kNoContent);

    REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
    UniqueFd fifo(::open(dir.file("fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    REQUIRE(fifo);
    REQUIRE(::fstat(fifo.get(), &st) == 0);
    CHECK(file_kind_of_fd(fifo.get(), st) == FileKind::kNoContent);
  }

  TEST_CASE("glob patterns: '*' and '?' only") {
    struct Case {
      const char* pattern;
      const char* text;
      bool want;
    };
    const Case cases[] = {
        {"python*", "python3.11", true},
        {"python*", "python", true},
        {"python*", "ipython3", false},
        {"sh", "sh", true},
        {"sh", "bash", false},
        {"ld-linux*.so*", "ld-linux-x86-64.so.2", true},
        {"ld-linux*.so*", "ld-linux", false},
        {"lua?.?", "lua5.4", true},
        {"*", "", true},
        {"a*b*c", "aXbYbZc", true},
        {"a*b*c", "aXbYbZ", false},
        {"", "x", false},
    };
    for (const auto& c : cases) {
      CAPTURE(c.pattern);
      CAPTURE(c.text);
      CHECK(glob_match(c.pattern, c.text) == c.want);
    }
  }

  TEST_CASE("executables match by basename, or by the whole path when the pattern has a '/'") {
    const std::vector<std::string> patterns = {"perl*", "/opt/backup/bin/*"};
    CHECK(match_executable(patterns, "/usr/bin/perl5.36.0") == &patterns[0]);
    CHECK(match_executable(patterns, "/opt/backup/bin/borg") == &patterns[1]);
    CHECK(match_executable(patterns, "/usr/local/bin/borg") == nullptr);
    CHECK(match_executable(patterns, "") == nullptr);
    CHECK(is_loader("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
    CHECK(is_loader("/lib/ld-musl-x86_64.so.1"));
    CHECK_FALSE(is_loader("/usr/bin/ld"));
    CHECK_FALSE(is_loader(""));
  }

  TEST_CASE("classify_open: the rules of docs/threat-model.md, one row each") {
    const OpenRules rules;
    struct Case {
      FileKind kind;
      const char* opener;
      AccessKind want;
    };
    const Case cases[] = {
        // the loader opening any ELF object
        {FileKind::kElfExecutable, "/usr/lib64/ld-linux-x86-64.so.2", AccessKind::kLoader},
        {FileKind::kElfShared, "/usr/lib64/ld-linux-x86-64.so.2", AccessKind::kLoader},
        {FileKind::kOther, "/usr/lib64/ld-linux-x86-64.so.2", AccessKind::kOpen},
        // a shared object, whoever opens it
        {FileKind::kElfShared, "/usr/bin/cp", AccessKind::kLibrary},
        {FileKind::kElfShared, "/usr/bin/python3.11", AccessKind::kLibrary},
        {FileKind::kElfShared, "", AccessKind::kLibrary},
        // an executable read (cp, sha256sum, tar; a shell about to exec it)
        {FileKind::kElfExecutable, "/usr/bin/sha256sum", AccessKind::kOpen},
        {FileKind::kElfExecutable, "/usr/bin/bash", AccessKind::kOpen},
        // interpreters reading anything that is not ELF
        {FileKind::kOther, "/usr/bin/python3.11", AccessKind::kScript},
        {FileKind::kOther, "/usr/bin/dash", AccessKind::kScript},
        {FileKind::kOther, "/usr/bin/busybox", AccessKind::kScript},
        {FileKind::kOther, "/usr/bin/tclsh8.6", AccessKind::kScript},
        // an empty file (`> /tmp/out` from a shell): nothing to run
        {FileKind::kNoContent, "/usr/bin/bash", AccessKind::kOpen},
        {FileKind::kNoContent, "/usr/lib64/ld-linux-x86-64.so.2", AccessKind::kOpen},
        // everyone else
        {FileKind::kOther, "/usr/bin/cat", AccessKind::kOpen},
        {FileKind::kOther, "", AccessKind::kOpen},
    };
    for (const auto& c : cases) {
      CAPTURE(c.opener);
      CAPTURE(to_string(c.kind));
      CHECK(classify_open(c.kind, c.opener, rules) == c.want);
    }
    OpenRules narrow;
    narrow.interpreters = {"python3*"};
    CHECK(classify_open(FileKind::kOther, "/usr/bin/dash", narrow) == AccessKind::kOpen);
  }

  TEST_CASE("names round-trip") {
    for (auto k :
         {AccessKind::kExec, AccessKind::kLoader, AccessKind::kLibrary, AccessKind::kScript, AccessKind::kOpen})
      CHECK(parse_access_kind(to_string(k)) == k);
    CHECK_FALSE(parse_access_kind("mmap"));
    CHECK(parse_script_trust("hash") == ScriptTrust::kHash);
    CHECK(parse_script_trust("hash_or_safe_path") == ScriptTrust::kHashOrSafePath);
    CHECK_FALSE(parse_script_trust("safe"));
  }
}
