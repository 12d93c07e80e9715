// Replay: run the recorded exec history against a candidate rule set and
// list what it would deny, before that policy is rolled out (`tollgate
// replay`, and the pre-flight of `tollgate mode enforce`). Pure: events and
// a facts lookup in, findings out.
//
//   auto facts = [](const std::string& path, std::optional<hashdb::Sha256> sha) {
//     return policy::FileFacts{.path = path, .sha256 = sha, .chain = chain_if_file_exists(path)};
//   };
//   ReplayResult r = replay(log.events, {.since_us = cutoff}, *candidate_db, facts);
//   if (!r.denied.empty()) ...   // exit 1
//
// Every decision event (allowed, denied or would-deny) is a sample; samples
// are grouped by path + recorded sha256 and each distinct binary is decided
// once with decide_policy() (enforce semantics). An event without a usable
// sha256 is decided with the hash unknown (only path rules can allow it).
//
// Thread-safety: pure; the RuleSet must be thread-safe (all are).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eventlog/reader.h"
#include "hashdb/rule_set.h"
#include "policy/decision.h"

namespace tollgate::eventlog {

struct ReplayItem {
  std::string path;
  std::string sha256;  // as recorded; may be empty
  uint64_t count = 0;  // events for this binary in the window
  std::string last_seen;
  std::string last_exe;
  policy::Decision decision;  // the candidate's verdict
};

struct ReplayResult {
  uint64_t events = 0;              // decision events in the window
  std::vector<ReplayItem> denied;   // the candidate would deny these; most frequent first
  std::vector<ReplayItem> allowed;  // and would allow these
};

struct ReplayOptions {
  std::optional<TimeUs> since_us;
};

// Builds the facts for one recorded binary (the caller adds the current owner
// chain when the file still exists, and a signer if it can check one).
using FactsLookup =
    std::function<policy::FileFacts(const std::string& path, const std::optional<hashdb::Sha256>& sha256)>;

// Collects the distinct binaries of a history one event at a time (so a log
// of any size streams through scan_event_log); decide() then runs each one
// against the rules.
class ReplayHistory {
 public:
  explicit ReplayHistory(ReplayOptions options = {}) : options_(options) {}
  void add(const Event& event);
  ReplayResult decide(const hashdb::RuleSet& rules, const FactsLookup& facts) &&;

 private:
  ReplayOptions options_;
  uint64_t events_ = 0;
  std::map<std::pair<std::string, std::string>, std::pair<ReplayItem, TimeUs>> by_key_;
};

// ReplayHistory over a vector.
ReplayResult replay(const std::vector<Event>& events, const ReplayOptions& options, const hashdb::RuleSet& rules,
                    const FactsLookup& facts);

}  // namespace tollgate::eventlog
