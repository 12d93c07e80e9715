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
    };
    for (const auto& c : cases) {
      CAPTURE(c.in);
      CHECK(printable(c.in) == c.out);
    }
  }
}
