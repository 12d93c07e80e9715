// tollgate db verify|dump: inspect a compiled policy database.
#include <fmt/core.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "hashdb/keys.h"
#include "hashdb/store.h"
#include "tools/admin.h"
#include "tools/approvals.h"
#include "tools/command.h"
#include "tools/policy_install.h"

namespace tollgate::tools {
namespace {

using nlohmann::json;

json source_json(const hashdb::Source& s) { return {{"file", s.file}, {"line", s.line}}; }

std::string source_text(const hashdb::Source& s) {
  if (s.file.empty()) return "-";
  return s.line > 0 ? fmt::format("{}:{}", s.file, s.line) : s.file;
}

class DbCommand final : public ConfiguredCommand {
 public:
  void setup(CLI::App& app) override {
    app.require_subcommand(1);
    verify_ = app.add_subcommand("verify", "Check a database's integrity and signature");
    verify_->add_option("db", db_path_, "Policy database")->required();
    verify_->add_option("--pubkey", pubkey_, "Public key the database must be signed by");
    verify_->add_flag("--json", json_, "Machine-readable output");
    verify_->footer(
        "Example:\n  tollgate db verify /var/lib/tollgate/policy.db --pubkey /etc/tollgate/signing.pub\n"
        "Exit status: 0 valid, 4 invalid (the reason is printed), 3 unreadable.\n");

    dump_ = app.add_subcommand("dump", "Print the meta values and every rule");
    dump_->add_option("db", db_path_, "Policy database")->required();
    dump_->add_flag("--json", json_, "Machine-readable output");

    rollback_ = app.add_subcommand("rollback", "Make an older policy database the live one on purpose (root)");
    rollback_->add_option("--to", db_path_, "The database to roll back to (left where it is)")->required();
    add_admin_options(*rollback_, options_, kSocketOption);
    rollback_->footer(
        "Example:\n  sudo tollgate db rollback --to /var/backups/tollgate/policy-gen6.db\n"
        "Exit status: 0 rolled back, 4 refused (signature, lockout; the reason is printed),\n"
        "3 unreadable, 5 tollgated did not answer, 6 not root.\n");
  }

  // Only rollback reads the configuration (and may be refused).
  int prepare() override { return rollback_->parsed() ? ConfiguredCommand::prepare() : kExitOk; }

  // Lowering the floor is root's decision alone, never admin_group's;
  // verify and dump only read the file named.
  Requirement requirement(Access declared) const override {
    if (!rollback_->parsed()) return {};
    return {.access = declared, .action = "db rollback", .why = "it lowers the rollback floor"};
  }

  int run() override {
    if (rollback_->parsed()) return run_rollback();
    return verify_->parsed() ? run_verify() : run_dump();
  }

 private:
  // The anti-rollback floor refuses older generations; this is the one
  // deliberate way past it, recorded in the event log with who asked.
  int run_rollback() {
    auto& settings = settings_;
    char resolved[PATH_MAX];
    if (!::realpath(db_path_.c_str(), resolved)) return report(Error::from_errno(errno, db_path_, "cannot resolve"));
    // Serialise with approve/refresh; an emergency rollback does not need
    // the approvals manifest's directory to exist.
    std::optional<ApprovalsLock> lock;
    if (!settings->approvals.empty()) {
      auto acquired = ApprovalsLock::acquire(settings->approvals);
      if (acquired) lock.emplace(std::move(*acquired));
      else if (acquired.error().code() != ErrorCode::kNotFound) return report(acquired.error());
    }
    auto done = rollback_to(*settings, resolved, invoking_user());
    if (!done) return report(done.error());
    fmt::print("rolled back {} to {} (generation {}); the rollback floor is now generation {}; {}\n",
               settings->database, resolved, done->generation, done->generation,
               done->by_daemon ? "tollgated enforces it" : done->note);
    return kExitOk;
  }

  int run_verify() {
    auto pinned = load_pinned_key(pubkey_);
    if (!pinned) return report(pinned.error());
    const std::optional<hashdb::PublicKey>& key = *pinned;
    auto store = hashdb::PolicyStore::open(db_path_, {.public_key = key ? &*key : nullptr});
    if (!store) {
      if (json_) fmt::print("{}\n", json{{"valid", false}, {"error", store.error().message()}}.dump());
      return report(store.error());
    }
    const auto& s = **store;
    const auto& c = s.counts();
    if (json_) {
      fmt::print("{}\n", json{{"valid", true},
                              {"signature_checked", key.has_value()},
                              {"generation", s.generation()},
                              {"content_digest", s.meta_value("content_digest")},
                              {"signer_key_id", s.meta_value("signer_key_id")}}
                             .dump());
      return kExitOk;
    }
    fmt::print("{}: valid, generation {}, {} hash rules, {} path rules, {} signers\n", db_path_, s.generation(),
               c.hash_allow + c.hash_deny, c.path_allow + c.path_deny, c.signers);
    if (key) fmt::print("signature: good, by key {}\n", hashdb::to_hex(key->key_id));
    else
      fmt::print("signature: NOT checked (pass --pubkey to require one){}\n",
                 s.is_signed() ? "" : "; the database is unsigned");
    return kExitOk;
  }

  int run_dump() {
    auto store = hashdb::PolicyStore::open(db_path_);
    if (!store) return report(store.error());
    const auto& s = **store;
    if (json_) {
      json out{
          {"meta", s.meta()}, {"hash_rules", json::array()}, {"path_rules", json::array()}, {"signers", json::array()}};
      auto st = s.for_each_hash_rule([&](const hashdb::HashRule& r) {
        out["hash_rules"].push_back({{"sha256", hashdb::to_hex(r.sha256)},
                                     {"action", hashdb::to_string(r.action)},
                                     {"label", r.label},
                                     {"origin_path", r.origin_path},
                                     {"source", source_json(r.source)},
                                     {"approved_by", r.approved_by},
                                     {"approved_at", r.approved_at}});
      });
      if (!st) return report(st.error());
      for (const auto& r : s.path_rules())
        out["path_rules"].push_back({{"path", r.path},
                                     {"match", hashdb::to_string(r.match)},
                                     {"action", hashdb::to_string(r.action)},
                                     {"label", r.label},
                                     {"source", source_json(r.source)}});
      for (const auto& r : s.signers())
        out["signers"].push_back({{"key_id", hashdb::to_hex(r.key_id)},
                                  {"label", r.label},
                                  {"source", source_json(r.source)},
                                  {"pem", r.pem}});
      fmt::print("{}\n", out.dump(2));
      return kExitOk;
    }
    fmt::print("# meta\n");
    for (const auto& [k, v] : s.meta()) fmt::print("{} = {}\n", k, v);
    fmt::print("# hash rules (action sha256 label origin source)\n");
    auto st = s.for_each_hash_rule([](const hashdb::HashRule& r) {
      fmt::print("{:<5} {} {} {} {}\n", hashdb::to_string(r.action), hashdb::to_hex(r.sha256),
                 r.label.empty() ? "-" : r.label, r.origin_path.empty() ? "-" : r.origin_path, source_text(r.source));
    });
    if (!st) return report(st.error());
    fmt::print("# path rules (action match path label source)\n");
    for (const auto& r : s.path_rules())
      fmt::print("{:<5} {:<6} {} {} {}\n", hashdb::to_string(r.action), hashdb::to_string(r.match), r.path,
                 r.label.empty() ? "-" : r.label, source_text(r.source));
    fmt::print("# signers (key_id label source)\n");
    for (const auto& r : s.signers())
      fmt::print("{} {} {}\n", hashdb::to_hex(r.key_id), r.label.empty() ? "-" : r.label, source_text(r.source));
    return kExitOk;
  }

  CLI::App* verify_ = nullptr;
  CLI::App* dump_ = nullptr;
  CLI::App* rollback_ = nullptr;
  std::string db_path_;
  std::string pubkey_;
  bool json_ = false;
};

}  // namespace

CommandSpec db_command() {
  return {.name = "db",
          .summary = "Verify, dump or deliberately roll back a policy database",
          .example =
              "  tollgate db verify policy.db --pubkey signing.pub\n  tollgate db dump policy.db --json\n"
              "  sudo tollgate db rollback --to /var/backups/tollgate/policy-gen6.db\n",
          .needs = Access::kRoot,
          .make = [] { return std::make_unique<DbCommand>(); }};
}

}  // namespace tollgate::tools
