// The CLI's documentation stays in step with its command table: every
// subcommand has a real example in --help, a section in docs/cli.md, an
// entry in the man page and in the bash completion.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"
#include "tools/command.h"

using namespace tollgate;

TEST_SUITE("tools.docs") {
  TEST_CASE("every subcommand has an example, a cli.md section, a man page entry and a completion") {
    std::string cli_md = testing::read_text(testing::source_path("docs/cli.md"));
    std::string man = testing::read_text(testing::source_path("tools/man/tollgate.8"));
    std::string completion = testing::read_text(testing::source_path("tools/completion/tollgate.bash"));
    auto start = completion.find("local commands=\"");
    REQUIRE(start != std::string::npos);
    start += 16;
    std::string commands = completion.substr(start, completion.find('"', start) - start);
    for (const auto& spec : tools::all_commands()) {
      CAPTURE(spec.name);
      CHECK(spec.example.find("tollgate " + spec.name) != std::string::npos);
      CHECK(cli_md.find("### `tollgate " + spec.name) != std::string::npos);
      std::string roff_name;
      for (char c : spec.name) roff_name += c == '-' ? std::string("\\-") : std::string(1, c);
      bool in_man =
          man.find(".B " + roff_name) != std::string::npos || man.find(".BI \"" + roff_name) != std::string::npos;
      CHECK(in_man);
      CHECK((" " + commands + " ").find(" " + spec.name + " ") != std::string::npos);
      auto help = testing::run({testing::built_binary("tollgate"), spec.name, "--help"});
      CHECK(help.exit_code == 0);
      CHECK(help.out.find("Example:\n") != std::string::npos);
    }
  }

  TEST_CASE("tollgate --help and tollgate help list every subcommand exactly once") {
    for (const char* how : {"--help", "help"}) {
      CAPTURE(how);
      auto help = testing::run({testing::built_binary("tollgate"), how});
      REQUIRE(help.exit_code == 0);
      auto count_entries = [&](const std::string& name) {
        // An entry is a line "  NAME" followed by spaces and the summary.
        int n = 0;
        std::string needle = "\n  " + name + " ";
        for (auto at = help.out.find(needle); at != std::string::npos; at = help.out.find(needle, at + 1)) ++n;
        return n;
      };
      for (const auto& spec : tools::all_commands()) {
        CAPTURE(spec.name);
        CHECK(count_entries(spec.name) == 1);
        CHECK(help.out.find(spec.summary) == help.out.rfind(spec.summary));
      }
      CHECK(count_entries("help") == 1);
      CHECK(help.out.find("Exit codes:") != std::string::npos);
    }
  }

  TEST_CASE("the systemd unit's Documentation= names man pages that are installed") {
    std::string unit = testing::read_text(testing::source_path("enforcer/systemd/tollgated.service.in"));
    auto at = unit.find("\nDocumentation=");
    REQUIRE(at != std::string::npos);
    at += 15;
    std::string line = unit.substr(at, unit.find('\n', at) - at);
    int pages = 0;
    for (size_t pos = 0; (pos = line.find("man:", pos)) != std::string::npos; pos += 4) {
      auto open = line.find('(', pos), close = line.find(')', pos);
      REQUIRE(open != std::string::npos);
      REQUIRE(close != std::string::npos);
      std::string page = line.substr(pos + 4, open - pos - 4) + "." + line.substr(open + 1, close - open - 1);
      CAPTURE(page);
      std::string roff = testing::read_text(testing::source_path("tools/man/" + page));
      CHECK((roff.find(".TH ") == 0 || roff.find("\n.TH ") != std::string::npos));
      ++pages;
    }
    CHECK(pages > 0);
    CHECK(line.find("file:") == std::string::npos);  // docs in /usr/share/doc are compressed by the package
  }

  TEST_CASE("the docs name no path of the machine they were written or recorded on") {
    std::vector<std::string> files = {testing::source_path("README.md")};
    for (const auto& entry : std::filesystem::directory_iterator(testing::source_path("docs")))
      if (entry.path().extension() == ".md") files.push_back(entry.path().string());
    REQUIRE(files.size() > 5);
    for (const auto& file : files) {
      std::string text = testing::read_text(file);
      REQUIRE(!text.empty());
      for (const char* leak : {"/work/", "/home/", "/root/", "/tmp/tmp.", "/tmp/tollgate-test."}) {
        CAPTURE(file);
        CAPTURE(leak);
        CHECK(text.find(leak) == std::string::npos);
      }
    }
  }

  TEST_CASE("cli.md's 'Who may run what' table says what each command declares") {
    std::string cli_md = testing::read_text(testing::source_path("docs/cli.md"));
    auto row = [&](const std::string& first_cell) {
      auto at = cli_md.find("\n| " + first_cell + " |");
      REQUIRE_MESSAGE(at != std::string::npos, first_cell);
      return cli_md.substr(at + 1, cli_md.find('\n', at + 1) - at - 1);
    };
    const std::string anyone = row("anyone"), admin = row("root or `admin_group`"), root = row("root"),
                      daemon = row("the daemon running");
    for (const auto& spec : tools::all_commands()) {
      CAPTURE(spec.name);
      const std::string& declared = spec.needs == tools::Access::kRoot    ? root
                                    : spec.needs == tools::Access::kAdmin ? admin
                                                                          : anyone;
      // "`db rollback`" counts for db, "`compile --install`" for compile.
      CHECK(declared.find("`" + spec.name) != std::string::npos);
      CHECK((daemon.find("`" + spec.name + "`") != std::string::npos) == spec.needs_daemon);
    }
  }
}
