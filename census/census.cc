#include "census/census.h"

#include <fmt/core.h>
#include <sys/stat.h>

namespace tollgate::census {
namespace {

std::string describe_fs(const Located& at) {
  if (!at.dev_known) return "";
  return at.fs_type.empty() ? device_name(at.dev) : device_name(at.dev) + " " + at.fs_type;
}

std::string reason_for(Finding finding, const Located& at, const std::optional<Judgement>& j) {
  switch (finding) {
    case Finding::kFileless:
      return "its executable is a memfd or another file on no filesystem (memfd_create + fexecve): no fanotify "
             "mark sees such an exec";
    case Finding::kForeignFilesystem:
      return at.dev_known ? fmt::format(
                                "its executable is on filesystem {} ({}), which is not mounted in "
                                "tollgated's namespace: mounted inside another mount or user namespace, "
                                "where no mark reaches",
                                device_name(at.dev), at.fs_type.empty() ? "type unknown" : at.fs_type)
                          : "its executable is on a filesystem mounted in no namespace tollgated can see "
                            "(detached, or in a namespace that has gone)";
    case Finding::kDeleted:
      return fmt::format(
          "its executable was deleted after it started, and the policy does not approve its "
          "content ({})",
          j ? j->rule : "");
    case Finding::kUnapproved:
      return fmt::format(
          "the policy denies its executable ({}: {}); it started before tollgated, before the "
          "policy changed, or before its filesystem was marked",
          j ? j->rule : "", j ? j->reason : "");
  }
  return "";
}

}  // namespace

std::vector<Exemption> load_exemptions(const std::vector<std::string>& entries, std::vector<std::string>& errors) {
  std::vector<Exemption> out;
  for (const auto& e : entries) {
    if (e.starts_with("sha256:")) {
      if (auto digest = hashdb::sha256_from_hex(e.substr(7))) out.push_back({*digest, e});
      else errors.push_back(fmt::format("unwatched_exempt: '{}' is not sha256: and 64 hex digits", e));
      continue;
    }
    auto digest = hashdb::sha256_path(e);
    if (digest) out.push_back({*digest, e});
    else errors.push_back("unwatched_exempt: " + digest.error().message());
  }
  return out;
}

Census::Census(ProcSource& proc, CensusOptions options) : proc_(proc), options_(std::move(options)) {}

std::vector<ProcessRecord> Census::walk(const MountView& view, const Judge& judge, uint64_t policy_epoch) {
  stats_ = {};
  std::vector<ProcessRecord> out;
  std::map<pid_t, Seen> now;
  Namespaces namespaces;
  for (pid_t pid : proc_.pids()) {
    auto id = proc_.identity(pid);
    if (!id) continue;  // gone
    ++stats_.processes;
    if (auto it = seen_.find(pid); it != seen_.end() && same(it->second, *id, view, policy_epoch)) {
      now.emplace(pid, it->second);
      continue;
    }
    ++stats_.classified;
    Outcome outcome = classify(pid, view, judge, namespaces);
    if (outcome.classified_as)
      now.emplace(pid, Seen{*outcome.classified_as, outcome.record.has_value(), outcome.unwatched_fs,
                            outcome.judged ? std::optional(policy_epoch) : std::nullopt});
    if (outcome.record) {
      ++stats_.findings;
      out.push_back(std::move(*outcome.record));
    }
  }
  seen_ = std::move(now);
  return out;
}

bool Census::same(const Seen& seen, const ProcessId& now, const MountView& view, uint64_t policy_epoch) {
  if (seen.id.exe_dev != now.exe_dev || seen.id.exe_ino != now.exe_ino) return false;  // it exec'd
  if (seen.unwatched_fs && view.watched.contains(*seen.unwatched_fs)) return false;    // now watched
  // A finding is reported once; an approved process is judged again under a new policy.
  if (!seen.finding && seen.judged_epoch && *seen.judged_epoch != policy_epoch) return false;
  return !seen.finding || proc_.start_ticks(now.pid) == seen.id.start_ticks;  // pid reused?
}

Result<UniqueFd> Census::open_verified(const ProcessId& id) {
  auto fd = proc_.open_exe(id.pid);
  if (!fd) return fd;
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || st.st_dev != id.exe_dev || st.st_ino != id.exe_ino)
    return fail(ErrorCode::kUnavailable, fmt::format("pid {}: its executable changed", id.pid));
  return fd;
}

Census::Outcome Census::classify(pid_t pid, const MountView& view, const Judge& judge, Namespaces& namespaces) {
  auto f = proc_.facts(pid);
  if (!f) return {};  // gone: nothing to track
  Outcome outcome{.classified_as = f->id};
  if (f->kernel_thread || !f->has_exe) return outcome;

  const std::vector<MountEntry>* theirs = nullptr;
  if (f->exe_mount_id >= 0 && !view.mounts.contains(f->exe_mount_id)) {
    auto load = [&] {
      auto text = proc_.mountinfo(pid);
      return text ? std::optional(parse_mountinfo(*text)) : std::nullopt;
    };
    // One read per mount namespace per walk (0: namespace unknown, read per process).
    std::optional<std::vector<MountEntry>> single;
    std::optional<std::vector<MountEntry>>* slot = &single;
    if (f->mnt_ns) {
      auto it = namespaces.find(f->mnt_ns);
      if (it == namespaces.end()) it = namespaces.emplace(f->mnt_ns, load()).first;
      slot = &it->second;
    } else {
      single = load();
    }
    if (*slot) theirs = &**slot;
  }
  const Located at = locate(*f, view, theirs);
  if (at.placement == Placement::kUnwatched) outcome.unwatched_fs = at.dev;

  std::optional<Judgement> judgement;
  if (at.placement == Placement::kWatched) {
    auto fd = open_verified(f->id);
    if (!fd) {
      // Gone or changed since: the next walk sees what it runs now.
      if (fd.error().code() == ErrorCode::kUnavailable || fd.error().code() == ErrorCode::kNotFound) return {};
      return outcome;
    }
    judgement = judge(fd->get(), *f);
    outcome.judged = true;
  }
  const auto finding = finding_for(at, judgement);
  if (!finding) return outcome;

  ProcessRecord r;
  r.id = f->id;
  r.ppid = f->ppid;
  r.uid = f->uid;
  r.user = proc_.user_name(f->uid);
  r.exe = f->exe;
  r.parent_exe = f->ppid > 0 ? proc_.exe_path(f->ppid) : "";
  r.comm = f->comm;
  r.cmdline = f->cmdline;
  r.start_time_us = proc_.start_time_us(f->id.start_ticks);
  r.finding = *finding;
  r.reason = reason_for(*finding, at, judgement);
  if (judgement) {
    r.rule = judgement->rule;
    r.sha256 = judgement->sha256;
  }
  r.filesystem = describe_fs(at);
  if (!options_.exempt.empty()) r.exempt = exemption_for(f->id, r.sha256);
  outcome.record = std::move(r);
  return outcome;
}

std::string Census::exemption_for(const ProcessId& id, std::string& sha256_hex) {
  if (sha256_hex.empty()) {
    auto fd = open_verified(id);
    if (!fd) return "";
    struct stat st {};
    if (::fstat(fd->get(), &st) != 0 || static_cast<uint64_t>(st.st_size) > options_.max_hash_bytes) return "";
    auto digest = hashdb::sha256_fd(fd->get(), "/proc/" + std::to_string(id.pid) + "/exe");
    if (!digest) return "";
    sha256_hex = hashdb::to_hex(*digest);
  }
  for (const auto& e : options_.exempt)
    if (hashdb::to_hex(e.sha256) == sha256_hex) return e.label;
  return "";
}

}  // namespace tollgate::census
