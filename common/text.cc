#include "common/text.h"

#include <cstdint>
#include <cstdio>

namespace tollgate {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

// Code points escaped although they are valid UTF-8: C1 controls and the
// bidi / invisible format characters (see text.h).
bool unsafe_code_point(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || (cp >= 0x200b && cp <= 0x200f) ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206f) ||
         cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb);
}

// Length of the valid UTF-8 sequence at text[i] and its code point; 0 when
// the bytes there are not valid UTF-8 (stray continuation byte, overlong
// form, surrogate, beyond U+10FFFF, truncated).
size_t decode(std::string_view text, size_t i, uint32_t& cp) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b0 = byte(i);
  size_t len;
  uint32_t min;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    len = 2, cp = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3, cp = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// Walks `text` once: on_safe(i, len) for each character kept as it is,
// on_byte(b) for a byte escaped as "\xNN", on_cp(cp) for a code point
// escaped as "\uNNNN".
template <typename Safe, typename Byte, typename Cp>
void classify(std::string_view text, Safe on_safe, Byte on_byte, Cp on_cp) {
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    size_t len = decode(text, i, cp);
    if (len == 0) {
      on_byte(static_cast<unsigned char>(text[i]));
      ++i;
    } else if (cp < 0x20 || cp == 0x7f) {
      on_byte(static_cast<unsigned char>(cp));
      i += len;
    } else if (unsafe_code_point(cp)) {
      on_cp(cp);
      i += len;
    } else {
      on_safe(i, len);
      i += len;
    }
  }
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  classify(
      text,
      [&](size_t i, size_t len) {
        if (len == 1 && text[i] == '\\') out += "\\\\";
        else out.append(text.substr(i, len));
      },
      [&](unsigned char b) {
        out += "\\x";
        out += kDigits[b >> 4];
        out += kDigits[b & 0xf];
      },
      [&](uint32_t cp) {
        out += "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) out += kDigits[(cp >> shift) & 0xf];
      });
  return out;
}

bool has_unsafe_chars(std::string_view text) {
  bool unsafe = false;
  classify(
      text, [](size_t, size_t) {}, [&](unsigned char) { unsafe = true; }, [&](uint32_t) { unsafe = true; });
  return unsafe;
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (bytes >= 1024 && i < 4) {
    bytes /= 1024;
    ++i;
  }
  char out[32];
  std::snprintf(out, sizeof out, i == 0 ? "%.0f %s" : "%.1f %s", bytes, units[i]);
  return out;
}

}  // namespace tollgate
