#include "tools/file_facts.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/io.h"
#include "hashdb/sha256.h"
#include "policy/facts.h"

namespace tollgate::tools {

std::vector<policy::PathElement> owner_chain(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  auto chain = policy::ownership_chain(path, st);
  return chain ? std::move(*chain) : std::vector<policy::PathElement>{};
}

policy::FileFacts recorded_facts(const std::string& path, const std::optional<hashdb::Sha256>& sha256,
                                 const hashdb::RuleSet& rules) {
  policy::FileFacts facts{.path = path, .sha256 = sha256, .chain = owner_chain(path)};
  if (!sha256 || facts.chain.empty() || rules.signers().empty()) return facts;
  // The signer counts only while the file still has the recorded content.
  // The path comes from the event log: whatever sits there now may be a
  // FIFO or a symlink planted to hang or mislead us.
  auto fd = open_regular(path, O_RDONLY);
  if (!fd) return facts;
  auto now = policy::collect_facts(fd->get(), path, policy::signer_keys(rules), {.chain = false});
  if (now && now->facts.sha256 == sha256) facts.signed_by = now->facts.signed_by;
  return facts;
}

Result<policy::FileFacts> current_facts(const std::string& path, const hashdb::RuleSet& rules) {
  auto collected = policy::collect_path_facts(path, policy::signer_keys(rules));
  if (!collected) return std::unexpected(collected.error());
  if (!S_ISREG(collected->st.st_mode))
    return fail(ErrorCode::kInvalidInput, collected->facts.path + ": not a regular file");
  if (!collected->facts.sha256)
    return fail(ErrorCode::kIo, collected->facts.path + ": cannot hash: " + collected->hash_error);
  return std::move(collected->facts);
}

}  // namespace tollgate::tools
