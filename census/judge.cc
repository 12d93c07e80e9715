#include "census/judge.h"

#include <sys/stat.h>

#include "hashdb/sha256.h"

namespace tollgate::census {

std::optional<Judgement> judge_executable(int fd, const policy::RuleView& rules, uint64_t max_file_size,
                                          const std::function<bool(int fd)>* path_means_here,
                                          policy::ContentCache* cache) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  auto r = policy::decide_file(
      fd, st, rules,
      {.mode = policy::Mode::kEnforce, .max_file_size = max_file_size, .path_means_here = path_means_here}, cache);
  if (r.outcome != policy::FileDecision::Outcome::kDecided) return std::nullopt;
  if (r.decision.failure == policy::Failure::kLookup) return std::nullopt;
  return Judgement{.denied = r.decision.policy_denies(),
                   .rule = r.decision.rule,
                   .reason = r.decision.reason,
                   .sha256 = r.facts.sha256 ? hashdb::to_hex(*r.facts.sha256) : ""};
}

}  // namespace tollgate::census
