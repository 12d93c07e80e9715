// Line-based edits of the config file, so the admin's comments, order and
// other keys survive `tollgate mode`. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tollgate::tools {

// `text` with the top-level `mode:` value replaced by `mode` (a trailing
// "# comment" on that line is kept); a `mode:` line is appended when there
// is none. Commented-out lines ("# mode: ...") are left alone.
std::string set_config_mode(const std::string& text, std::string_view mode);

}  // namespace tollgate::tools
