// Gathering FileFacts (policy/decision.h) from an open file.
//
//   UniqueFd fd = ...;                      // e.g. a fanotify event fd
//   auto facts = collect_facts(fd.get(), "/usr/bin/ls", trusted_keys);
//   Decision d = decide_policy(*facts, rules);
//
// The facts are what the decision needs: the path, the owner/mode chain of
// the file and of every parent directory up to "/", the SHA-256 of the
// content (hashed through the fd, checked stable) and the trusted signer
// whose signature over that hash the file carries. The fd is read from its
// current offset and never closed. Thread-safe (no shared state).
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "hashdb/keys.h"
#include "policy/decision.h"

namespace tollgate::policy {

// Owner/mode of `path` (as given by `st`, the file itself) and of each parent
// directory up to "/". Parents are lstat'ed by name. Errors name the element.
Result<std::vector<PathElement>> ownership_chain(const std::string& path, const struct stat& st);

// The public keys of a rule set's signers; a signer whose PEM does not parse
// is skipped and reported in `errors` (when given).
std::vector<hashdb::PublicKey> signer_keys(const hashdb::RuleSet& rules, std::vector<std::string>* errors = nullptr);

struct CollectOptions {
  bool hash = true;   // hash the content (and check signatures)
  bool chain = true;  // gather the ownership chain
};

struct CollectedFacts {
  FileFacts facts;
  struct stat st {};       // fstat of the fd
  uint64_t hashed_bytes = 0;
  std::string hash_error;  // why sha256 is absent, when it is
};

// Facts for the file open on `fd`, whose resolved absolute path is `path`.
// Only an fstat failure is an error; a failed hash leaves sha256 empty (with
// hash_error set) and a failed chain leaves it empty, which the decision
// treats as "unknown" (never as safe).
Result<CollectedFacts> collect_facts(int fd, const std::string& path, const std::vector<hashdb::PublicKey>& trusted,
                                     const CollectOptions& options = {});

// Resolves `path` through realpath, opens it with open_regular (common/io.h:
// a FIFO, device or socket is refused, never opened or waited on) and
// collects its facts.
Result<CollectedFacts> collect_path_facts(const std::string& path, const std::vector<hashdb::PublicKey>& trusted);

}  // namespace tollgate::policy
