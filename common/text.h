// Text from untrusted sources (file names, /proc, the event log, a control
// client's claimed name) made safe to print on a terminal, inside a
// one-line comment or in a manifest an admin reviews.
//
//   fmt::print("{}\n", printable(event.path));   // one line, no escapes, no bidi tricks
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tollgate {

// Escapes everything that could move the cursor, start a new line, or make
// the text display differently from what it is:
//  - C0 controls (below 0x20) and DEL: "\xNN";
//  - C1 controls: as raw bytes 0x80-0x9F (8-bit CSI and friends) "\xNN", as
//    UTF-8 (U+0080-U+009F) "\u0080".."\u009f";
//  - bidirectional and invisible format characters, as "\uNNNN": U+061C,
//    U+200B-U+200F, U+2028-U+202E (line/paragraph separators, embeddings,
//    overrides), U+2060-U+2064, U+2066-U+206F (isolates), U+FEFF, U+FFF9-U+FFFB;
//  - every byte that is not part of valid UTF-8 (overlong forms, surrogates,
//    truncated sequences): "\xNN";
//  - the backslash itself: "\\", so an escape in the output is never
//    ambiguous.
// Everything else (printable ASCII, other valid UTF-8) is kept, so "café"
// stays "café". A file named "x\n- sha256: ..." cannot start a new line in a
// manifest, and "\u202egnp.exe" cannot pose as "exe.png".
std::string printable(std::string_view text);

// True when printable(text) would escape something other than a backslash:
// a control, a bidi/format character or invalid UTF-8.
bool has_unsafe_chars(std::string_view text);

// A byte count or rate for people: "512 B", "1.5 KiB", "3.2 GiB".
std::string human_bytes(double bytes);

}  // namespace tollgate
