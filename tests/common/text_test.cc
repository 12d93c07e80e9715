#include "common/text.h"

#include <doctest/doctest.h>

using namespace tollgate;

TEST_SUITE("common.text") {
  TEST_CASE("printable escapes control bytes and backslashes and keeps the rest") {
    struct Case {
      std::string in;
      std::string out;
    };
    const Case cases[] = {
        {"/usr/bin/ls", "/usr/bin/ls"},
        {"a\nb", "a\\x0ab"},
        {"\x1b[2J", "\\x1b[2J"},
        {"tab\there", "tab\\x09here"},
        {"del\x7f", "del\\x7f"},
        {"back\\slash", "back\\\\slash"},
        {"caf\xc3\xa9", "caf\xc3\xa9"},
        {"\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"},  // CJK kept
        {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"},                  // U+1F600 kept
        {std::string("nul\0x", 5), "nul\\x00x"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.in);
      CHECK(printable(c.in) == c.out);
      CHECK(has_unsafe_chars(c.in) == (c.in.find_first_of(std::string("\n\x1b\t\x7f\0", 5)) != std::string::npos));
    }
  }

  TEST_CASE("printable escapes C1 controls, as raw bytes and as UTF-8") {
    struct Case {
      std::string in;
      std::string out;
    };
    const Case cases[] = {
        {"a\x9b"
         "31mred",
         "a\\x9b31mred"},   // raw 8-bit CSI
        {"\x85", "\\x85"},  // raw NEL
        {"a\xc2\x9b"
         "31m",
         "a\\u009b31m"},                  // U+009B as UTF-8
        {"\xc2\x85line", "\\u0085line"},  // U+0085 NEL as UTF-8
        {"\xc2\x80\xc2\x9f", "\\u0080\\u009f"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.in);
      CHECK(printable(c.in) == c.out);
      CHECK(has_unsafe_chars(c.in));
    }
    CHECK(printable("\xc2\xa0nbsp") == "\xc2\xa0nbsp");  // U+00A0 is not a control
    CHECK_FALSE(has_unsafe_chars("\xc2\xa0nbsp"));
  }

  TEST_CASE("printable escapes bidi overrides, isolates and invisible format characters") {
    struct Case {
      std::string in;
      std::string out;
    };
    const Case cases[] = {
        {"/tmp/\xe2\x80\xae"
         "gnp.sh",
         "/tmp/\\u202egnp.sh"},  // RLO: would show as hs.png
        {"\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", "\\u202a\\u202b\\u202c\\u202d"},
        {"\xe2\x81\xa6x\xe2\x81\xa9", "\\u2066x\\u2069"},  // LRI ... PDI
        {"\xe2\x81\xa7\xe2\x81\xa8", "\\u2067\\u2068"},
        {"a\xe2\x80\x8e"
         "b\xe2\x80\x8f",
         "a\\u200eb\\u200f"},                           // LRM, RLM
        {"\xd8\x9c", "\\u061c"},                        // ARABIC LETTER MARK
        {"\xef\xbb\xbfstart", "\\ufeffstart"},          // BOM / ZWNBSP
        {"zero\xe2\x80\x8bwidth", "zero\\u200bwidth"},  // ZWSP
        {"line\xe2\x80\xa8sep", "line\\u2028sep"},      // LINE SEPARATOR
    };
    for (const auto& c : cases) {
      CAPTURE(c.in);
      CHECK(printable(c.in) == c.out);
      CHECK(has_unsafe_chars(c.in));
    }
  }

  TEST_CASE("printable escapes bytes that are not valid UTF-8, one byte at a time") {
    struct Case {
      std::string in;
      std::string out;
    };
    const Case cases[] = {
        {"caf\xe9", "caf\\xe9"},                       // Latin-1
        {"\xc0\xaf", "\\xc0\\xaf"},                    // overlong '/'
        {"\xed\xa0\x80", "\\xed\\xa0\\x80"},           // a surrogate
        {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},  // beyond U+10FFFF
        {"\xe2\x80", "\\xe2\\x80"},                    // truncated at the end
        {"\xe2(x", "\\xe2(x"},                         // truncated in the middle
        {"\xff", "\\xff"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.in);
      CHECK(printable(c.in) == c.out);
      CHECK(has_unsafe_chars(c.in));
    }
    CHECK_FALSE(has_unsafe_chars("back\\slash"));  // escaped, but not unsafe
  }
}
