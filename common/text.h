// Text from untrusted sources (file names, /proc, the event log) made safe to
// print on a terminal or inside a one-line comment.
#pragma once

#include <string>
#include <string_view>

namespace tollgate {

// Replaces every control byte (below 0x20, and 0x7f) by "\xNN" and a
// backslash by "\\", so the result is one line with no escape sequences.
// A file named "x\n- sha256: ..." cannot start a new line in a manifest or
// move the cursor on an admin's terminal.
std::string printable(std::string_view text);

}  // namespace tollgate
