// FileFacts for the CLI's decisions over recorded history (`replay`, `mode`
// pre-flight) and `approve`'s safety check: the file's owner/mode chain and,
// when the RuleSet trusts signers, its signer. Files on disk now (`check`)
// are decided by policy::decide_path, the daemon's own routine.
// Thread-compatible; reads the file system only.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hashdb/rule_set.h"
#include "policy/decision.h"

namespace tollgate::tools {

// Owner and mode of `path` (not following a final symlink) and of each
// parent directory up to "/". Empty when the file does not exist.
std::vector<policy::PathElement> owner_chain(const std::string& path);

// Facts for a recorded binary: the recorded hash and path, the owner chain
// of the file as it is now (unknown when it is gone) and its signer when the
// file still has the recorded content and carries a trusted signature. The
// path is opened only with open_regular (common/io.h): a FIFO or symlink
// placed at a logged path is not followed and cannot block.
policy::FileFacts recorded_facts(const std::string& path, const std::optional<hashdb::Sha256>& sha256,
                                 const hashdb::RuleSet& rules);

}  // namespace tollgate::tools
