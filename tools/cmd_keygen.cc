// tollgate keygen --out PREFIX: an Ed25519 key pair for signing policies.
#include <fmt/core.h>
#include <sys/stat.h>

#include "common/io.h"
#include "hashdb/keys.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

class KeygenCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("--out,-o", prefix_, "Writes PREFIX.key (mode 0600) and PREFIX.pub")->required();
    app.add_flag("--force", force_, "Overwrite existing key files");
  }

  int run() override {
    const std::string key_path = prefix_ + ".key";
    const std::string pub_path = prefix_ + ".pub";
    struct stat st {};
    for (const auto& path : {key_path, pub_path}) {
      if (!force_ && ::lstat(path.c_str(), &st) == 0) {
        fmt::print(stderr, "tollgate: {}: already exists; pass --force to replace it\n", path);
        return kExitIo;
      }
    }
    auto pair = hashdb::generate_keypair();
    if (!pair) return report(pair.error());
    if (auto s = write_file_atomic(key_path, pair->private_pem, 0600); !s) return report(s.error());
    if (auto s = write_file_atomic(pub_path, pair->public_key.pem, 0644); !s) return report(s.error());
    fmt::print("wrote {} (private, keep it secret) and {}\nkey id {}\n", key_path, pub_path,
               hashdb::to_hex(pair->public_key.key_id));
    return kExitOk;
  }

 private:
  std::string prefix_;
  bool force_ = false;
};

}  // namespace

CommandSpec keygen_command() {
  return {.name = "keygen",
          .summary = "Create an Ed25519 key pair for signing policies",
          .example = "  tollgate keygen --out /etc/tollgate/signing\n",
          .make = [] { return std::make_unique<KeygenCommand>(); }};
}

}  // namespace tollgate::tools
