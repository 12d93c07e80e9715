#include "policy/blocklist.h"

#include <doctest/doctest.h>

#include "policy/manifest.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::policy;

namespace {
const std::string kA(64, 'a'), kB(64, 'b'), kC(64, 'c');
std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

TEST_SUITE("policy.blocklist") {
  TEST_CASE("sha256sum lists: GNU text and binary mode, bare hashes, BSD tags, comments; malformed lines by number") {
    const std::string text =
        "# coin miners, 2026-12\n"
        "\n" +
        kA + "  xmrig\n" +                   // 3
        upper(kB) + " *kdevtmpfsi\n" +       // 4: binary mode, upper case
        kC + "\n" +                          // 5: bare
        "not-a-hash  file\n" +               // 6
        kA.substr(0, 63) + "  short\n" +     // 7
        kA + "  xmrig-again\n" +             // 8: duplicate
        "SHA256 (kinsing) = " + kC + "\n" +  // 9: duplicate, BSD form
        "SHA256 (broken) = zz\n" +           // 10
        "\\" + kA + "  a\\nb\n";             // 11: escaped name, duplicate
    auto list = parse_blocklist(text, BlocklistFormat::kSha256sum);
    REQUIRE(list.entries.size() == 3);
    CHECK(list.entries[0].sha256 == kA);
    CHECK(list.entries[0].line == 3);
    CHECK(list.entries[0].name == "xmrig");
    CHECK(list.entries[0].also_lines == std::vector<size_t>{8, 11});
    CHECK(list.entries[1].sha256 == kB);  // stored lowercase
    CHECK(list.entries[1].name == "kdevtmpfsi");
    CHECK(list.entries[2].line == 5);
    CHECK(list.entries[2].name.empty());
    CHECK(list.entries[2].also_lines == std::vector<size_t>{9});
    CHECK(list.duplicates == 3);
    REQUIRE(list.problems.size() == 3);
    CHECK(list.problems[0].line == 6);
    CHECK(list.problems[0].message == "expected a SHA-256 (64 hex digits) at the start of the line, got 'not-a-hash'");
    CHECK(list.problems[1].line == 7);
    CHECK(list.problems[2].line == 10);
  }

  TEST_CASE("csv lists: a header (also a commented one) picks the columns; without one the first hash field") {
    const std::string bazaar =
        "################\n"
        "# MalwareBazaar export\n"
        "# \"first_seen_utc\",\"sha256_hash\",\"md5_hash\",\"file_name\",\"signature\"\n"
        "\"2026-12-01 10:00:00\", \"" +
        kA + "\", \"d41d\", \"xmrig\", \"CoinMiner\"\n" + "\"2026-12-01 11:00:00\", \"" + kB +
        "\", \"d41d\", \"a, \"\"quoted\"\" name\", \"XMRig\"\n" +
        "\"2026-12-01 12:00:00\", \"n/a\", \"d41d\", \"x\", \"y\"\n" + "\"2026-12-01 13:00:00\", \"" + kA +
        "\", \"d41d\", \"xmrig\", \"CoinMiner\"\n" + "\"unterminated, " + kC + "\n";
    auto list = parse_blocklist(bazaar, BlocklistFormat::kCsv);
    REQUIRE(list.entries.size() == 2);
    CHECK(list.entries[0].sha256 == kA);
    CHECK(list.entries[0].line == 4);
    CHECK(list.entries[0].name == "CoinMiner");  // the signature column is preferred
    CHECK(list.entries[0].also_lines == std::vector<size_t>{7});
    CHECK(list.entries[1].name == "XMRig");
    REQUIRE(list.problems.size() == 2);
    CHECK(list.problems[0].line == 6);
    CHECK(list.problems[0].message == "column 2 is not a SHA-256 (64 hex digits): 'n/a'");
    CHECK(list.problems[1].line == 8);
    CHECK(list.problems[1].message == "unterminated quoted field");

    auto plain = parse_blocklist("x,y," + kC + ",z\n" + "no hash here\n", BlocklistFormat::kCsv);
    REQUIRE(plain.entries.size() == 1);
    CHECK(plain.entries[0].sha256 == kC);
    REQUIRE(plain.problems.size() == 1);
    CHECK(plain.problems[0].message == "no field is a SHA-256 (64 hex digits)");
  }

  TEST_CASE("the manifest: one deny entry per hash, labelled SOURCE:LINE, that the loader accepts") {
    auto list = parse_blocklist(kA + "  xmrig\n" + kB + "\n" + kA + "\n", BlocklistFormat::kSha256sum);
    std::string yaml = blocklist_manifest(
        list, {.source = "feeds/miners.sha256", .format = "sha256sum", .generated_at = "2026-12-01T10:00:00Z"});
    CHECK(yaml.starts_with(std::string(kBlocklistHeader) +
                           " from feeds/miners.sha256 (sha256sum) at 2026-12-01T10:00:00Z.\n"));
    CHECK(yaml.find("# 2 hashes; 1 duplicate lines merged; 0 malformed lines skipped.\n") != std::string::npos);
    CHECK(yaml.find("  - sha256: " + kA + "\n    label: \"feeds/miners.sha256:1 xmrig (also line 3)\"\n") !=
          std::string::npos);
    CHECK(yaml.find("  - sha256: " + kB + "\n    label: \"feeds/miners.sha256:2\"\n") != std::string::npos);
    testing::TempDir dir;
    testing::write_text(dir.file("blocklist.yaml"), yaml);
    auto loaded = load_manifest(dir.file("blocklist.yaml"));
    REQUIRE_MESSAGE(loaded, loaded.error().message());
    REQUIRE(loaded->entries.size() == 2);
    CHECK(loaded->entries[0].label == "feeds/miners.sha256:1 xmrig (also line 3)");

    // A hostile name cannot break out of its string or the comment.
    auto hostile = parse_blocklist(kC + "  x\"\n- sha256: " + kA + "\n", BlocklistFormat::kSha256sum);
    std::string h = blocklist_manifest(hostile, {.source = "a\nb", .format = "sha256sum", .generated_at = "t"});
    testing::write_text(dir.file("hostile.yaml"), h);
    auto parsed = load_manifest(dir.file("hostile.yaml"));
    REQUIRE_MESSAGE(parsed, parsed.error().message());
    CHECK(parsed->entries.size() == 1);
    // An empty list is still a manifest.
    std::string empty = blocklist_manifest({}, {.source = "none", .format = "csv", .generated_at = "t"});
    CHECK(empty.ends_with("version: 1\ndeny: []\n"));
    testing::write_text(dir.file("empty.yaml"), empty);
    CHECK(load_manifest(dir.file("empty.yaml")));
  }
}
