// The policy's verdict on a running process's executable, for the census:
// the same facts-and-decision routine the daemon's exec decisions use
// (policy::decide_file), in enforce mode, on the process's /proc/PID/exe.
//
//   policy::RuleView view{rules, keys, policy::has_path_allow(rules)};
//   auto j = judge_executable(exe_fd, view, max_file_size);   // nullopt: no verdict
//   if (j && j->denied) ... unapproved (or deleted)
//
// A file over max_file_size is not hashed: only path rules can approve it,
// else it is denied (error:too-large). A failed database lookup is no
// verdict. Thread-safe as decide_file is (the cache hook, if any, is used
// from the calling thread only).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "census/classify.h"
#include "policy/facts.h"

namespace tollgate::census {

// `path_means_here`: as policy::DecideOptions (null: the path is ours).
std::optional<Judgement> judge_executable(int fd, const policy::RuleView& rules, uint64_t max_file_size,
                                          const std::function<bool(int fd)>* path_means_here = nullptr,
                                          policy::ContentCache* cache = nullptr);

}  // namespace tollgate::census
