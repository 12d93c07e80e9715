// tollgate approve / revoke: pin SHA-256 approvals in the approvals manifest,
// recompile, install, reload. And approve --from-report: the audit report as
// a reviewable manifest.
#include <fcntl.h>
#include <fmt/core.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <iostream>
#include <set>

#include "common/io.h"
#include "common/text.h"
#include "common/time.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"
#include "policy/manifest.h"
#include "tools/admin.h"
#include "tools/approvals.h"
#include "tools/command.h"
#include "tools/file_facts.h"
#include "tools/pending_trust.h"
#include "tools/policy_install.h"

namespace tollgate::tools {
namespace {

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A file to approve: resolved, checked, hashed.
struct Candidate {
  std::string origin;
  std::string sha256;
  uint64_t size = 0;
};

// Regular files with an execute bit under `dir`, sorted.
Result<std::vector<std::string>> executables_under(const std::string& dir) {
  static thread_local std::vector<std::string>* found = nullptr;
  std::vector<std::string> out;
  found = &out;
  int rc = ::nftw(
      dir.c_str(),
      [](const char* path, const struct stat* st, int type, FTW*) -> int {
        if (type == FTW_F && S_ISREG(st->st_mode) && (st->st_mode & 0111)) found->push_back(path);
        return 0;
      },
      32, FTW_PHYS);
  found = nullptr;
  if (rc != 0) return fail_errno(errno, dir, "cannot walk");
  std::sort(out.begin(), out.end());
  return out;
}

// Resolves, checks and hashes one file. Refusals are InvalidInput (not a
// regular file) or Permission (unsafe ownership, unless forced).
Result<Candidate> examine(const std::string& path, bool force) {
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved)) return fail_errno(errno, path, "cannot resolve");
  std::string real = resolved;
  struct stat st {};
  if (::lstat(real.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    return fail(ErrorCode::kInvalidInput, fmt::format("{}: refused: not a regular file", real));
  auto fd = open_regular(real, O_RDONLY);
  if (!fd) return std::unexpected(fd.error());
  std::string why;
  if (!policy::chain_is_safe(owner_chain(real), &why) && !force)
    return fail(ErrorCode::kPermission,
                fmt::format("{}: refused: {}, so an unprivileged user could replace what you approve; make it and "
                            "its directories root-owned and not group/world-writable, or pass --force",
                            real, why));
  uint64_t size = 0;
  auto digest = hashdb::sha256_fd(fd->get(), real, &size);
  if (!digest) return std::unexpected(digest.error());
  return Candidate{real, hashdb::to_hex(*digest), size};
}

std::string approval_line(const Approval& a, const std::string& file, size_t line) {
  std::string extra;
  if (!a.ticket.empty()) extra += " ticket=" + a.ticket;
  if (!a.expires.empty()) extra += " expires=" + a.expires;
  return fmt::format("approved {}  {}  label={}{}  by {} at {}  ({}:{})", a.sha256,
                     a.origin.empty() ? "(by hash)" : a.origin, a.label, extra, a.approved_by, a.approved_at, file,
                     line);
}

// The approvals manifest was rewritten but the install failed (`why`): put
// `before` back (remove the file when there was none), so the manifest
// matches the installed database, and say so. Returns the exit code.
int restore_approvals(const Settings& settings, const ApprovalsDoc& before, const Error& why, std::string_view verb) {
  Status restored = before.exists ? write_approvals(settings.approvals, before.text)
                    : ::unlink(settings.approvals.c_str()) == 0
                        ? Status{}
                        : fail_errno(errno, settings.approvals, "cannot remove");
  fmt::print(stderr, "tollgate: nothing was {}: {}\n", verb, why.message());
  if (!restored)
    fmt::print(stderr, "tollgate: and restoring {} failed: {}\n", settings.approvals, restored.error().message());
  return exit_code_for(why);
}

// Adds `approvals` to the approvals manifest, recompiles and reloads, all
// under the lock; prints what landed. Restores the manifest when the
// compile fails.
int land_approvals(const Settings& settings, std::vector<Approval> approvals) {
  if (settings.approvals.empty()) {
    fmt::print(stderr, "tollgate: {}: 'approvals' is not set; it names the manifest tollgate approve writes to\n",
               settings.file_name());
    return kExitPolicy;
  }
  auto lock = ApprovalsLock::acquire(settings.approvals);
  if (!lock) return report(lock.error());
  auto doc = read_approvals(settings.approvals);
  if (!doc) return report(doc.error());
  std::set<std::string> present;
  std::vector<Approval> fresh;
  for (auto& a : approvals) {
    auto it = std::find_if(doc->entries.begin(), doc->entries.end(),
                           [&](const ApprovalEntry& e) { return e.sha256 == a.sha256; });
    if (it != doc->entries.end()) {
      fmt::print("already approved {}  {}  ({}:{})\n", a.sha256, a.origin.empty() ? it->origin : a.origin,
                 settings.approvals, it->line);
      continue;
    }
    if (!present.insert(a.sha256).second) continue;
    fresh.push_back(std::move(a));
  }
  if (fresh.empty()) return kExitOk;
  auto text = add_approvals(doc->text, fresh, settings.approvals);
  if (!text) return report(text.error());
  if (auto st = write_approvals(settings.approvals, *text); !st) return report(st.error());
  auto included = check_approvals_included(settings);
  auto installed = included ? compile_and_install(settings) : Result<InstallResult>(std::unexpected(included.error()));
  if (!installed) return restore_approvals(settings, *doc, installed.error(), "approved");
  auto after = parse_approvals(*text, settings.approvals);
  for (const auto& a : fresh) {
    size_t line = 0;
    if (after) {
      for (const auto& e : after->entries)
        if (e.sha256 == a.sha256) line = e.line;
    }
    fmt::print("{}\n", approval_line(a, settings.approvals, line));
  }
  fmt::print("{}\n", describe_install(settings, *installed));
  return kExitOk;
}

// One reviewable entry per reported binary.
Approval from_report_entry(const eventlog::BinaryReport& b, const std::string& by, const std::string& at) {
  Approval a{.sha256 = b.sha256, .origin = b.path, .label = base_name(b.path), .approved_by = by, .approved_at = at};
  a.comments.push_back(fmt::format("{}: seen {} times ({}), first {}, last {}", b.path, b.count, denial_split(b),
                                   b.first_seen, b.last_seen));
  a.comments.push_back("launched by " + join_launchers(b.launchers) + "; users " + join_users(b.users));
  if (b.miner.suspect) {
    std::string reasons;
    for (const auto& r : b.miner.reasons) reasons += (reasons.empty() ? "" : "; ") + r.text;
    a.comments.push_back(fmt::format("WARNING: looks like a miner (score {}): {}", b.miner.score, reasons));
    a.comments.push_back("left commented out: remove the '# ' to approve it anyway");
    a.commented_out = true;
  }
  return a;
}

class ApproveCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kLogOption | kSocketOption);
    app.add_option("paths", paths_, "Files (or directories with --recursive) to approve");
    app.add_option("--sha256", hashes_, "Approve this SHA-256 (64 hex) without a file; needs --label");
    app.add_option("--label", label_, "Label for the entries (default: the file name)");
    app.add_option("--ticket", ticket_, "Change ticket recorded with the entries");
    app.add_option("--expires", expires_, "Expiry date (2027-01-01 or RFC 3339)");
    app.add_flag("-r,--recursive", recursive_, "Approve every executable regular file under a directory");
    app.add_flag("--force", force_, "Approve files an unprivileged user could still rewrite");
    app.add_flag("--from-report", from_report_, "Turn the audit report into a reviewable manifest");
    app.add_option("--since", since_, "With --from-report: report window (30m, 24h, 7d)")->capture_default_str();
    app.add_option("-o,--output", output_, "With --from-report: write the manifest here instead of stdout");
    app.add_flag("-i,--interactive", interactive_, "With --from-report: ask y/n for each binary");
    app.add_option("--deb", debs_,
                   "Trust this package's files until the next recompile, before 'dpkg -i' (pending trust, as apt's "
                   "hook gives; the policy must trust dpkg)");
  }

  int prepare() override {
    if (int rc = ConfiguredCommand::prepare(); rc != kExitOk) return rc;
    // Accept exactly what the compiler accepts for `expires:`.
    if (!expires_.empty() && !parse_rfc3339(expires_)) {
      fmt::print(stderr, "tollgate: --expires '{}': use a date like 2027-01-01 or an RFC 3339 time\n", expires_);
      return kExitUsage;
    }
    if (from_report_) {
      auto cutoff = since_cutoff(since_);
      if (!cutoff) return usage_error(cutoff.error());
      cutoff_ = *cutoff;
      return kExitOk;
    }
    if (!debs_.empty() && (!paths_.empty() || !hashes_.empty() || from_report_)) {
      fmt::print(stderr, "tollgate: approve --deb takes package files only (no PATH, --sha256 or --from-report)\n");
      return kExitUsage;
    }
    if (!debs_.empty()) return kExitOk;
    if (paths_.empty() && hashes_.empty()) {
      fmt::print(stderr, "tollgate: approve needs PATH..., --sha256 HEX, --deb FILE.deb or --from-report\n");
      return kExitUsage;
    }
    if (!hashes_.empty() && label_.empty()) {
      fmt::print(stderr, "tollgate: approve --sha256 needs --label (there is no file name to label it with)\n");
      return kExitUsage;
    }
    return kExitOk;
  }

  // --from-report without --interactive only writes a manifest to review
  // (stdout or -o): reading the log needs no more than reading it.
  Requirement requirement(Access declared) const override {
    return {.access = from_report_ && !installs_from_report() ? Access::kAnyone : declared};
  }

  int run() override {
    if (from_report_) return run_from_report(*settings_);
    if (!debs_.empty()) return trust_debs(*settings_, debs_, invoking_user(), /*apt_hook=*/false);
    auto& settings = settings_;
    std::vector<Approval> approvals;
    std::string by = invoking_user(), at = utc_now_rfc3339();
    for (const auto& hex : hashes_) {
      auto digest = hashdb::sha256_from_hex(hex);
      if (!digest) {
        fmt::print(stderr, "tollgate: --sha256 '{}': not 64 hex digits\n", hex);
        return kExitUsage;
      }
      approvals.push_back(make(hashdb::to_hex(*digest), "", by, at, "approved by hash"));
    }
    int status = kExitOk;
    for (const auto& path : paths_) {
      struct stat st {};
      std::vector<std::string> files = {path};
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        if (!recursive_) {
          fmt::print(stderr, "tollgate: {}: refused: a directory; pass --recursive to approve its executables\n", path);
          status = kExitNo;
          continue;
        }
        auto listed = executables_under(path);
        if (!listed) return report(listed.error());
        files = std::move(*listed);
      }
      for (const auto& file : files) {
        auto c = examine(file, force_);
        if (!c) {
          fmt::print(stderr, "tollgate: {}\n", c.error().message());
          status = kExitNo;
          continue;
        }
        approvals.push_back(make(c->sha256, c->origin, by, at, fmt::format("{} bytes when approved", c->size)));
      }
    }
    if (status != kExitOk) {
      fmt::print(stderr, "tollgate: nothing was approved\n");
      return status;
    }
    return land_approvals(*settings, std::move(approvals));
  }

 private:
  Approval make(std::string sha, std::string origin, const std::string& by, const std::string& at,
                std::string note) const {
    Approval a{.sha256 = std::move(sha),
               .origin = std::move(origin),
               .ticket = ticket_,
               .expires = expires_,
               .approved_by = by,
               .approved_at = at};
    a.label = label_.empty() ? base_name(a.origin) : label_;
    a.comments.push_back(std::move(note));
    return a;
  }

  // --interactive without -o installs what the admin says yes to.
  bool installs_from_report() const { return interactive_ && output_.empty(); }

  int run_from_report(const Settings& settings) {
    const bool installs = installs_from_report();
    eventlog::ReportBuilder builder({.since_us = cutoff_, .user_name = user_name});
    auto scanned = scan_events(settings.event_log, [&](eventlog::Event&& e) { builder.add(e); });
    if (!scanned) return report(scanned.error());
    auto r = std::move(builder).finish();
    std::string by = invoking_user(), at = utc_now_rfc3339();
    std::vector<Approval> entries;
    for (const auto& b : r.binaries) {
      if (b.sha256.empty()) {
        fmt::print(stderr, "tollgate: {}: skipped, the daemon could not hash it\n", printable(b.path));
        continue;
      }
      Approval a = from_report_entry(b, by, at);
      if (interactive_) {
        fmt::print(stderr, "\n");
        for (const auto& c : a.comments)
          if (!c.starts_with("left commented out")) fmt::print(stderr, "  {}\n", printable(c));
        fmt::print(stderr, "Approve {} ({})? [y/N] ", printable(b.path), b.sha256.substr(0, 16));
        std::string answer;
        if (!std::getline(std::cin, answer)) {
          fmt::print(stderr, "\n");
          break;
        }
        if (answer != "y" && answer != "Y" && answer != "yes") continue;
        a.commented_out = false;  // a human said yes
        std::erase_if(a.comments, [](const std::string& c) { return c.starts_with("left commented out"); });
      }
      entries.push_back(std::move(a));
    }
    if (installs) {
      if (entries.empty()) {
        fmt::print("Nothing approved.\n");
        return kExitOk;
      }
      return land_approvals(settings, std::move(entries));
    }
    std::string header = fmt::format(
        "# Generated by `tollgate approve --from-report --since {}` at {}\n"
        "# from {} ({} binaries). Review every entry and delete what you do not\n"
        "# want; entries that look like miners are commented out.\n"
        "version: 1\n"
        "name: from-report\n"
        "allow:\n",
        since_, at, settings.event_log, entries.size());
    std::string text = header;
    for (const auto& a : entries) text += render_approval(a);
    if (output_.empty()) {
      fmt::print("{}", text);
      return kExitOk;
    }
    if (auto st = write_file_atomic(output_, text, 0644); !st) return report(st.error());
    fmt::print(stderr, "wrote {} entries to {}\n", entries.size(), output_);
    return kExitOk;
  }

  std::vector<std::string> paths_, hashes_, debs_;
  std::string label_, ticket_, expires_;
  bool recursive_ = false, force_ = false, from_report_ = false, interactive_ = false;
  std::string since_ = "24h";
  TimeUs cutoff_ = 0;  // --from-report: from --since, by prepare()
  std::string output_;
};

class RevokeCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kSocketOption);
    app.add_option("targets", targets_, "Paths (matched by their current hash and by origin) or SHA-256 values")
        ->required();
  }

  int run() override {
    auto& settings = settings_;
    if (settings->approvals.empty()) {
      fmt::print(stderr, "tollgate: {}: 'approvals' is not set\n", settings->file_name());
      return kExitPolicy;
    }
    auto lock = ApprovalsLock::acquire(settings->approvals);
    if (!lock) return report(lock.error());
    auto doc = read_approvals(settings->approvals);
    if (!doc) return report(doc.error());
    std::vector<ApprovalEntry> remove;
    std::set<size_t> chosen;
    int status = kExitOk;
    for (const auto& target : targets_) {
      std::set<std::string> hashes;
      std::string origin;
      if (auto digest = hashdb::sha256_from_hex(target); digest && target.find('/') == std::string::npos) {
        hashes.insert(hashdb::to_hex(*digest));
      } else {
        char resolved[PATH_MAX];
        origin = ::realpath(target.c_str(), resolved) ? std::string(resolved) : target;
        if (auto current = hashdb::sha256_path(origin)) hashes.insert(hashdb::to_hex(*current));
      }
      bool matched = false;
      for (size_t i = 0; i < doc->entries.size(); ++i) {
        const auto& e = doc->entries[i];
        if (hashes.contains(e.sha256) || (!origin.empty() && (e.origin == origin || e.origin == target))) {
          matched = true;
          if (chosen.insert(i).second) remove.push_back(e);
        }
      }
      if (!matched) {
        fmt::print(stderr, "tollgate: {}: no approval in {} matches it\n", target, settings->approvals);
        status = kExitNo;
      }
    }
    if (status != kExitOk) {
      fmt::print(stderr, "tollgate: nothing was revoked\n");
      return status;
    }
    std::string text = remove_approvals(doc->text, remove);
    if (auto st = write_approvals(settings->approvals, text); !st) return report(st.error());
    auto installed = compile_and_install(*settings);
    if (!installed) return restore_approvals(*settings, *doc, installed.error(), "revoked");
    for (const auto& e : remove)
      fmt::print("revoked {}  {}  label={}  (was {}:{})\n", e.sha256, e.origin.empty() ? "(by hash)" : e.origin,
                 e.label, settings->approvals, e.line);
    fmt::print("{}\n", describe_install(*settings, *installed));
    return kExitOk;
  }

 private:
  std::vector<std::string> targets_;
};

}  // namespace

CommandSpec approve_command() {
  return {.name = "approve",
          .summary = "Approve binaries by hash, recompile, install and reload",
          .example =
              "  sudo tollgate approve /opt/app/bin/tool --ticket OPS-12 --expires 2027-01-01\n"
              "  sudo tollgate approve --recursive /opt/app/bin --label app\n"
              "  sudo tollgate approve --sha256 "
              "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --label vendor-agent\n"
              "  tollgate approve --from-report --since 7d -o /tmp/review.yaml\n"
              "  sudo tollgate approve --from-report --since 24h --interactive\n",
          .needs = Access::kAdmin,
          .make = [] { return std::make_unique<ApproveCommand>(); }};
}

CommandSpec revoke_command() {
  return {.name = "revoke",
          .summary = "Remove approvals (by path or SHA-256), recompile, install and reload",
          .example =
              "  sudo tollgate revoke /opt/app/bin/tool\n"
              "  sudo tollgate revoke 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
          .needs = Access::kAdmin,
          .make = [] { return std::make_unique<RevokeCommand>(); }};
}

}  // namespace tollgate::tools
