#include "tools/file_facts.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include "common/io.h"
#include "hashdb/sha256.h"
#include "policy/file_signature.h"

namespace tollgate::tools {
namespace {

std::optional<hashdb::Sha256> signer_of(int fd, const std::string& path, const hashdb::Sha256& digest,
                                        const hashdb::RuleSet& rules) {
  if (rules.signers().empty()) return std::nullopt;
  std::vector<hashdb::PublicKey> keys;
  for (const auto& s : rules.signers()) {
    if (auto key = hashdb::parse_public_key(s.pem, s.label)) keys.push_back(std::move(*key));
  }
  return policy::trusted_signer(fd, path, digest, keys);
}

}  // namespace

std::vector<policy::PathElement> owner_chain(const std::string& path) {
  std::vector<policy::PathElement> chain;
  std::string current = path;
  for (;;) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) return {};
    chain.push_back({current, st.st_uid, st.st_mode});
    if (current == "/" || current.empty()) break;
    auto slash = current.rfind('/');
    if (slash == std::string::npos) break;
    current = slash == 0 ? "/" : current.substr(0, slash);
  }
  return chain;
}

policy::FileFacts recorded_facts(const std::string& path, const std::optional<hashdb::Sha256>& sha256,
                                 const hashdb::RuleSet& rules) {
  policy::FileFacts facts{.path = path, .sha256 = sha256, .chain = owner_chain(path)};
  if (!sha256 || facts.chain.empty() || rules.signers().empty()) return facts;
  auto fd = open_fd(path, O_RDONLY | O_NOCTTY | O_NOFOLLOW);
  if (!fd) return facts;
  auto now = hashdb::sha256_fd(fd->get(), path);
  if (now && *now == *sha256) facts.signed_by = signer_of(fd->get(), path, *sha256, rules);
  return facts;
}

Result<policy::FileFacts> current_facts(const std::string& path, const hashdb::RuleSet& rules) {
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved)) return fail_errno(errno, path, "cannot resolve");
  std::string real = resolved;
  auto fd = open_fd(real, O_RDONLY | O_NOCTTY);
  if (!fd) return std::unexpected(fd.error());
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return fail_errno(errno, real, "cannot stat");
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidInput, real + ": not a regular file");
  auto digest = hashdb::sha256_fd(fd->get(), real);
  if (!digest) return std::unexpected(digest.error());
  policy::FileFacts facts{.path = real, .sha256 = *digest, .chain = owner_chain(real)};
  facts.signed_by = signer_of(fd->get(), real, *digest, rules);
  return facts;
}

}  // namespace tollgate::tools
