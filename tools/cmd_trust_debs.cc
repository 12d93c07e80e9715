// tollgate trust-debs [--apt-hook] FILE.deb...: pending trust for packages
// about to be unpacked (apt's DPkg::Pre-Install-Pkgs hook; docs/upgrades.md).
#include <fmt/core.h>
#include <unistd.h>

#include <iostream>
#include <iterator>

#include "tools/admin.h"
#include "tools/command.h"
#include "tools/pending_trust.h"

namespace tollgate::tools {
namespace {

constexpr const char* kHookUser = "apt-hook";

class TrustDebsCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    add_admin_options(app, options_, kSocketOption);
    app.add_option("debs", debs_, "Package files (.deb) about to be unpacked");
    app.add_flag(
        "--apt-hook", apt_hook_,
        "Read the packages from apt's DPkg::Pre-Install-Pkgs protocol on stdin (version 1-3); never fails apt");
  }

  int prepare() override {
    if (int rc = ConfiguredCommand::prepare(); rc != kExitOk) return rc;
    if (!apt_hook_ && debs_.empty()) {
      fmt::print(stderr, "tollgate: trust-debs needs FILE.deb... (or --apt-hook with apt's list on stdin)\n");
      return kExitUsage;
    }
    return kExitOk;
  }

  // Installed but not set up yet (no config file): the apt hook, whoever
  // runs it, must stay quiet.
  Requirement requirement(Access declared) const override {
    return {.access = apt_hook_ && !settings_->from_file() ? Access::kAnyone : declared};
  }

  int run() override {
    if (apt_hook_) {
      std::string input(std::istreambuf_iterator<char>(std::cin), {});
      if (!settings_->from_file()) return kExitOk;
      auto listed = debs_from_apt_hook(input);
      debs_.insert(debs_.end(), listed.begin(), listed.end());
      if (debs_.empty()) return kExitOk;  // apt only configures or removes
    }
    return trust_debs(*settings_, debs_, apt_hook_ ? kHookUser : invoking_user(), apt_hook_);
  }

 private:
  std::vector<std::string> debs_;
  bool apt_hook_ = false;
};

}  // namespace

CommandSpec trust_debs_command() {
  return {.name = "trust-debs",
          .summary = "Trust the files of packages about to be unpacked, until the recompile (the apt hook)",
          .example =
              "  sudo tollgate trust-debs /var/cache/apt/archives/bash_5.2.15-2_amd64.deb\n"
              "  tollgate trust-debs --apt-hook < apt-protocol   # what DPkg::Pre-Install-Pkgs runs\n",
          .needs = Access::kAdmin,
          .make = [] { return std::make_unique<TrustDebsCommand>(); }};
}

}  // namespace tollgate::tools
