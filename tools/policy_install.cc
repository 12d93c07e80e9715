#include "tools/policy_install.h"

#include <fmt/core.h>

namespace tollgate::tools {

// The compiler (issue 3) and the control socket (issue 4) are not on main
// yet; these fail until they are merged.
Result<InstallResult> compile_and_reload(const Settings& settings) {
  if (settings.manifest.empty())
    return fail(ErrorCode::kInvalidInput, settings.config_path + ": 'manifest' is not set; cannot recompile");
  return fail(ErrorCode::kUnavailable, "the policy compiler is not available in this build");
}

Status request_reload(const Settings&) {
  return fail(ErrorCode::kUnavailable, "the daemon control socket is not available in this build");
}

std::string describe_install(const Settings& settings, const InstallResult& r) {
  std::string out = fmt::format("{}: generation {}", settings.database, r.generation);
  if (!r.signer_key_id.empty()) out += fmt::format(", signed by {}", r.signer_key_id.substr(0, 16));
  out += fmt::format(" ({} files hashed, {} reused)", r.files_hashed, r.files_reused);
  out += r.reloaded ? "; daemon reloaded" : "; " + r.reload_note;
  return out;
}

}  // namespace tollgate::tools
