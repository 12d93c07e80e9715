#include "tools/deb_archive.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "common/io.h"
#include "common/text.h"
#include "common/unique_fd.h"
#include "policy/pending_trust.h"
#include "policy/trust_sources.h"

extern char** environ;

namespace tollgate::tools {
namespace {

constexpr size_t kBlock = 512;

std::string_view field(const std::array<char, kBlock>& h, size_t off, size_t len) {
  std::string_view f(h.data() + off, len);
  return f.substr(0, std::min(f.find('\0'), f.size()));
}

// Octal (NUL/space padded) or GNU base-256 (high bit of the first byte).
std::optional<uint64_t> number(const std::array<char, kBlock>& h, size_t off, size_t len) {
  const auto* p = reinterpret_cast<const unsigned char*>(h.data() + off);
  if (p[0] & 0x80) {
    uint64_t v = p[0] & 0x7f;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) return std::nullopt;
      v = (v << 8) | p[i];
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < len && p[i] == ' ') ++i;
  bool any = false;
  for (; i < len && p[i] >= '0' && p[i] <= '7'; ++i, any = true) {
    if (v >> 60) return std::nullopt;
    v = v * 8 + (p[i] - '0');
  }
  if (i < len && p[i] != '\0' && p[i] != ' ') return std::nullopt;
  return any ? std::optional<uint64_t>(v) : std::optional<uint64_t>(0);
}

bool checksum_ok(const std::array<char, kBlock>& h) {
  auto want = number(h, 148, 8);
  if (!want) return false;
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
  return sum == *want;
}

bool all_zero(const std::array<char, kBlock>& h) {
  return std::all_of(h.begin(), h.end(), [](char c) { return c == 0; });
}

// pax records: "LEN key=value\n"...
void apply_pax(std::string_view data, std::map<std::string, std::string>& out) {
  while (!data.empty()) {
    size_t space = data.find(' ');
    if (space == std::string_view::npos) return;
    size_t len = 0;
    for (char c : data.substr(0, space)) {
      if (c < '0' || c > '9') return;
      len = len * 10 + static_cast<size_t>(c - '0');
    }
    if (len <= space + 1 || len > data.size()) return;
    std::string_view rec = data.substr(space + 1, len - space - 2);  // without the '\n'
    size_t eq = rec.find('=');
    if (eq != std::string_view::npos) out[std::string(rec.substr(0, eq))] = std::string(rec.substr(eq + 1));
    data.remove_prefix(len);
  }
}

}  // namespace

TarStream::TarStream(Reader read, std::string name) : read_(std::move(read)), name_(std::move(name)) {}

Result<size_t> TarStream::fill(std::span<std::byte> out) {
  size_t got = 0;
  while (got < out.size()) {
    auto n = read_(out.subspan(got));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    got += *n;
  }
  return got;
}

Status TarStream::skip(uint64_t bytes) {
  std::array<std::byte, 64 * 1024> buf;
  while (bytes > 0) {
    auto n = fill(std::span(buf).first(static_cast<size_t>(std::min<uint64_t>(bytes, buf.size()))));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return fail(ErrorCode::kCorrupt, name_ + ": truncated archive");
    bytes -= *n;
  }
  return {};
}

Result<size_t> TarStream::read(std::span<std::byte> buf) {
  if (left_ == 0) return 0;
  auto want = static_cast<size_t>(std::min<uint64_t>(left_, buf.size()));
  auto n = read_(buf.first(want));
  if (!n) return std::unexpected(n.error());
  if (*n == 0) return fail(ErrorCode::kCorrupt, name_ + ": truncated archive");
  left_ -= *n;
  return *n;
}

Result<std::optional<TarStream::Entry>> TarStream::next() {
  if (auto st = skip(left_ + padding_); !st) return std::unexpected(st.error());
  left_ = padding_ = 0;
  std::map<std::string, std::string> pax;
  std::string long_name, long_link;
  for (;;) {
    std::array<char, kBlock> h{};
    auto n = fill(std::as_writable_bytes(std::span(h)));
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return std::optional<Entry>();  // end without the zero blocks: accepted, as tar does
    if (*n != kBlock) return fail(ErrorCode::kCorrupt, name_ + ": truncated tar header");
    if (all_zero(h)) return std::optional<Entry>();
    if (!checksum_ok(h)) return fail(ErrorCode::kCorrupt, name_ + ": bad tar header checksum");
    auto size = number(h, 124, 12);
    auto mode = number(h, 100, 8);
    if (!size || !mode) return fail(ErrorCode::kCorrupt, name_ + ": bad number in a tar header");
    const char type = h[156] == '\0' ? '0' : h[156];
    const uint64_t pad = (kBlock - *size % kBlock) % kBlock;
    if (type == 'L' || type == 'K' || type == 'x' || type == 'g') {
      if (*size > (1u << 20)) return fail(ErrorCode::kCorrupt, name_ + ": tar extension header over 1 MiB");
      std::string data(*size, '\0');
      auto got = fill(std::as_writable_bytes(std::span(data)));
      if (!got) return std::unexpected(got.error());
      if (*got != data.size()) return fail(ErrorCode::kCorrupt, name_ + ": truncated tar extension header");
      if (auto st = skip(pad); !st) return std::unexpected(st.error());
      auto cstr = [](const std::string& s) { return s.substr(0, std::min(s.find('\0'), s.size())); };
      if (type == 'L') long_name = cstr(data);
      else if (type == 'K') long_link = cstr(data);
      else if (type == 'x') apply_pax(data, pax);
      continue;  // 'g' (global) records carry nothing this reader needs
    }
    Entry e;
    e.type = type;
    e.mode = static_cast<mode_t>(*mode & 07777);
    e.size = *size;
    const std::string_view magic = field(h, 257, 6);
    std::string name(field(h, 0, 100));
    // POSIX ustar (magic "ustar\0"; GNU writes "ustar  ") splits long names at prefix/name.
    if (magic == "ustar" && h[263] == '0' && !field(h, 345, 155).empty())
      name = std::string(field(h, 345, 155)) + "/" + name;
    e.path = !pax.contains("path") ? (long_name.empty() ? name : long_name) : pax["path"];
    e.link =
        !pax.contains("linkpath") ? (long_link.empty() ? std::string(field(h, 157, 100)) : long_link) : pax["linkpath"];
    if (pax.contains("size")) {
      uint64_t v = 0;
      for (char c : pax["size"]) {
        if (c < '0' || c > '9' || v > (uint64_t{1} << 56)) return fail(ErrorCode::kCorrupt, name_ + ": bad pax size");
        v = v * 10 + static_cast<uint64_t>(c - '0');
      }
      e.size = v;
    }
    // Links, directories and devices carry no content whatever size they claim.
    const bool has_content = type == '0' || type == '7';
    left_ = has_content ? e.size : 0;
    padding_ = has_content ? (kBlock - e.size % kBlock) % kBlock : 0;
    if (!has_content && type != '1' && type != '2' && type != '5' && type != '3' && type != '4' && type != '6')
      return fail(ErrorCode::kCorrupt, fmt::format("{}: unknown tar entry type '{}'", name_, printable({&type, 1})));
    return std::optional<Entry>(std::move(e));
  }
}

std::string installed_path(std::string_view p) {
  while (p.starts_with("./")) p.remove_prefix(2);
  while (p.starts_with('/')) p.remove_prefix(1);
  while (p.ends_with('/')) p.remove_suffix(1);
  if (p.empty() || p == ".") return {};
  return "/" + std::string(p);
}

namespace {

// The SHA-256 of the current entry of `tar`, whose first `got` bytes are
// already in `buf`; the rest is read through `buf`. `bytes` grows by it.
Result<hashdb::Sha256> hash_entry(TarStream& tar, std::span<std::byte> buf, size_t got, const std::string& name,
                                  uint64_t& bytes) {
  hashdb::Sha256Stream sha;
  sha.update(buf.first(got));
  for (;;) {
    auto more = tar.read(buf);
    if (!more) return std::unexpected(more.error());
    if (*more == 0) break;
    sha.update(buf.first(*more));
    bytes += *more;
  }
  return sha.finish(name);
}

// The fields dpkg-deb --field prints: "Name: value" lines (a field name is
// case-insensitive; continuation lines start with a blank).
DebInfo parse_fields(std::string_view text) {
  DebInfo info;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto colon = line.find(':');
    if (line.empty() || line.front() == ' ' || line.front() == '\t' || colon == std::string_view::npos) continue;
    std::string key(line.substr(0, colon));
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (key == "package") info.package = value;
    else if (key == "version") info.version = value;
    else if (key == "architecture") info.architecture = value;
  }
  return info;
}

}  // namespace

Result<DebControl> read_control_tar(TarStream& tar, const std::string& name) {
  DebControl out;
  std::optional<std::string> control;
  bool oversized = false;
  std::vector<std::byte> buf(64 * 1024);
  uint64_t bytes = 0;
  for (;;) {
    auto entry = tar.next();
    if (!entry) return std::unexpected(entry.error());
    if (!*entry) break;
    const auto& e = **entry;
    if (e.type != '0' && e.type != '7') continue;
    const std::string path = installed_path(e.path);  // "/control", "/postinst"; nested ones keep their "/"
    if (path == "/control") {
      // Read on to the end all the same: dpkg-deb finishes its stream, and
      // says so if the archive is damaged.
      if (e.size > kMaxControlFile) {
        oversized = true;
        continue;
      }
      std::string text(static_cast<size_t>(e.size), '\0');
      for (size_t got = 0; got < text.size();) {
        auto n = tar.read(std::as_writable_bytes(std::span(text)).subspan(got));
        if (!n) return std::unexpected(n.error());
        got += *n;
      }
      control = std::move(text);
    } else if (!path.empty() && policy::is_maintainer_script(std::string_view(path).substr(1))) {
      const std::string script = path.substr(1);
      auto digest = hash_entry(tar, buf, 0, name + ":" + std::string(policy::kControlPrefix) + script, bytes);
      if (!digest) return std::unexpected(digest.error());
      out.scripts.push_back({script, e.mode, e.size, *digest});
    }
  }
  if (oversized)
    return fail(
        ErrorCode::kInvalidInput,
        fmt::format("{}: not a readable Debian package: its control file is over {} bytes", name, kMaxControlFile));
  if (!control) return fail(ErrorCode::kInvalidInput, name + ": not a readable Debian package: no control file");
  out.info = parse_fields(*control);
  if (out.info.package.empty() || out.info.version.empty())
    return fail(ErrorCode::kInvalidInput, name + ": not a readable Debian package: no Package or Version field");
  return out;
}

Result<std::vector<DebFile>> hash_tar_files(TarStream& tar, const WantFile& want, const std::string& name,
                                            uint64_t* bytes) {
  std::vector<DebFile> out;
  std::vector<std::byte> buf(1 << 20);
  std::map<std::string, size_t> hashed;  // path -> index in out, for hard links
  uint64_t read_total = 0;
  for (;;) {
    auto entry = tar.next();
    if (!entry) return std::unexpected(entry.error());
    if (!*entry) break;
    const auto& e = **entry;
    std::string path = installed_path(e.path);
    if (path.empty()) continue;
    if (e.type == '1') {
      auto it = hashed.find(installed_path(e.link));
      if (it == hashed.end()) continue;  // a link to a file not selected
      DebFile f = out[it->second];
      f.path = path;
      out.push_back(std::move(f));
      continue;
    }
    if (e.type != '0' && e.type != '7') continue;
    // The head `want` looks at (ELF and "#!" magic), whole however the
    // stream is split: a pipe may hand over a file's first byte alone.
    size_t got = 0;
    const auto head = static_cast<size_t>(std::min<uint64_t>(e.size, kHeadBytes));
    while (got < head) {
      auto n = tar.read(std::span(buf).subspan(got));
      if (!n) return std::unexpected(n.error());
      if (*n == 0) break;
      got += *n;
    }
    read_total += got;
    if (!want(path, e.mode, std::string_view(reinterpret_cast<const char*>(buf.data()), got))) continue;
    auto digest = hash_entry(tar, buf, got, name + ":" + path, read_total);
    if (!digest) return std::unexpected(digest.error());
    hashed[path] = out.size();
    out.push_back({path, e.mode, e.size, *digest});
  }
  if (bytes) *bytes += read_total;
  return out;
}

namespace {

// dpkg-deb ARGS... as a child reading the package from its stdin (`in`,
// rewound: every run reads the same inode, so the fields and the files
// cannot come from two different files swapped in between): its stdout to
// read, its stderr kept for the error message. Killed (by pid) and reaped
// when dropped unfinished.
class DpkgDeb {
 public:
  static Result<DpkgDeb> start(const std::vector<std::string>& args, int in, const std::string& deb) {
    if (::lseek(in, 0, SEEK_SET) != 0) return fail_errno(errno, deb, "cannot rewind");
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return fail_errno(errno, deb, "cannot create a pipe");
    UniqueFd out_r(out[0]), out_w(out[1]);
    if (::pipe2(err, O_CLOEXEC) != 0) return fail_errno(errno, deb, "cannot create a pipe");
    UniqueFd err_r(err[0]), err_w(err[1]);
    (void)::fcntl(out_r.get(), F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups; the default works too
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in, 0);
    posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, "dpkg-deb", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return fail_errno(rc, deb, "cannot run dpkg-deb (is dpkg installed?)");
    DpkgDeb d;
    d.pid_ = pid;
    d.out_ = std::move(out_r);
    d.err_ = std::move(err_r);
    return d;
  }
  DpkgDeb() = default;
  DpkgDeb(DpkgDeb&& o) noexcept : pid_(std::exchange(o.pid_, -1)), out_(std::move(o.out_)), err_(std::move(o.err_)) {}
  ~DpkgDeb() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      (void)finish_wait();
    }
  }
  int out() const { return out_.get(); }
  // Waits for the child: ok on exit 0, else an error with its first stderr line.
  Status finish(const std::string& deb) {
    out_.reset();  // a child still writing gets EPIPE instead of blocking
    std::string why;
    std::array<char, 4096> buf;
    for (;;) {
      ssize_t n = ::read(err_.get(), buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || why.size() > 64 * 1024) break;
      why.append(buf.data(), static_cast<size_t>(n));
    }
    int status = finish_wait();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    std::string line = why.substr(0, why.find('\n'));
    if (line.starts_with("dpkg-deb: error: ")) line.erase(0, 17);
    if (line.empty()) line = fmt::format("dpkg-deb failed (status {})", status);
    return fail(ErrorCode::kInvalidInput, fmt::format("{}: not a readable Debian package: {}", deb, printable(line)));
  }

 private:
  int finish_wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }
  pid_t pid_ = -1;
  UniqueFd out_, err_;
};

Result<size_t> read_some(int fd, std::span<std::byte> buf, const std::string& name) {
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return fail_errno(errno, name, "read failed");
  }
}

}  // namespace

Result<DebContents> read_deb(const std::string& deb, const WantFile& want, const WantPackage& take) {
  // Opened once (no symlink, no FIFO): a missing or unreadable file is our
  // one-line error, and both dpkg-deb runs read this very file.
  auto in = open_regular(deb, O_RDONLY);
  if (!in) return std::unexpected(in.error());
  DebContents out;
  {
    auto child = DpkgDeb::start({"dpkg-deb", "--ctrl-tarfile", "/dev/stdin"}, in->get(), deb);
    if (!child) return std::unexpected(child.error());
    const int fd = child->out();
    TarStream tar([&](std::span<std::byte> buf) { return read_some(fd, buf, deb); }, deb);
    auto control = read_control_tar(tar, deb);
    // dpkg-deb's own reason, when it has one, says more than a truncated stream.
    if (auto st = child->finish(deb); !st) return std::unexpected(st.error());
    if (!control) return std::unexpected(control.error());
    out.info = std::move(control->info);
    out.scripts = std::move(control->scripts);
  }
  if (take && !take(out.info)) return out;
  auto child = DpkgDeb::start({"dpkg-deb", "--fsys-tarfile", "/dev/stdin"}, in->get(), deb);
  if (!child) return std::unexpected(child.error());
  const int fd = child->out();
  TarStream tar([&](std::span<std::byte> buf) { return read_some(fd, buf, deb); }, deb);
  auto files = hash_tar_files(tar, want, deb, &out.bytes);
  if (!files) {
    if (auto st = child->finish(deb); !st) return std::unexpected(st.error());
    return std::unexpected(files.error());
  }
  out.files = std::move(*files);
  if (auto st = child->finish(deb); !st) return std::unexpected(st.error());
  out.data_read = true;
  return out;
}

}  // namespace tollgate::tools
