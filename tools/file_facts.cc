#include "tools/file_facts.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "common/io.h"
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
  struct stat st {};
  if (!fd || ::fstat(fd->get(), &st) != 0) return facts;
  const auto keys = policy::signer_keys(rules);
  auto now = policy::decide_file(fd->get(), st, {rules, keys, false}, {});
  if (now.facts.sha256 == sha256) facts.signed_by = now.facts.signed_by;
  return facts;
}

}  // namespace tollgate::tools
