// tollgate import-blocklist FILE [--format sha256sum|csv] [-o MANIFEST]:
// a threat-intel hash list to a deny manifest (policy/blocklist.h).
#include <fmt/core.h>

#include <set>
#include <string_view>

#include "common/io.h"
#include "common/text.h"
#include "common/time.h"
#include "policy/blocklist.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

constexpr size_t kMaxListBytes = size_t{1} << 30;
constexpr size_t kProblemsShown = 100;

std::set<std::string> denied_hashes(std::string_view manifest) {
  std::set<std::string> out;
  constexpr std::string_view kKey = "  - sha256: ";
  for (size_t at = manifest.find(kKey); at != std::string_view::npos; at = manifest.find(kKey, at + 1))
    out.insert(std::string(manifest.substr(at + kKey.size(), 64)));
  return out;
}

class ImportBlocklistCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("file", file_, "Hash list: sha256sum output, or CSV with a sha256 column")->required();
    app.add_option("--format", format_, "sha256sum or csv (default: csv for *.csv, else sha256sum)")
        ->check(CLI::IsMember({"sha256sum", "csv"}));
    app.add_option("-o,--output", output_,
                   "Manifest to write (replaced atomically; only one import-blocklist wrote); default: stdout");
    app.footer(
        "Exit status: 0 written (malformed lines are skipped and listed on stderr), 3 the list or the\n"
        "manifest could not be read or written, 4 the list holds no hash at all.");
  }

  int run() override {
    if (format_.empty()) format_ = file_.ends_with(".csv") || file_.ends_with(".CSV") ? "csv" : "sha256sum";
    auto text = read_file(file_, kMaxListBytes);
    if (!text) return report(text.error());
    auto list = policy::parse_blocklist(*text, *policy::parse_blocklist_format(format_));
    for (size_t i = 0; i < list.problems.size() && i < kProblemsShown; ++i)
      fmt::print(stderr, "tollgate: {}:{}: skipped: {}\n", printable(file_), list.problems[i].line,
                 list.problems[i].message);
    if (list.problems.size() > kProblemsShown)
      fmt::print(stderr, "tollgate: {}: {} more malformed lines skipped\n", printable(file_),
                 list.problems.size() - kProblemsShown);
    if (list.entries.empty() && !list.problems.empty()) {
      fmt::print(stderr, "tollgate: {}: no SHA-256 found ({} malformed lines); is --format {} right?\n",
                 printable(file_), list.problems.size(), format_);
      return kExitPolicy;
    }
    const std::string manifest =
        policy::blocklist_manifest(list, {.source = file_, .format = format_, .generated_at = utc_now_rfc3339()});
    if (output_.empty()) {
      fmt::print("{}", manifest);
      print_summary(stderr, list, "");
      return kExitOk;
    }
    std::set<std::string> before;
    if (auto old = read_file(output_, kMaxListBytes)) {
      if (!old->starts_with(policy::kBlocklistHeader)) {
        fmt::print(stderr,
                   "tollgate: {}: not written by tollgate import-blocklist; refusing to replace it (choose another "
                   "-o, or remove it first)\n",
                   printable(output_));
        return kExitIo;
      }
      before = denied_hashes(*old);
    } else if (old.error().code() != ErrorCode::kNotFound) {
      return report(old.error());
    }
    if (auto st = write_file_atomic(output_, manifest, 0644); !st) return report(st.error());
    const auto after = denied_hashes(manifest);
    size_t added = 0, removed = 0;
    for (const auto& h : after) added += before.count(h) == 0;
    for (const auto& h : before) removed += after.count(h) == 0;
    print_summary(stdout, list, fmt::format(" ({} new, {} no longer listed)", added, removed));
    fmt::print(
        "Include it from the root manifest (include: - {}) and recompile; a hash denied there is denied\n"
        "wherever the file lands, before any allow rule (docs/manifest.md, \"Blocklists\").\n",
        printable(output_));
    return kExitOk;
  }

 private:
  void print_summary(std::FILE* to, const policy::Blocklist& list, const std::string& change) const {
    fmt::print(to, "{} {} deny entries{} from {}: {} duplicate lines merged, {} malformed lines skipped\n",
               output_.empty() ? "wrote" : "wrote " + printable(output_) + ":", list.entries.size(), change,
               printable(file_), list.duplicates, list.problems.size());
  }

  std::string file_, format_, output_;
};

}  // namespace

CommandSpec import_blocklist_command() {
  return {.name = "import-blocklist",
          .summary = "Turn a threat-intel hash list (sha256sum or CSV) into a deny manifest",
          .example =
              "  tollgate import-blocklist feeds/coinminers.sha256 -o /etc/tollgate/blocklists/coinminers.yaml\n"
              "  tollgate import-blocklist full_sha256.csv --format csv -o /etc/tollgate/blocklists/feed.yaml\n",
          .make = [] { return std::make_unique<ImportBlocklistCommand>(); }};
}

}  // namespace tollgate::tools
