// tollgate sign FILE --key KEY [--sidecar] and tollgate verify-sig FILE --pubkey PUB:
// detached Ed25519 signatures over a file's SHA-256 (policy/file_signature.h).
#include <fcntl.h>
#include <fmt/core.h>

#include "common/io.h"
#include "hashdb/keys.h"
#include "hashdb/sha256.h"
#include "policy/file_signature.h"
#include "tools/command.h"

namespace tollgate::tools {
namespace {

class SignCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("file", file_, "File to sign")->required();
    app.add_option("--key", key_, "Ed25519 private key (PEM)")->required();
    app.add_flag("--sidecar", sidecar_, "Write FILE.sig instead of the user.tollgate.sig extended attribute");
  }

  int run() override {
    auto key = hashdb::load_private_key(key_);
    if (!key) return report(key.error());
    auto fd = open_fd(file_, O_RDONLY | O_NOCTTY);
    if (!fd) return report(fd.error());
    auto hash = hashdb::sha256_fd_stable(fd->get(), file_);
    if (!hash) return report(hash.error());
    auto sig = policy::sign_digest(*key, hash->digest);
    if (!sig) return report(sig.error());
    if (sidecar_) {
      if (auto st = policy::write_sidecar_signature(file_, *sig); !st) return report(st.error());
      fmt::print("signed {} (sha256 {}) -> {}.sig, key {}\n", file_, hashdb::to_hex(hash->digest), file_,
                 hashdb::to_hex(sig->key_id));
    } else {
      if (auto st = policy::write_xattr_signature(file_, *sig); !st) {
        fmt::print(stderr, "tollgate: {} (pass --sidecar where extended attributes are not supported)\n",
                   st.error().message());
        return exit_code_for(st.error());
      }
      fmt::print("signed {} (sha256 {}) -> xattr {}, key {}\n", file_, hashdb::to_hex(hash->digest),
                 policy::kSignatureXattr, hashdb::to_hex(sig->key_id));
    }
    return kExitOk;
  }

 private:
  std::string file_, key_;
  bool sidecar_ = false;
};

class VerifySigCommand final : public Command {
 public:
  void setup(CLI::App& app) override {
    app.add_option("file", file_, "Signed file")->required();
    app.add_option("--pubkey", pub_, "Public key (PEM) the signature must be by")->required();
    app.footer("Exit status: 0 valid signature by that key, 1 no valid signature, 3 unreadable.\n");
  }

  int run() override {
    auto pub = hashdb::load_public_key(pub_);
    if (!pub) return report(pub.error());
    auto fd = open_fd(file_, O_RDONLY | O_NOCTTY);
    if (!fd) return report(fd.error());
    auto hash = hashdb::sha256_fd_stable(fd->get(), file_);
    if (!hash) return report(hash.error());
    auto signer = policy::trusted_signer(fd->get(), file_, hash->digest, {*pub});
    if (!signer) {
      bool present = policy::read_signature(fd->get(), file_).has_value();
      fmt::print("{}: {}\n", file_,
                 present ? "signature INVALID (another key, or the file changed since it was signed)"
                         : "no signature (neither the user.tollgate.sig xattr nor " + file_ + ".sig)");
      return kExitNo;
    }
    fmt::print("{}: valid signature by key {}\n", file_, hashdb::to_hex(*signer));
    return kExitOk;
  }

 private:
  std::string file_, pub_;
};

}  // namespace

CommandSpec sign_command() {
  return {.name = "sign",
          .summary = "Sign a file for `signer:` trust (xattr or FILE.sig)",
          .example = "  tollgate sign /opt/app/bin/tool --key release.key\n",
          .make = [] { return std::make_unique<SignCommand>(); }};
}

CommandSpec verify_sig_command() {
  return {.name = "verify-sig",
          .summary = "Check a file's signature against a public key",
          .example = "  tollgate verify-sig /opt/app/bin/tool --pubkey release.pub\n",
          .make = [] { return std::make_unique<VerifySigCommand>(); }};
}

}  // namespace tollgate::tools
