#include "tools/compile_progress.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "common/text.h"

namespace tollgate::tools {
namespace {

void draw(const policy::CompileProgress& p) {
  if (p.finished) {
    fmt::print(stderr, "\r\033[K");
    std::fflush(stderr);
    return;
  }
  const size_t done = p.files_done, total = p.files_total;
  std::string eta = p.walking || done == 0
                        ? std::string("?")
                        : fmt::format("{:.0f}s", p.seconds * static_cast<double>(total - std::min(done, total)) / done);
  const double bytes = static_cast<double>(p.bytes_hashed);
  fmt::print(stderr, "\r\033[Kcompile: {}/{} files{}, {} hashed, {}/s, ETA {}", done, total, p.walking ? "+" : "",
             human_bytes(bytes), human_bytes(p.seconds > 0 ? bytes / p.seconds : 0), eta);
  std::fflush(stderr);
}

}  // namespace

policy::ProgressFn terminal_progress(bool enabled) { return enabled ? policy::ProgressFn(draw) : nullptr; }

}  // namespace tollgate::tools
