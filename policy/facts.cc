#include "policy/facts.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>

#include "common/io.h"
#include "hashdb/sha256.h"
#include "policy/file_signature.h"

namespace tollgate::policy {

Result<std::vector<PathElement>> ownership_chain(const std::string& path, const struct stat& st) {
  std::vector<PathElement> chain;
  chain.push_back({path, st.st_uid, st.st_mode});
  std::string dir = path;
  while (dir != "/") {
    auto slash = dir.find_last_of('/');
    if (slash == std::string::npos) return fail(ErrorCode::kInvalidInput, path + ": not an absolute path");
    dir = slash == 0 ? "/" : dir.substr(0, slash);
    struct stat dst;
    if (::lstat(dir.c_str(), &dst) != 0) return fail_errno(errno, dir, "cannot stat parent directory");
    chain.push_back({dir, dst.st_uid, dst.st_mode});
  }
  return chain;
}

std::vector<hashdb::PublicKey> signer_keys(const hashdb::RuleSet& rules, std::vector<std::string>* errors) {
  std::vector<hashdb::PublicKey> keys;
  for (const auto& signer : rules.signers()) {
    auto key = hashdb::parse_public_key(signer.pem, "signer " + hashdb::to_hex(signer.key_id).substr(0, 16));
    if (key) keys.push_back(std::move(*key));
    else if (errors) errors->push_back(key.error().message());
  }
  return keys;
}

Result<CollectedFacts> collect_facts(int fd, const std::string& path, const std::vector<hashdb::PublicKey>& trusted,
                                     const CollectOptions& options) {
  CollectedFacts out;
  out.facts.path = path;
  if (::fstat(fd, &out.st) != 0) return fail_errno(errno, path, "cannot stat");
  if (options.chain && !path.empty() && path.front() == '/') {
    if (auto chain = ownership_chain(path, out.st)) out.facts.chain = std::move(*chain);
  }
  if (options.hash) {
    auto hashed = hashdb::sha256_fd_stable(fd, path);
    if (hashed) {
      out.facts.sha256 = hashed->digest;
      out.st = hashed->st;  // the validators the hash belongs to
      out.hashed_bytes = static_cast<uint64_t>(hashed->st.st_size);
      if (!trusted.empty()) out.facts.signed_by = trusted_signer(fd, path, hashed->digest, trusted);
    } else {
      out.hash_error = hashed.error().message();
    }
  }
  return out;
}

Result<CollectedFacts> collect_path_facts(const std::string& path, const std::vector<hashdb::PublicKey>& trusted) {
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved)) return fail_errno(errno, path, "cannot resolve");
  auto fd = open_regular(resolved, O_RDONLY);
  if (!fd) return std::unexpected(fd.error());
  return collect_facts(fd->get(), resolved, trusted);
}

}  // namespace tollgate::policy
