// libFuzzer target for the manifest loader: arbitrary bytes as a manifest.
// Includes are validated but not followed, so the fuzzer never reads files.
//
// Built with clang and -DTOLLGATE_FUZZ=ON as `manifest_fuzz`; the same entry
// point is linked with replay_main.cc (any compiler) as
// `manifest_fuzz_replay`, which ctest runs over corpus/manifest/.
#include <cstddef>
#include <cstdint>
#include <string>

#include "policy/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto m = tollgate::policy::load_manifest_text(text, "/fuzz/manifest.yaml", {.follow_includes = false});
  // Either a manifest or one InvalidInput error whose lines name the file.
  if (!m && m.error().message().find("/fuzz/manifest.yaml") == std::string::npos) __builtin_trap();
  return 0;
}
