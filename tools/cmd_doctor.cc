// tollgate doctor: which holes this host leaves open, and the hardening that
// closes each (tools/doctor.h). --fix writes a sysctl.d drop-in for the
// sysctl fixes and applies it; mount fixes are printed as fstab lines.
#include <fmt/core.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/io.h"
#include "common/text.h"
#include "tools/admin.h"
#include "tools/command.h"
#include "tools/doctor.h"

namespace tollgate::tools {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kDefaultProcRoot = "/proc";
constexpr const char* kDefaultSysctlDir = "/etc/sysctl.d";
constexpr const char* kDropinName = "90-tollgate.conf";

int exit_for(Severity s) {
  switch (s) {
    case Severity::kOk:
    case Severity::kInfo: return kExitOk;
    case Severity::kWarn: return kExitNo;
    case Severity::kFail: return kExitPolicy;
  }
  return kExitPolicy;
}

class DoctorCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kSocketOption);
    app.add_flag("--json", json_, "Print the checks as JSON");
    app.add_flag("--fix", fix_, "Write the sysctl fixes to a sysctl.d drop-in and apply them");
    app.add_option("--proc-root", proc_root_, "Read sysctls and the mount table from here (tests)")
        ->capture_default_str();
    app.add_option("--sysctl-dir", sysctl_dir_, "Where --fix writes " + std::string(kDropinName))
        ->capture_default_str();
    app.footer(
        "Exit status: 0 nothing open (only ok and info), 1 the worst finding is a warning (a hole\n"
        "hardening would close), 4 the worst is a failure (the daemon is not running or DEGRADED, a\n"
        "policy file or key can be changed by a non-root user, a watched filesystem is not marked),\n"
        "2 usage, 3 --fix could not write or apply, 6 --fix needs root.\n");
  }

  int prepare() override {
    if (fix_ && proc_root_ != kDefaultProcRoot && sysctl_dir_ == kDefaultSysctlDir) {
      fmt::print(stderr,
                 "tollgate: --fix with --proc-root also needs --sysctl-dir (refusing to write {} for "
                 "sysctls read from {})\n",
                 kDefaultSysctlDir, proc_root_);
      return kExitUsage;
    }
    return ConfiguredCommand::prepare();
  }

  // Only --fix on this host's own /proc changes anything.
  Requirement requirement(Access declared) const override {
    if (!fix_ || proc_root_ != kDefaultProcRoot) return {};
    return {.access = declared, .action = "doctor --fix", .why = "it writes /etc/sysctl.d and /proc/sys"};
  }

  int run() override {
    const Settings* settings = &*settings_;
    auto checks = run_checks(gather_host_facts(proc_root_, *settings));

    json fixed = json::array();
    if (fix_) {
      std::vector<SysctlFix> fixes;
      for (const auto& c : checks)
        if (c.sysctl && c.status >= Severity::kWarn) fixes.push_back(*c.sysctl);
      if (!fixes.empty()) {
        const std::string dropin = sysctl_dir_ + "/" + kDropinName;
        auto existing = read_file(dropin, 1u << 20);
        if (auto st = write_file_atomic(dropin, sysctl_dropin(existing ? *existing : "", fixes), 0644); !st)
          return report(st.error());
        if (auto st = apply_sysctls(proc_root_, fixes); !st) return report(st.error());
        for (const auto& f : fixes) {
          fixed.push_back({{"sysctl", f.name}, {"value", f.value}, {"file", dropin}});
          if (!json_) fmt::print("fixed: {} = {} (applied, and kept in {})\n", f.name, f.value, dropin);
        }
        checks = run_checks(gather_host_facts(proc_root_, *settings));  // what is open now
      } else if (!json_) {
        fmt::print("fix: no sysctl to change\n");
      }
    }
    print(checks, fixed);
    return exit_for(worst(checks));
  }

 private:
  void print(const std::vector<Check>& checks, const json& fixed) const {
    const Severity w = worst(checks);
    if (json_) {
      json out = {{"worst", to_string(w)}, {"checks", json::array()}, {"fixed", fixed}};
      for (const auto& c : checks) {
        json j = {{"id", c.id}, {"status", to_string(c.status)}, {"why", c.why}, {"fix", c.fix}};
        j["sysctl"] = c.sysctl ? json{{"name", c.sysctl->name}, {"value", c.sysctl->value}} : json(nullptr);
        if (!c.hole.empty()) j["hole"] = c.hole;
        out["checks"].push_back(std::move(j));
      }
      fmt::print("{}\n", out.dump(2, ' ', true, json::error_handler_t::replace));
      return;
    }
    size_t warn = 0, failed = 0;
    for (const auto& c : checks) {
      warn += c.status == Severity::kWarn;
      failed += c.status == Severity::kFail;
    }
    fmt::print("tollgate doctor: {} failure(s), {} warning(s)\n\n", failed, warn);
    for (const auto& c : checks) {
      std::string tag = std::string(to_string(c.status));
      for (auto& ch : tag) ch = static_cast<char>(c.status >= Severity::kWarn ? std::toupper(ch) : ch);
      fmt::print("{:<5} {:<22} {}\n", tag, c.id, printable(c.why));
      if (c.status >= Severity::kWarn && !c.fix.empty()) fmt::print("      fix: {}\n", printable(c.fix));
    }
    auto holes = open_holes(checks);
    if (!holes.empty()) {
      std::string names;
      for (const auto& h : holes) names += (names.empty() ? "" : ", ") + h;
      fmt::print("\nholes open: {}. --fix applies the sysctl fixes (sysctl.d drop-in {}/{}).\n", names, sysctl_dir_,
                 kDropinName);
    }
  }

  bool json_ = false;
  bool fix_ = false;
  std::string proc_root_ = kDefaultProcRoot;
  std::string sysctl_dir_ = kDefaultSysctlDir;
};

}  // namespace

CommandSpec doctor_command() {
  return {.name = "doctor",
          .summary = "Check the holes this host leaves open and the hardening that closes each",
          .example = "  tollgate doctor\n  tollgate doctor --json\n  sudo tollgate doctor --fix\n",
          .needs = Access::kRoot,  // --fix only (requirement())
          .make = [] { return std::make_unique<DoctorCommand>(); }};
}

}  // namespace tollgate::tools
