#include "policy/policy_gate.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/facts.h"
#include "policy/lockout.h"

namespace tollgate::policy {
namespace {

// Errors from opening the private copy name its temporary path; say which
// file the admin handed in instead.
Error renamed(const Error& e, const std::string& from, const std::string& to) {
  std::string msg = e.message();
  for (size_t pos = 0; (pos = msg.find(from, pos)) != std::string::npos; pos += to.size())
    msg.replace(pos, from.size(), to);
  return Error(e.code(), std::move(msg), e.sys_errno());
}

}  // namespace

Status check_admissible(const hashdb::PolicyStore& store, std::string_view name, const Floor& floor,
                        const AdmitOptions& options) {
  const uint64_t gen = store.generation();
  const std::string digest = store.meta_value("content_digest");
  if (!options.allow_older) {
    if (gen < floor.generation)
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: generation {} is older than generation {} already accepted (rollback refused; "
                              "'tollgate db rollback --to FILE' rolls back on purpose)",
                              name, gen, floor.generation));
    if (gen == floor.generation && !floor.content_digest.empty() && digest != floor.content_digest)
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: generation {} was already accepted with content digest {}, this one has {} "
                              "(a different policy under an accepted generation is refused)",
                              name, gen, floor.content_digest.substr(0, 16), digest.substr(0, 16)));
  }
  if (options.check_lockout) {
    std::vector<LockoutHit> hits;
    if (options.pending && !options.pending->empty()) {
      // Borrowed, not owned: the overlay lives only for this check.
      std::shared_ptr<const hashdb::RuleSet> base(std::shared_ptr<void>(), &store);
      hits = find_lockouts(PendingRuleSet(base, *options.pending), signer_keys(store), options.lockout_candidates);
    } else {
      hits = find_lockouts(store, signer_keys(store), options.lockout_candidates);
    }
    if (!hits.empty())
      return fail(ErrorCode::kInvalidInput,
                  fmt::format("{}: refused in enforce mode: it would deny {}", name, describe_lockouts(hits)));
  }
  return {};
}

PolicyGate PolicyGate::make(std::string database, std::string state_dir, const std::string& public_key_path) {
  PolicyGate gate(std::move(database), std::move(state_dir));
  if (!public_key_path.empty()) {
    auto key = hashdb::load_public_key(public_key_path);
    if (key) gate.key_ = std::move(*key);
    else
      gate.key_error_ = fmt::format("public_key could not be loaded at start ({}); fix it and restart tollgated",
                                    key.error().message());
  }
  if (auto st = gate.state_.prepare(); !st) gate.state_problem_ = st.error().message();
  return gate;
}

Result<Admitted> PolicyGate::verify(const std::string& path, const std::string& name, const Floor& floor,
                                    const AdmitOptions& options) const {
  if (!key_error_.empty()) return fail(ErrorCode::kInvalidInput, fmt::format("{}: refused: {}", name, key_error_));
  auto store = hashdb::PolicyStore::open(path, {.public_key = key_ ? &*key_ : nullptr});
  if (!store) return std::unexpected(renamed(store.error(), path, name));
  if (auto st = check_admissible(**store, name, floor, options); !st) return std::unexpected(st.error());
  Floor admitted{(*store)->generation(), (*store)->meta_value("content_digest")};
  return Admitted{.store = std::move(*store), .floor = std::move(admitted), .source = name, .copy = std::nullopt};
}

Result<Admitted> PolicyGate::admit(const std::string& source, const Floor& floor, const AdmitOptions& options) const {
  if (!state_usable())
    return fail(ErrorCode::kUnavailable, fmt::format("{}: cannot be staged: {}", source, state_problem_));
  // O_NONBLOCK: a FIFO planted under the name must not hang the daemon.
  auto in = open_fd(source, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  if (!in) return std::unexpected(in.error());
  struct stat st {};
  if (::fstat(in->get(), &st) != 0) return fail_errno(errno, source, "cannot stat");
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidInput, source + ": not a regular file");
  auto copy = AtomicFile::create(state_.lkg_file(), 0600);
  if (!copy) return std::unexpected(copy.error());
  if (auto c = copy_fd(in->get(), copy->fd(), source); !c) return std::unexpected(c.error());
  auto admitted = verify(copy->temp_path(), source, floor, options);
  if (!admitted) return admitted;
  admitted->copy.emplace(std::move(*copy));
  return admitted;
}

Result<Admitted> PolicyGate::admit_in_place(const std::string& path, const Floor& floor,
                                            const AdmitOptions& options) const {
  return verify(path, path, floor, options);
}

Status PolicyGate::write_live(const Admitted& admitted) const {
  if (!admitted.copy)
    return fail(ErrorCode::kInvalidInput, admitted.source + ": admitted in place, nothing to install");
  struct stat st {};
  mode_t mode = ::stat(database_.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  auto in = open_fd(admitted.copy->temp_path(), O_RDONLY);
  if (!in) return std::unexpected(in.error());
  auto out = AtomicFile::create(database_, mode);
  if (!out) return std::unexpected(out.error());
  if (auto c = copy_fd(in->get(), out->fd(), database_); !c) return c;
  return out->commit();
}

Status PolicyGate::commit(Admitted& admitted) const {
  if (!admitted.copy) return {};
  if (auto st = admitted.copy->commit(); !st) return st;
  return state_.save(admitted.floor, admitted.source);
}

FloorResult resolve_floor(const PolicyGate& gate) {
  if (!gate.state_usable())
    return {{}, "state_dir is unusable (" + gate.state_problem() + "): no rollback floor is kept"};
  const StateStore& state = gate.state();
  auto loaded = state.load();
  if (loaded && *loaded) return {**loaded, ""};
  std::string problem;
  if (loaded) {
    if (::access(state.lkg_file().c_str(), F_OK) != 0) return {};  // first start
    problem = state.state_file() + " is missing although " + state.lkg_file() + " exists";
  } else {
    problem = loaded.error().message();
    if (loaded.error().code() == ErrorCode::kCorrupt) {
      auto aside = state.set_aside();
      problem += aside ? " (moved to state.json.corrupt)" : " (" + aside.error().message() + ")";
    }
  }
  auto lkg = gate.admit_in_place(state.lkg_file(), {}, {});
  if (lkg)
    return {lkg->floor, fmt::format("{}; the rollback floor is the last-known-good copy's generation {}", problem,
                                    lkg->floor.generation)};
  return {{},
          fmt::format("{}; and the last-known-good copy is unusable ({}): the rollback floor is unknown, so "
                      "any validly signed generation is accepted until one is",
                      problem, lkg.error().message())};
}

std::string candidate_path(const std::string& database) { return database + ".candidate"; }
std::string refused_path(const std::string& database) { return candidate_path(database) + ".refused"; }

Result<Installed> install_candidate(const PolicyGate& gate, const Floor& floor, const AdmitOptions& options) {
  const std::string candidate = candidate_path(gate.database());
  auto admitted = gate.admit(candidate, floor, options);
  if (!admitted) {
    const std::string kept = refused_path(gate.database());
    if (::rename(candidate.c_str(), kept.c_str()) == 0)
      return std::unexpected(admitted.error().with_prefix("candidate refused (kept as " + kept + ")"));
    return std::unexpected(admitted.error().with_prefix("candidate refused"));
  }
  if (auto st = gate.write_live(*admitted); !st) return std::unexpected(st.error());
  Installed out{.admitted = std::move(*admitted), .warning = ""};
  if (auto st = gate.commit(out.admitted); !st) out.warning = st.error().message();
  ::unlink(candidate.c_str());
  return out;
}

Result<Installed> install_rollback(const PolicyGate& gate, const std::string& file, AdmitOptions options) {
  options.allow_older = true;
  auto admitted = gate.admit(file, {}, options);
  if (!admitted) return std::unexpected(admitted.error().with_prefix("rollback refused"));
  if (auto st = gate.write_live(*admitted); !st) return std::unexpected(st.error());
  Installed out{.admitted = std::move(*admitted), .warning = ""};
  if (auto st = gate.commit(out.admitted); !st) out.warning = st.error().message();
  return out;
}

}  // namespace tollgate::policy
