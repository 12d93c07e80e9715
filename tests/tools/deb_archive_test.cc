#include "tools/deb_archive.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "common/io.h"
#include "hashdb/sha256.h"
#include "policy/trust_sources.h"
#include "tests/support/temp_dir.h"
#include "tools/pending_trust.h"

using namespace tollgate;
using namespace tollgate::tools;
namespace fs = std::filesystem;

namespace {

// A tar file read through TarStream: every entry with its content.
struct Read {
  TarStream::Entry entry;
  std::string content;
};
Result<std::vector<Read>> read_tar(const std::string& path) {
  auto fd = open_fd(path, O_RDONLY);
  REQUIRE(fd);
  TarStream tar(
      [&](std::span<std::byte> buf) -> Result<size_t> {
        return static_cast<size_t>(std::max<ssize_t>(0, ::read(fd->get(), buf.data(), buf.size())));
      },
      path);
  std::vector<Read> out;
  for (;;) {
    auto e = tar.next();
    if (!e) return std::unexpected(e.error());
    if (!*e) return out;
    Read r{**e, {}};
    std::array<std::byte, 7> small;  // odd-sized reads
    for (;;) {
      auto n = tar.read(small);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
      r.content.append(reinterpret_cast<const char*>(small.data()), *n);
    }
    out.push_back(std::move(r));
  }
}

const std::string kPostinst = "#!/bin/sh\nset -e\nldconfig\n";
const std::string kConfig = "#!/bin/sh\n. /usr/share/debconf/confmodule\n";

std::string hex_of(const std::string& content) { return hashdb::to_hex(hashdb::sha256_bytes(content)); }

// A tar of `files` (name relative to the archive root -> content, mode),
// as dpkg-deb --ctrl-tarfile writes one ("./NAME").
std::string make_tar(testing::TempDir& dir, const std::string& name,
                     const std::map<std::string, std::pair<std::string, mode_t>>& files) {
  const std::string src = dir.file(name + ".src");
  fs::create_directories(src);
  for (const auto& [path, body] : files) {
    fs::create_directories(fs::path(src + "/" + path).parent_path());
    testing::write_text(src + "/" + path, body.first, body.second);
  }
  const std::string tar = dir.file(name + ".tar");
  auto made = testing::run({"tar", "--format", "gnu", "-C", src, "-cf", tar, "."}, 60);
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  return tar;
}

// read_control_tar over `tar`, fed `chunk` bytes per read (1: the worst
// split a pipe can make).
Result<DebControl> read_control_bytewise(const std::string& tar_file, size_t chunk = 1) {
  auto fd = open_fd(tar_file, O_RDONLY);
  REQUIRE(fd);
  TarStream tar(
      [&](std::span<std::byte> buf) -> Result<size_t> {
        return static_cast<size_t>(std::max<ssize_t>(0, ::read(fd->get(), buf.data(), std::min(chunk, buf.size()))));
      },
      tar_file);
  return read_control_tar(tar, tar_file);
}

std::string build_deb(testing::TempDir& dir) {
  const std::string root = dir.file("pkg");
  fs::create_directories(root + "/DEBIAN");
  fs::create_directories(root + "/usr/bin");
  fs::create_directories(root + "/usr/lib/x");
  fs::create_directories(root + "/usr/share/doc/tg-test");
  testing::write_text(root + "/DEBIAN/control",
                      "Package: tg-test\nVersion: 2:1.0~rc1-3\nArchitecture: all\nMaintainer: t <t@example.invalid>\n"
                      "Description: t\n");
  testing::write_text(root + "/usr/bin/tool", "#!/bin/sh\necho tool\n", 0755);
  testing::write_text(root + "/usr/bin/script-not-exec", "#!/bin/sh\n", 0644);
  testing::write_text(root + "/usr/lib/x/libx.so.1", "not really a library", 0644);
  testing::write_text(root + "/usr/share/doc/tg-test/README", "text\n", 0644);
  // Maintainer scripts, and control files that are not scripts.
  testing::write_text(root + "/DEBIAN/postinst", kPostinst, 0755);
  testing::write_text(root + "/DEBIAN/config", kConfig, 0755);
  testing::write_text(root + "/DEBIAN/templates", "Template: tg-test/q\nType: boolean\nDescription: q\n", 0644);
  testing::write_text(root + "/DEBIAN/triggers", "interest-noawait /usr/lib/x\n", 0644);
  REQUIRE(::link((root + "/usr/bin/tool").c_str(), (root + "/usr/bin/tool-link").c_str()) == 0);
  const std::string deb = dir.file("tg-test.deb");
  auto built = testing::run({"dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb}, 60);
  REQUIRE_MESSAGE(built.exit_code == 0, built.err);
  return deb;
}

}  // namespace

TEST_SUITE("tools.deb_archive") {
  TEST_CASE("installed_path: archive names become absolute paths") {
    CHECK(installed_path("./usr/bin/x") == "/usr/bin/x");
    CHECK(installed_path("usr/bin/x") == "/usr/bin/x");
    CHECK(installed_path("./usr/lib/") == "/usr/lib");
    CHECK(installed_path("./") == "");
    CHECK(installed_path(".") == "");
  }

  TEST_CASE("TarStream reads GNU long names, pax paths and every byte of the content") {
    testing::TempDir dir;
    const std::string long_dir = std::string(60, 'd') + "/" + std::string(60, 'e');
    fs::create_directories(dir.file("src/" + long_dir));
    const std::string big(300000, 'x');
    testing::write_text(dir.file("src/" + long_dir + "/file"), big, 0755);
    testing::write_text(dir.file("src/small"), "abc", 0644);
    for (const char* format : {"gnu", "pax", "ustar"}) {
      CAPTURE(format);
      const std::string tar = dir.file(std::string(format) + ".tar");
      auto made = testing::run({"tar", "--format", format, "-C", dir.file("src"), "-cf", tar, "."}, 60);
      REQUIRE_MESSAGE(made.exit_code == 0, made.err);
      auto entries = read_tar(tar);
      REQUIRE_MESSAGE(entries, entries.error().message());
      bool saw_big = false, saw_small = false;
      for (const auto& r : *entries) {
        if (r.entry.path == "./" + long_dir + "/file") {
          saw_big = true;
          CHECK(r.entry.type == '0');
          CHECK((r.entry.mode & 0777) == 0755);
          CHECK(r.content == big);
        }
        if (r.entry.path == "./small") {
          saw_small = true;
          CHECK(r.content == "abc");
        }
      }
      CHECK(saw_big);
      CHECK(saw_small);
    }
  }

  TEST_CASE("TarStream refuses a damaged header and a truncated archive") {
    testing::TempDir dir;
    fs::create_directories(dir.file("src"));
    testing::write_text(dir.file("src/f"), std::string(5000, 'y'));
    const std::string tar = dir.file("a.tar");
    REQUIRE(testing::run({"tar", "-C", dir.file("src"), "-cf", tar, "f"}, 60).exit_code == 0);
    std::string bytes = testing::read_text(tar);
    std::string damaged = bytes;
    damaged[10] ^= 1;  // inside the name: the checksum no longer matches
    testing::write_text(dir.file("damaged.tar"), damaged);
    auto d = read_tar(dir.file("damaged.tar"));
    REQUIRE_FALSE(d);
    CHECK(d.error().message() == dir.file("damaged.tar") + ": bad tar header checksum");
    testing::write_text(dir.file("short.tar"), bytes.substr(0, 512 + 1000));
    auto s = read_tar(dir.file("short.tar"));
    REQUIRE_FALSE(s);
    CHECK(s.error().message() == dir.file("short.tar") + ": truncated archive");
  }

  TEST_CASE(
      "hash_tar_files selects by the whole head however the stream is split: a non-executable ELF and a "
      "script read one byte at a time") {
    testing::TempDir dir;
    fs::create_directories(dir.file("src"));
    fs::copy_file("/bin/true", dir.file("src/prog"));
    ::chmod(dir.file("src/prog").c_str(), 0644);
    testing::write_text(dir.file("src/run"), "#!/bin/sh\nexit 0\n", 0644);
    testing::write_text(dir.file("src/notes"), "text\n", 0644);
    const std::string tar_file = dir.file("a.tar");
    REQUIRE(testing::run({"tar", "-C", dir.file("src"), "-cf", tar_file, "prog", "run", "notes"}, 60).exit_code == 0);
    auto fd = open_fd(tar_file, O_RDONLY);
    REQUIRE(fd);
    TarStream tar(
        [&](std::span<std::byte> buf) -> Result<size_t> {
          return static_cast<size_t>(std::max<ssize_t>(0, ::read(fd->get(), buf.data(), 1)));
        },
        tar_file);
    uint64_t bytes = 0;
    auto files = hash_tar_files(
        tar,
        [](const std::string& path, mode_t mode, std::string_view head) {
          return policy::file_matches(policy::DirMatch::kExecutables, mode, path, head);
        },
        tar_file, &bytes);
    REQUIRE_MESSAGE(files, files.error().message());
    REQUIRE(files->size() == 2);
    CHECK((*files)[0].path == "/prog");
    CHECK(hashdb::to_hex((*files)[0].sha256) == hashdb::to_hex(*hashdb::sha256_path("/bin/true")));
    CHECK((*files)[1].path == "/run");
    CHECK(bytes == fs::file_size("/bin/true") + std::string("#!/bin/sh\nexit 0\n").size() + 5);
  }

  TEST_CASE(
      "read_control_tar: the fields of ./control and the maintainer scripts at the top level, hashed "
      "whatever their content, however the stream is split") {
    testing::TempDir dir;
    const std::string elf = testing::read_text("/bin/true");
    const std::string tar =
        make_tar(dir, "control",
                 {{"control", {"package: tg-test\nVersion: 1.0-1\nDescription: x\n more\nArchitecture: amd64\n", 0644}},
                  {"preinst", {"#!/bin/sh\nexit 0\n", 0755}},
                  {"postrm", {elf, 0755}},                   // an ELF: dpkg runs it all the same
                  {"prerm", {"not even a script\n", 0644}},  // run by dpkg whatever its mode says
                  {"md5sums", {"d41d8cd98f00b204e9800998ecf8427e  usr/bin/x\n", 0644}},
                  {"templates", {"Template: x\n", 0644}},
                  {"sub/postinst", {"#!/bin/sh\nnested\n", 0755}}});  // not a maintainer script: not at the top
    auto control = read_control_bytewise(tar);
    REQUIRE_MESSAGE(control, control.error().message());
    CHECK(control->info.package == "tg-test");  // field names are case-insensitive
    CHECK(control->info.version == "1.0-1");
    CHECK(control->info.architecture == "amd64");
    std::map<std::string, std::string> got;
    for (const auto& f : control->scripts) got[f.path] = hashdb::to_hex(f.sha256);
    CHECK(got == std::map<std::string, std::string>{{"postrm", hex_of(elf)},
                                                    {"preinst", hex_of("#!/bin/sh\nexit 0\n")},
                                                    {"prerm", hex_of("not even a script\n")}});
  }

  TEST_CASE("read_control_tar refuses an archive without a usable control file, naming it") {
    testing::TempDir dir;
    struct Case {
      std::string name;
      std::map<std::string, std::pair<std::string, mode_t>> files;
      std::string why;
    };
    const std::vector<Case> cases = {
        {"none", {{"postinst", {"#!/bin/sh\n", 0755}}}, "no control file"},
        {"noversion", {{"control", {"Package: tg-test\nArchitecture: all\n", 0644}}}, "no Package or Version field"},
        {"huge",
         {{"control", {"Package: tg-test\nVersion: 1\n" + std::string(kMaxControlFile, '#'), 0644}}},
         "its control file is over 1048576 bytes"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.name);
      const std::string tar = make_tar(dir, c.name, c.files);
      auto control = read_control_bytewise(tar, 4096);
      REQUIRE_FALSE(control);
      CHECK(control.error().message() == tar + ": not a readable Debian package: " + c.why);
    }
  }

  TEST_CASE(
      "read_deb: the package's fields, its maintainer scripts and the files the dpkg trust source would "
      "cover, hashed") {
    testing::TempDir dir;
    const std::string deb = build_deb(dir);
    auto pending = pending_for_deb(deb, DpkgScope{.all = true});
    REQUIRE_MESSAGE(pending, pending.error().message());
    CHECK(pending->covered);
    CHECK(pending->info.package == "tg-test");
    std::map<std::string, std::string> got;
    for (const auto& f : pending->files) {
      CHECK(f.package == "tg-test");
      CHECK(f.version == "2:1.0~rc1-3");
      got[f.path] = hashdb::to_hex(f.sha256);
    }
    const std::string tool = hex_of("#!/bin/sh\necho tool\n");
    CHECK(got.size() == 6);  // not the README, the templates or the triggers file
    CHECK(got["/usr/bin/tool"] == tool);
    CHECK(got["/usr/bin/tool-link"] == tool);  // the hard link has the same content
    CHECK(got.contains("/usr/bin/script-not-exec"));
    CHECK(got.contains("/usr/lib/x/libx.so.1"));
    CHECK(got["control:postinst"] == hex_of(kPostinst));
    CHECK(got["control:config"] == hex_of(kConfig));

    // A package outside the scope: its fields, and nothing hashed for it.
    auto outside = pending_for_deb(deb, DpkgScope{.packages = {"bash"}});
    REQUIRE_MESSAGE(outside, outside.error().message());
    CHECK_FALSE(outside->covered);
    CHECK(outside->info.package == "tg-test");
    CHECK(outside->files.empty());
    auto contents = read_deb(
        deb, [](const std::string&, mode_t, std::string_view) { return true; },
        [](const DebInfo& info) { return info.package != "tg-test"; });
    REQUIRE(contents);
    CHECK_FALSE(contents->data_read);
    CHECK(contents->bytes == 0);  // the data archive was not read
    CHECK(contents->scripts.size() == 2);
  }

  TEST_CASE("read_deb: a file that is not a package is one line naming it") {
    testing::TempDir dir;
    testing::write_text(dir.file("x.deb"), "garbage");
    auto r = read_deb(dir.file("x.deb"), [](const std::string&, mode_t, std::string_view) { return true; });
    REQUIRE_FALSE(r);
    CHECK(r.error().message().starts_with(dir.file("x.deb") + ": not a readable Debian package: "));
    CHECK(r.error().message().find('\n') == std::string::npos);
    auto missing = read_deb(dir.file("nope.deb"), [](const std::string&, mode_t, std::string_view) { return true; });
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message().find(dir.file("nope.deb")) != std::string::npos);
  }

  TEST_CASE(
      "the apt hook as apt reads it: trust-debs at Pre-Install-Pkgs with protocol 3 for its first word, "
      "refresh at Post-Invoke, no Pre-Invoke (no mode switch)") {
    const std::string tollgate = testing::built_binary("tollgate");
    const std::string hook = tollgate.substr(0, tollgate.rfind('/')) + "/80tollgate";
    auto dump = testing::run({"apt-config", "-c", hook, "dump"}, 60);
    REQUIRE_MESSAGE(dump.exit_code == 0, dump.err);
    const std::string& d = dump.out;
    auto line_with = [&](const std::string& text) { return d.find(text) != std::string::npos; };
    CHECK(line_with(" trust-debs --apt-hook || true\";"));
    // The command's first word names the options apt reads the version from.
    std::string first_word;
    for (auto pos = d.find("DPkg::Pre-Install-Pkgs:: \""); pos != std::string::npos;
         pos = d.find("DPkg::Pre-Install-Pkgs:: \"", pos + 1)) {
      std::string cmd = d.substr(pos + 26, d.find('"', pos + 26) - pos - 26);
      if (cmd.find("trust-debs") != std::string::npos) first_word = cmd.substr(0, cmd.find(' '));
    }
    REQUIRE_FALSE(first_word.empty());
    CHECK(first_word.ends_with("/tollgate"));
    CHECK(line_with("DPkg::Tools::Options::" + first_word + "::Version \"3\";"));
    CHECK(line_with("refresh --syslog"));
    // The host's own apt configuration is in the dump too: only ours counts.
    std::istringstream lines(d);
    for (std::string line; std::getline(lines, line);)
      CHECK_FALSE((line.find("Pre-Invoke") != std::string::npos && line.find("tollgate") != std::string::npos));
  }

  TEST_CASE("apt's Pre-Install-Pkgs protocol: the .deb of each line, whatever the version") {
    const std::string v3 =
        "VERSION 3\nAPT::Architecture=amd64\nDir::Cache::Archives=/var/cache/apt/archives/\n\n"
        "bash 5.2-1 amd64 foreign < 5.2-2 amd64 foreign /var/cache/apt/archives/bash_5.2-2_amd64.deb\n"
        "libc6 - - none < 2.36-9 amd64 same /var/cache/apt/archives/libc6_2.36-9_amd64.deb\n"
        "oldpkg 1.0 amd64 none > - - none **REMOVE**\n"
        "bash 5.2-1 amd64 foreign < 5.2-2 amd64 foreign **CONFIGURE**\n";
    CHECK(debs_from_apt_hook(v3) == std::vector<std::string>{"/var/cache/apt/archives/bash_5.2-2_amd64.deb",
                                                             "/var/cache/apt/archives/libc6_2.36-9_amd64.deb"});
    // A config value that looks like a path is not a package.
    CHECK(debs_from_apt_hook("VERSION 2\nX::Y=/tmp/evil.deb\n\nbash 1 < 2 /a/bash.deb\n") ==
          std::vector<std::string>{"/a/bash.deb"});
    CHECK(debs_from_apt_hook("/var/cache/apt/archives/a.deb\n/var/cache/apt/archives/b.deb\n").size() == 2);
    CHECK(debs_from_apt_hook("").empty());
  }
}
