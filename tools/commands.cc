#include <fmt/core.h>

#include "tools/command.h"

namespace tollgate::tools {

CommandSpec hash_command();
CommandSpec keygen_command();
CommandSpec db_command();
CommandSpec compile_command();
CommandSpec diff_command();
CommandSpec sign_command();
CommandSpec verify_sig_command();
CommandSpec status_command();
CommandSpec report_command();
CommandSpec log_command();
CommandSpec replay_command();
CommandSpec approve_command();
CommandSpec revoke_command();
CommandSpec check_command();
CommandSpec mode_command();
CommandSpec refresh_command();
CommandSpec trust_debs_command();
CommandSpec import_blocklist_command();
CommandSpec sweep_command();
CommandSpec doctor_command();

const std::vector<CommandSpec>& all_commands() {
  static const std::vector<CommandSpec> table = {
      hash_command(),       keygen_command(),     db_command(),
      compile_command(),    diff_command(),       sign_command(),
      verify_sig_command(), status_command(),     report_command(),
      log_command(),        replay_command(),     approve_command(),
      revoke_command(),     check_command(),      mode_command(),
      refresh_command(),    trust_debs_command(), import_blocklist_command(),
      sweep_command(),      doctor_command(),
  };
  return table;
}

int exit_code_for(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kNotFound:
    case ErrorCode::kIo: return kExitIo;
    case ErrorCode::kInvalidInput:
    case ErrorCode::kCorrupt: return kExitPolicy;
    case ErrorCode::kPermission: return kExitPermission;
    case ErrorCode::kUnavailable: return kExitDaemon;
  }
  return kExitIo;
}

int report(const Error& error) {
  fmt::print(stderr, "tollgate: {}\n", error.message());
  return exit_code_for(error);
}

}  // namespace tollgate::tools
