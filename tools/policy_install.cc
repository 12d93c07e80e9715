#include "tools/policy_install.h"

#include <fmt/core.h>

#include "enforcer/control.h"
#include "policy/compiler.h"
#include "policy/manifest.h"

#include <climits>
#include <cstdlib>

namespace tollgate::tools {

Result<InstallResult> compile_and_reload(const Settings& settings) {
  if (settings.manifest.empty())
    return fail(ErrorCode::kInvalidInput, settings.config_path + ": 'manifest' is not set; cannot recompile");
  policy::CompileOptions options{.manifest_path = settings.manifest, .output_path = settings.database};
  if (!settings.signing_key.empty()) options.signing_key_path = settings.signing_key;
  auto summary = policy::compile_policy(options);
  if (!summary) return std::unexpected(summary.error());
  InstallResult result{.generation = summary->generation,
                       .signer_key_id = summary->signer_key_id,
                       .files_hashed = summary->files_hashed,
                       .files_reused = summary->files_reused,
                       .untrusted_writable = summary->untrusted_writable,
                       .untrusted_writable_total = summary->untrusted_writable_total};
  auto reloaded = request_reload(settings);
  if (reloaded) {
    result.reloaded = true;
  } else if (reloaded.error().code() == ErrorCode::kUnavailable) {
    result.reload_note = fmt::format("tollgated is not running ({}); it loads the new database when it starts",
                                     settings.socket);
  } else {
    return std::unexpected(reloaded.error().with_prefix(
        fmt::format("{} generation {} is installed but the daemon refused it", settings.database, result.generation)));
  }
  return result;
}

Status check_approvals_included(const Settings& settings) {
  auto manifest = policy::load_manifest(settings.manifest);
  if (!manifest) return std::unexpected(manifest.error());
  char resolved[PATH_MAX];
  std::string approvals = ::realpath(settings.approvals.c_str(), resolved) ? resolved : settings.approvals;
  for (const auto& file : manifest->files)
    if (file == approvals) return {};
  return fail(ErrorCode::kInvalidInput,
              fmt::format("{} does not include {}, so approvals would not reach the policy; add to it: include: "
                          "[{{path: {}, optional: true}}]",
                          settings.manifest, approvals, approvals));
}

Status request_reload(const Settings& settings) {
  auto reply = enforcer::control_request(settings.socket, {{"cmd", "reload"}});
  if (!reply) return std::unexpected(reply.error());
  if (!reply->value("ok", false))
    return fail(ErrorCode::kInvalidInput, "reload: " + reply->value("error", std::string("refused")));
  return {};
}

std::string describe_install(const Settings& settings, const InstallResult& r) {
  std::string out = fmt::format("{}: generation {}", settings.database, r.generation);
  if (!r.signer_key_id.empty()) out += fmt::format(", signed by {}", r.signer_key_id.substr(0, 16));
  out += fmt::format(" ({} files hashed, {} reused)", r.files_hashed, r.files_reused);
  out += r.reloaded ? "; daemon reloaded" : "; " + r.reload_note;
  return out;
}

}  // namespace tollgate::tools
