#include "policy/compiler.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <iterator>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "common/io.h"
#include "common/text.h"
#include "common/unique_fd.h"
#include "hashdb/keys.h"
#include "hashdb/sha256.h"
#include "hashdb/store.h"
#include "hashdb/writer.h"
#include "policy/decision.h"
#include "policy/facts.h"
#include "policy/manifest.h"
#include "policy/trust_sources.h"
#include "policy/yaml_util.h"

namespace tollgate::policy {
namespace {

using hashdb::Action;
using hashdb::Sha256;
using Clock = std::chrono::steady_clock;

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// One file to examine, produced by planning, consumed by a worker.
struct Task {
  std::string path;
  uint32_t entry = 0;
  bool filter = false;  // apply `match` (dir and dpkg entries); file: entries are hashed whatever they are
  DirMatch match = DirMatch::kExecutables;
  bool follow = false;  // file: entries follow a final symlink; walks and dpkg never do
  bool have_stat = false;
  struct stat st {};
  std::string package;  // dpkg: the package, and its md5 ("" = none recorded)
  std::string md5;
  // A maintainer script in the dpkg database's info/: dpkg records no md5
  // for it, so the ownership rule decides (check_owner), not an md5.
  bool script = false;
  // The ownership rule (allow file:/dir: entries): check that the file and
  // every parent directory are root-owned and not group/world-writable. In a
  // walk the directories were checked once each: `dir_unsafe` says why they
  // fail ("" = they pass), and only the file itself is left to check.
  bool check_owner = false;
  std::string dir_unsafe;
};

// kPending: examined inside a directory job, needs hashing by a file job.
enum class Outcome : uint8_t { kHashed, kReused, kSkipped, kNotMatched, kModified, kMissing, kPending };

struct TaskResult {
  Outcome outcome = Outcome::kSkipped;
  Sha256 sha{};
  std::string reason;      // skipped / missing
  std::string actual_md5;  // modified
  hashdb::FileCacheEntry cache;
  uint64_t bytes = 0;
  std::string unsafe;  // hashed/reused: why it fails the ownership rule ("" = passes or not checked)
};

struct Context {
  std::unordered_map<std::string, hashdb::FileCacheEntry> cache;  // previous file_cache by path
  std::unordered_map<std::string, Sha256> dpkg_verified;          // origin -> hash of last compile's dpkg rules
};

std::string_view reason_for(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR: return "vanished";
    case ELOOP: return "symlink";
    default: return "unreadable";
  }
}

// Why the file at `path` (whose own stat is `st`) fails the ownership rule
// of policy::chain_is_safe, "" when it passes. The path is resolved first:
// a `file:` or a walk's root may be a symlink (/bin -> usr/bin), and it is
// where the content lives that matters.
std::string chain_problem(const std::string& path, const struct stat& st) {
  char resolved[PATH_MAX];
  if (!::realpath(path.c_str(), resolved))
    return "ownership unknown: " + Error::from_errno(errno, path, "cannot resolve").message();
  auto chain = ownership_chain(resolved, st);
  if (!chain) return "ownership unknown: " + chain.error().message();
  std::string why;
  return chain_is_safe(*chain, &why) ? std::string() : why;
}

// The same rule for one element (a file or directory of a walk whose
// parents were checked already).
std::string element_problem(const std::string& path, const struct stat& st) {
  std::string why;
  return chain_is_safe({{path, st.st_uid, st.st_mode}}, &why) ? std::string() : why;
}

std::string ownership_problem(const Task& t, const struct stat& st) {
  if (!t.check_owner) return {};
  if (t.follow) return chain_problem(t.path, st);  // a file: entry
  return t.dir_unsafe.empty() ? element_problem(t.path, st) : t.dir_unsafe;
}

// dpkg paths are listed, not walked: metadata first, so symlinks and
// directories in the lists are passed over and unchanged files are not
// opened. nullopt: go on with t.st filled in.
std::optional<TaskResult> stat_listed(Task& t, int dir_fd, const char* name) {
  TaskResult r;
  if (::fstatat(dir_fd, name, &t.st, AT_SYMLINK_NOFOLLOW) != 0) {
    r.reason = errno == ENOENT ? "listed by dpkg but missing" : reason_for(errno);
    return r;
  }
  t.have_stat = true;
  if (!S_ISLNK(t.st.st_mode) && !S_ISDIR(t.st.st_mode)) return std::nullopt;
  r.outcome = Outcome::kNotMatched;
  return r;
}

// The previous compile's hash for the file, when its metadata still match.
const hashdb::FileCacheEntry* cached_entry(const Task& t, const Context& ctx, const struct stat& st) {
  auto it = ctx.cache.find(t.path);
  if (it == ctx.cache.end()) return nullptr;
  const auto& c = it->second;
  if (c.size != static_cast<uint64_t>(st.st_size) || c.mtime_ns != mtime_ns(st) || c.ino != st.st_ino) return nullptr;
  if (!t.package.empty()) {
    // A dpkg file is reused only when the last compile verified its md5
    // and trusted exactly this content at this path.
    auto v = ctx.dpkg_verified.find(t.path);
    if (v == ctx.dpkg_verified.end() || v->second != c.sha256) return nullptr;
  }
  return &c;
}

TaskResult reused(const Task& t, const hashdb::FileCacheEntry& c, const struct stat& st) {
  TaskResult r;
  r.outcome = Outcome::kReused;
  r.sha = c.sha256;
  r.cache = c;
  r.unsafe = ownership_problem(t, st);
  return r;
}

TaskResult open_failed(const Task& t, int err) {
  TaskResult r;
  if (err == ELOOP && !t.follow) {
    r.outcome = Outcome::kNotMatched;  // a symlink: its target is covered where it lives
    return r;
  }
  r.outcome = err == ENOENT && !t.filter ? Outcome::kMissing : Outcome::kSkipped;
  r.reason = reason_for(err);
  return r;
}

// Whether `match` selects the open file (some matches read its first bytes).
// nullopt: it does; otherwise the result to report.
std::optional<TaskResult> filtered_out(const Task& t, int fd, const struct stat& st) {
  TaskResult r;
  std::string header;
  if (match_needs_header(t.match, st.st_mode, t.path)) {
    char buf[8];
    ssize_t n;
    do n = ::pread(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      r.reason = "unreadable";
      return r;
    }
    header.assign(buf, static_cast<size_t>(n));
  }
  if (file_matches(t.match, st.st_mode, t.path, header)) return std::nullopt;
  r.outcome = Outcome::kNotMatched;
  return r;
}

// Hashes the open file (dpkg files: SHA-256 and MD5 in one pass, checked
// against dpkg's md5sums), checking that it did not change meanwhile.
TaskResult hash_task(const Task& t, int fd) {
  TaskResult r;
  const bool dpkg = !t.package.empty() && !t.script;
  if (dpkg && t.md5.empty()) {
    r.reason = "no md5sum in the dpkg database";
    return r;
  }
  auto h = hashdb::digest_fd_stable(fd, t.path, {.md5 = dpkg});
  if (!h) {
    r.reason = h.error().code() == ErrorCode::kUnavailable ? "changed while hashing" : "unreadable";
    return r;
  }
  const struct stat& st = h->st;  // the validators of the content hashed
  r.sha = h->digests.sha256;
  r.bytes = h->digests.bytes;
  if (dpkg && hashdb::to_hex(h->digests.md5) != t.md5) {
    r.outcome = Outcome::kModified;
    r.actual_md5 = hashdb::to_hex(h->digests.md5);
    return r;
  }
  r.outcome = Outcome::kHashed;
  r.cache = {t.path, static_cast<uint64_t>(st.st_size), mtime_ns(st), static_cast<uint64_t>(st.st_ino), r.sha};
  r.unsafe = ownership_problem(t, st);
  return r;
}

// Examines (and, with may_hash, hashes) one file. `dir_fd`/`name` open it
// relative to its directory during a walk (cheaper than resolving the full
// path again); AT_FDCWD and nullptr open t.path.
TaskResult process(Task& t, const Context& ctx, int dir_fd = AT_FDCWD, const char* name = nullptr,
                   bool may_hash = true) {
  if (!name) name = t.path.c_str();
  if (!t.have_stat && !t.follow) {
    if (auto done = stat_listed(t, dir_fd, name)) return *done;
  }
  // Fast path: unchanged since the last compile and classified by metadata
  // alone, so the file is not even opened.
  if (t.have_stat && !(t.filter && match_needs_header(t.match, t.st.st_mode, t.path)))
    if (const auto* c = cached_entry(t, ctx, t.st)) return reused(t, *c, t.st);

  int flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (t.follow ? 0 : O_NOFOLLOW);
  UniqueFd fd(::openat(dir_fd, name, flags));
  if (!fd) return open_failed(t, errno);
  struct stat st = t.st;
  TaskResult r;
  // A directory job only classifies (the file job that hashes stats the fd
  // again), so the walk's fstatat result saves a syscall per file.
  if ((may_hash || !t.have_stat) && ::fstat(fd.get(), &st) != 0) {
    r.reason = "unreadable";
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.reason = "not a regular file";
    return r;
  }
  if (t.filter) {
    if (auto out = filtered_out(t, fd.get(), st)) return *out;
  }
  if (const auto* c = cached_entry(t, ctx, st)) return reused(t, *c, st);
  if (!may_hash) {
    r.outcome = Outcome::kPending;
    return r;
  }
  return hash_task(t, fd.get());
}

// A directory still to be listed by a walk.
struct DirJob {
  uint32_t entry = 0;
  DirChild dir;
  UniqueFd fd;  // the walk's root, opened while planning (it may be a symlink); empty for subdirectories
  bool check_owner = false;
  std::string unsafe;  // why this directory's chain fails the ownership rule ("" = passes)
};

struct Finished {
  Task task;
  TaskResult result;
};

// The compiler's worker pool: std::jthread workers share one work queue of
// directory jobs (list a directory: examine its files, queue its
// subdirectories and the files that need hashing) and file jobs (hash one
// file). Directories go first so hashing work is discovered early; every
// worker keeps its own output, merged after the join.
class Pool {
 public:
  Pool(const Context& ctx, const Manifest& m) : ctx_(ctx), m_(m) {}

  void add_file(Task t) { files_.push_back(std::move(t)); }
  void add_root(DirJob job) {
    visited_.insert({job.entry, job.dir.st.st_dev, job.dir.st.st_ino});
    dirs_.push_back(std::move(job));
  }

  struct Output {
    std::vector<Finished> finished;  // everything but files `match` passed over
    std::vector<SkippedFile> skipped;
    uint64_t not_matched = 0;
  };

  Output run(unsigned jobs, const ProgressFn& progress) {
    std::vector<Output> outs(std::max(1u, jobs));
    start_ = Clock::now();
    {
      std::vector<std::jthread> workers;
      for (auto& out : outs) workers.emplace_back([this, &out] { work(out); });
      if (progress) report_progress(progress);
    }
    Output all;
    for (auto& o : outs) {
      std::move(o.finished.begin(), o.finished.end(), std::back_inserter(all.finished));
      std::move(o.skipped.begin(), o.skipped.end(), std::back_inserter(all.skipped));
      all.not_matched += o.not_matched;
    }
    return all;
  }

 private:
  void work(Output& out) {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return !dirs_.empty() || !files_.empty() || active_ == 0; });
      if (dirs_.empty() && files_.empty()) {
        finished_ = true;
        cv_.notify_all();
        return;
      }
      ++active_;
      if (!dirs_.empty()) {
        DirJob job = std::move(dirs_.back());
        dirs_.pop_back();
        lk.unlock();
        std::vector<DirJob> subdirs;
        std::vector<Task> to_hash;
        list_dir(job, out, subdirs, to_hash);
        lk.lock();
        for (auto& d : subdirs)
          if (visited_.insert({d.entry, d.dir.st.st_dev, d.dir.st.st_ino}).second) dirs_.push_back(std::move(d));
        for (auto& t : to_hash) files_.push_back(std::move(t));
      } else {
        Task t = std::move(files_.front());
        files_.pop_front();
        lk.unlock();
        TaskResult r = process(t, ctx_);
        bytes_.fetch_add(r.bytes, std::memory_order_relaxed);
        done_.fetch_add(1, std::memory_order_relaxed);
        if (r.outcome == Outcome::kNotMatched) ++out.not_matched;
        else out.finished.push_back({std::move(t), std::move(r)});
        lk.lock();
      }
      --active_;
      cv_.notify_all();
    }
  }

  void list_dir(DirJob& job, Output& out, std::vector<DirJob>& subdirs, std::vector<Task>& to_hash) {
    const Entry& e = m_.entries[job.entry];
    UniqueFd fd = std::move(job.fd);
    if (!fd) {
      auto opened = open_listed_dir(job.dir);
      if (!opened) {
        out.skipped.push_back(
            {job.dir.path, opened.error().code() == ErrorCode::kNotFound ? "vanished" : "unreadable"});
        return;
      }
      fd = std::move(*opened);
    }
    scan_dir(
        fd.get(), job.dir.path, job.dir.rel, e.exclude,
        [&](DirChild&& child) {
          Task t;
          t.path = std::move(child.path);
          t.entry = job.entry;
          t.filter = true;
          t.match = e.match;
          t.have_stat = true;
          t.st = child.st;
          t.check_owner = job.check_owner;
          t.dir_unsafe = job.unsafe;
          TaskResult r = process(t, ctx_, fd.get(), child.name.c_str(), /*may_hash=*/false);
          discovered_.fetch_add(1, std::memory_order_relaxed);
          if (r.outcome == Outcome::kPending) {
            to_hash.push_back(std::move(t));
            return;
          }
          done_.fetch_add(1, std::memory_order_relaxed);
          if (r.outcome == Outcome::kNotMatched) ++out.not_matched;
          else out.finished.push_back({std::move(t), std::move(r)});
        },
        [&](DirChild&& child) {
          if (!e.recursive) return;
          std::string unsafe =
              job.check_owner && job.unsafe.empty() ? element_problem(child.path, child.st) : job.unsafe;
          subdirs.push_back({job.entry, std::move(child), UniqueFd(), job.check_owner, std::move(unsafe)});
        },
        [&](const std::string& path, std::string_view reason) {
          out.skipped.push_back({path, std::string(reason)});
        });
  }

  // On the calling thread while the workers run: a progress report every
  // 200 ms, and a last one with `finished` set.
  void report_progress(const ProgressFn& progress) {
    std::unique_lock lk(mu_);
    while (!finished_) {
      cv_.wait_for(lk, std::chrono::milliseconds(200));
      if (finished_) break;
      CompileProgress now{.walking = !dirs_.empty()};
      lk.unlock();
      now.files_done = done_.load();
      now.files_total = discovered_.load() + files_initial_;
      now.bytes_hashed = bytes_.load();
      now.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
      progress(now);
      lk.lock();
    }
    lk.unlock();
    progress({.files_done = done_.load(),
              .files_total = discovered_.load() + files_initial_,
              .bytes_hashed = bytes_.load(),
              .seconds = std::chrono::duration<double>(Clock::now() - start_).count(),
              .finished = true});
  }

 public:
  void count_initial() { files_initial_ = files_.size(); }

 private:
  const Context& ctx_;
  const Manifest& m_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<DirJob> dirs_;  // guarded by mu_
  std::deque<Task> files_;    // guarded by mu_
  // Directories each entry's walk has reached (guarded by mu_): stops
  // bind-mount loops within one walk, while overlapping `dir:` entries (an
  // allow of /usr/bin inside a deny of /usr) each walk their whole tree.
  std::set<std::tuple<uint32_t, dev_t, ino_t>> visited_;
  unsigned active_ = 0;    // guarded by mu_
  bool finished_ = false;  // guarded by mu_
  size_t files_initial_ = 0;
  std::atomic<size_t> done_{0}, discovered_{0};
  std::atomic<uint64_t> bytes_{0};
  Clock::time_point start_;
};

// A hash found for a rule: from an explicit sha256 entry or from a file.
struct Occurrence {
  Sha256 sha{};
  Action action = Action::kAllow;
  int rank = 1;  // 0: explicit sha256 entry (carries the approval), 1: a hashed file
  std::string origin;
  uint32_t entry = 0;
  std::string package;
};

std::string dpkg_label(const Entry& e, const std::string& package) {
  return e.label.empty() ? "dpkg:" + package : e.label + " dpkg:" + package;
}

bool is_dpkg_label(std::string_view label) {
  return label.starts_with("dpkg:") || label.find(" dpkg:") != std::string_view::npos;
}

class Compiler {
 public:
  explicit Compiler(const CompileOptions& o) : options_(o) {}

  Result<CompileSummary> run() {
    auto start = Clock::now();
    auto manifest = load_manifest(options_.manifest_path);
    if (!manifest) return std::unexpected(manifest.error());
    m_ = std::move(*manifest);
    summary_.policy_name = m_.name;
    summary_.manifests = m_.files;
    summary_.dry_run = options_.dry_run;
    summary_.output_path = options_.output_path;
    if (options_.output_path.empty() && !options_.dry_run)
      return fail(ErrorCode::kInvalidInput, "no output path given (-o DB)");

    std::optional<hashdb::PrivateKey> key;
    if (options_.signing_key_path) {
      auto k = hashdb::load_private_key(*options_.signing_key_path);
      if (!k) return std::unexpected(k.error());
      key = std::move(*k);
    }
    if (auto st = load_previous(key ? &key->public_key : nullptr); !st) return std::unexpected(st.error());

    Pool pool(ctx_, m_);
    plan(pool);
    if (!diag_.ok()) return std::unexpected(diag_.to_error());
    unsigned jobs = options_.jobs ? options_.jobs : std::max(1u, std::thread::hardware_concurrency());
    pool.count_initial();
    collect(pool.run(jobs, options_.progress));
    build_hash_rules();
    if (!diag_.ok()) return std::unexpected(diag_.to_error());

    content_.policy_name = m_.name;
    std::sort(content_.file_cache.begin(), content_.file_cache.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    content_.file_cache.erase(std::unique(content_.file_cache.begin(), content_.file_cache.end(),
                                          [](const auto& a, const auto& b) { return a.path == b.path; }),
                              content_.file_cache.end());

    hashdb::WriteOptions wo{.generation = generation_, .signing_key = key};
    auto written = write(wo);
    if (!written) return std::unexpected(written.error());
    summary_.generation = generation_;
    summary_.content_digest = hashdb::to_hex(written->content_digest);
    if (key) summary_.signer_key_id = hashdb::to_hex(key->public_key.key_id);
    summary_.warnings = diag_.warnings();
    summary_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(summary_);
  }

 private:
  // The previous database gives the generation and the file cache. When the
  // new one is signed, the cache is trusted only from a database signed by
  // the same key: a forged cache row would otherwise put an arbitrary hash
  // into a signed policy.
  Status load_previous(const hashdb::PublicKey* signer) {
    const std::string& out = options_.output_path;
    struct stat st {};
    if (out.empty() || ::stat(out.c_str(), &st) != 0) return {};
    auto store = hashdb::PolicyStore::open(out, {.public_key = signer});
    if (!store) {
      // Readable meta but bad rows: keep counting generations, trust no cache.
      auto meta_only = hashdb::PolicyStore::open(out, {.verify_content = false});
      if (!meta_only)
        return fail(ErrorCode::kInvalidInput, out + ": exists and is not a readable policy database (" +
                                                  store.error().message() + "); move it away first");
      generation_ = (*meta_only)->generation() + 1;
      diag_.warn(out + ": previous database failed verification (" + store.error().message() +
                 "); its file cache is not used");
      return {};
    }
    generation_ = (*store)->generation() + 1;
    auto cache = (*store)->file_cache();
    if (cache) {
      ctx_.cache.reserve(cache->size());
      for (auto& c : *cache) ctx_.cache.emplace(c.path, std::move(c));
    }
    bool has_dpkg = std::any_of(m_.entries.begin(), m_.entries.end(),
                                [](const Entry& e) { return e.kind == EntryKind::kPackageManager; });
    if (!has_dpkg) return {};
    auto st2 = (*store)->for_each_hash_rule([&](const hashdb::HashRule& r) {
      if (r.action == Action::kAllow && !r.origin_path.empty() && is_dpkg_label(r.label))
        ctx_.dpkg_verified.emplace(r.origin_path, r.sha256);
    });
    if (!st2) ctx_.dpkg_verified.clear();
    return {};
  }

  void error_at(const Entry& e, const std::string& message) { diag_.add_plain(e.where.to_string() + ": " + message); }

  void skip(const std::string& path, std::string_view reason) {
    ++summary_.skipped_by_reason[std::string(reason)];
    ++summary_.skipped_total;
    skipped_.push_back({path, std::string(reason)});
  }

  // Every entry in force becomes files for the pool, rules, or signers.
  void plan(Pool& pool) {
    const int64_t now = std::time(nullptr);
    for (uint32_t i = 0; i < m_.entries.size(); ++i) {
      const Entry& e = m_.entries[i];
      if (e.expired(now)) {
        ++summary_.expired_entries;
        diag_.warn(e.where.to_string() + ": " + std::string(to_string(e.kind)) + " entry expired on " + e.expires +
                   "; skipped");
        continue;
      }
      ++summary_.entries[std::string(hashdb::to_string(e.action)) + " " + std::string(to_string(e.kind))];
      switch (e.kind) {
        case EntryKind::kFile: plan_file(pool, i); break;
        case EntryKind::kDir: plan_dir(pool, i); break;
        case EntryKind::kSha256: plan_sha256(i); break;
        case EntryKind::kPath:
        case EntryKind::kPathPrefix: plan_path_rule(e); break;
        case EntryKind::kPackageManager: plan_packages(pool, i); break;
        case EntryKind::kSigner: plan_signer(e); break;
      }
    }
  }

  void plan_file(Pool& pool, uint32_t i) {
    const Entry& e = m_.entries[i];
    Task t;
    t.path = e.value;
    t.entry = i;
    t.follow = true;
    t.check_owner = e.action == Action::kAllow;
    pool.add_file(std::move(t));
  }

  void plan_dir(Pool& pool, uint32_t i) {
    const Entry& e = m_.entries[i];
    // The root itself may be a symlink (/bin on merged-/usr systems): follow it.
    UniqueFd fd(::open(e.value.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DirChild root;
    if (!fd || ::fstat(fd.get(), &root.st) != 0) {
      error_at(e, "dir: " + Error::from_errno(errno, e.value, "cannot open directory").message());
      return;
    }
    root.path = e.value;
    DirJob job{.entry = i, .dir = std::move(root), .fd = std::move(fd), .check_owner = e.action == Action::kAllow};
    if (job.check_owner) job.unsafe = chain_problem(e.value, job.dir.st);
    pool.add_root(std::move(job));
  }

  void plan_sha256(uint32_t i) {
    const Entry& e = m_.entries[i];
    Occurrence o;
    o.sha = *hashdb::sha256_from_hex(e.value);
    o.action = e.action;
    o.rank = 0;
    o.origin = e.origin;
    o.entry = i;
    occurrences_.push_back(std::move(o));
  }

  void plan_path_rule(const Entry& e) {
    hashdb::PathRule r;
    r.path = e.value;
    r.match = e.kind == EntryKind::kPath ? hashdb::PathMatch::kExact : hashdb::PathMatch::kPrefix;
    r.action = e.action;
    r.label = e.label;
    r.source = {e.where.file, e.where.line};
    bool dup = std::any_of(content_.path_rules.begin(), content_.path_rules.end(), [&](const auto& x) {
      return x.path == r.path && x.match == r.match && x.action == r.action;
    });
    if (!dup) content_.path_rules.push_back(std::move(r));
  }

  void plan_packages(Pool& pool, uint32_t i) {
    const Entry& e = m_.entries[i];
    auto files = read_dpkg_files(options_.dpkg_admindir, e.packages);
    if (!files) {
      error_at(e, "dpkg: " + files.error().message());
      return;
    }
    for (const auto& missing : files->missing)
      error_at(e, "package '" + missing + "' is not installed (per " + options_.dpkg_admindir + "/status)");
    for (auto& f : files->files) {
      Task t;
      t.path = std::move(f.path);
      t.entry = i;
      t.filter = true;
      t.match = DirMatch::kExecutables;
      t.package = std::move(f.package);
      t.md5 = std::move(f.md5);
      pool.add_file(std::move(t));
    }
    plan_scripts(pool, i, std::move(files->scripts));
  }

  // The packages' maintainer scripts (dpkg execs them from info/ during an
  // upgrade or removal): trusted by hash like the package's files, but with
  // no md5 to check them against, only when they and every directory above
  // them are root-owned and not group- or world-writable. Hashed whatever
  // their content (dpkg runs them whatever it is); a symlink is passed over.
  void plan_scripts(Pool& pool, uint32_t i, std::vector<DpkgFile> scripts) {
    if (scripts.empty()) return;
    const Entry& e = m_.entries[i];
    const bool check = e.action == Action::kAllow;
    std::string info_unsafe;
    if (check) {
      const std::string info = options_.dpkg_admindir + "/info";
      struct stat st {};
      info_unsafe = ::stat(info.c_str(), &st) == 0
                        ? chain_problem(info, st)
                        : "ownership unknown: " + Error::from_errno(errno, info, "cannot stat").message();
      no_opt_in_.insert(e.where.to_string());
    }
    for (auto& f : scripts) {
      Task t;
      t.path = std::move(f.path);
      t.entry = i;
      t.filter = true;  // a script that vanished since it was listed is skipped, not an error
      t.match = DirMatch::kAll;
      t.package = std::move(f.package);
      t.script = true;
      t.check_owner = check;
      t.dir_unsafe = info_unsafe;
      pool.add_file(std::move(t));
    }
  }

  void plan_signer(const Entry& e) {
    auto key = hashdb::load_public_key(e.value);
    if (!key) {
      error_at(e, "signer: " + key.error().message());
      return;
    }
    bool dup = std::any_of(content_.signers.begin(), content_.signers.end(),
                           [&](const auto& s) { return s.key_id == key->key_id; });
    if (!dup) content_.signers.push_back({key->key_id, key->pem, e.label, {e.where.file, e.where.line}});
  }

  void collect(Pool::Output&& out) {
    // Workers finish in any order; sort so errors and the summary are deterministic.
    std::sort(out.finished.begin(), out.finished.end(), [](const Finished& a, const Finished& b) {
      return std::tie(a.task.entry, a.task.path) < std::tie(b.task.entry, b.task.path);
    });
    for (const auto& s : out.skipped) skip(s.path, s.reason);
    summary_.files_not_matched += out.not_matched;
    for (const auto& f : out.finished) record(f.task, f.result);
    std::sort(skipped_.begin(), skipped_.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    if (skipped_.size() > CompileSummary::kMaxListed) skipped_.resize(CompileSummary::kMaxListed);
    summary_.skipped = std::move(skipped_);
    std::sort(summary_.modified_package_files.begin(), summary_.modified_package_files.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    if (options_.strict) {
      for (const auto& w : untrusted_)
        diag_.add_plain(w.entry + ": " + printable(w.path) + " is not trusted (--strict): " + printable(w.why) +
                        (no_opt_in_.contains(w.entry)
                             ? "; a package_manager entry cannot opt in: make it root-owned and not writable"
                             : "; add 'allow_writable: true' and a 'reason:' to trust it anyway"));
    }
    summary_.untrusted_writable_total = untrusted_.size();
    summary_.untrusted_writable = listed(std::move(untrusted_));
    summary_.writable_allowed_total = writable_allowed_.size();
    summary_.writable_allowed = listed(std::move(writable_allowed_));
  }

  // One examined file into the summary, the diagnostics or the rules.
  void record(const Task& t, const TaskResult& r) {
    const Entry& e = m_.entries[t.entry];
    switch (r.outcome) {
      case Outcome::kHashed:
        ++summary_.files_hashed;
        summary_.bytes_hashed += r.bytes;
        trust(t, r);
        break;
      case Outcome::kReused:
        ++summary_.files_reused;
        trust(t, r);
        break;
      case Outcome::kNotMatched: ++summary_.files_not_matched; break;
      case Outcome::kModified:
        ++summary_.files_hashed;
        summary_.bytes_hashed += r.bytes;
        summary_.modified_package_files.push_back({t.package, t.path, t.md5, r.actual_md5});
        break;
      case Outcome::kMissing:
        if (e.optional) diag_.warn(e.where.to_string() + ": optional file " + t.path + " does not exist; skipped");
        else error_at(e, "file " + t.path + " does not exist (add 'optional: true' if it may be absent)");
        break;
      case Outcome::kPending:  // not returned by file jobs
      case Outcome::kSkipped:
        if (e.kind == EntryKind::kFile) error_at(e, "cannot hash " + t.path + ": " + r.reason);
        else skip(t.path, r.reason);
        break;
    }
  }

  // A hashed (or reused) file becomes an occurrence of its hash, unless it
  // fails the ownership rule and its entry does not say allow_writable.
  void trust(const Task& t, const TaskResult& r) {
    const Entry& e = m_.entries[t.entry];
    if (!r.unsafe.empty()) {
      WritableFile w{t.path, r.unsafe, e.where.to_string()};
      if (!e.allow_writable) {
        // Not trusted, and not cached: the next compile looks again.
        untrusted_.push_back(std::move(w));
        return;
      }
      writable_allowed_.push_back(std::move(w));
    }
    content_.file_cache.push_back(r.cache);
    Occurrence o;
    o.sha = r.sha;
    o.action = e.action;
    o.origin = t.path;
    o.entry = t.entry;
    o.package = t.package;
    occurrences_.push_back(std::move(o));
  }

  static std::vector<WritableFile> listed(std::vector<WritableFile> files) {
    std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    if (files.size() > CompileSummary::kMaxListed) files.resize(CompileSummary::kMaxListed);
    return files;
  }

  std::string where_of(const Occurrence& o) const {
    std::string s = m_.entries[o.entry].where.to_string();
    if (!o.origin.empty() && o.rank == 1) s += " (" + o.origin + ")";
    return s;
  }

  void build_hash_rules() {
    auto key = [this](const Occurrence& o) {
      const auto& w = m_.entries[o.entry].where;
      // Of the same path found twice, prefer the dpkg occurrence: its rule
      // records the md5 verification that lets the next compile reuse it.
      return std::tuple<const Sha256&, Action, int, const std::string&, bool, const std::string&, int, int>(
          o.sha, o.action, o.rank, o.origin, o.package.empty(), w.file, w.line, w.column);
    };
    std::sort(occurrences_.begin(), occurrences_.end(),
              [&](const Occurrence& a, const Occurrence& b) { return key(a) < key(b); });
    for (size_t i = 0; i < occurrences_.size();) {
      size_t j = i;
      while (j < occurrences_.size() && occurrences_[j].sha == occurrences_[i].sha) ++j;
      // Sorted by action: allows (kAllow < kDeny) first.
      const Occurrence& first = occurrences_[i];
      const Occurrence& last = occurrences_[j - 1];
      if (first.action != last.action) {
        const Occurrence* deny = &last;
        for (size_t k = i; k < j; ++k)
          if (occurrences_[k].action == Action::kDeny) {
            deny = &occurrences_[k];
            break;
          }
        // Two explicit sha256 entries were already reported by the loader.
        if (!(first.rank == 0 && deny->rank == 0))
          diag_.add_plain(where_of(*deny) + ": hash " + hashdb::to_hex(first.sha) + " is denied here but allowed at " +
                          where_of(first));
        i = j;
        continue;
      }
      summary_.duplicate_hashes += j - i - 1;
      const Entry& e = m_.entries[first.entry];
      hashdb::HashRule r;
      r.sha256 = first.sha;
      r.action = first.action;
      r.label = first.package.empty() ? e.label : dpkg_label(e, first.package);
      r.origin_path = first.origin;
      r.source = {e.where.file, e.where.line};
      r.approved_by = e.approved_by;
      r.approved_at = e.approved_at;
      content_.hash_rules.push_back(std::move(r));
      i = j;
    }
    auto& c = summary_.rules;
    for (const auto& r : content_.hash_rules) ++(r.action == Action::kAllow ? c.hash_allow : c.hash_deny);
    for (const auto& r : content_.path_rules) ++(r.action == Action::kAllow ? c.path_allow : c.path_deny);
    c.signers = content_.signers.size();
  }

  Result<hashdb::WrittenDatabase> write(const hashdb::WriteOptions& wo) {
    if (!options_.dry_run) return hashdb::write_database(options_.output_path, content_, wo);
    // A dry run builds the database in a private temporary directory, so
    // the digest (and every constraint) is exactly what a real run gives.
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tollgate-dry-run.XXXXXX";
    if (!::mkdtemp(tmpl.data())) return fail_errno(errno, tmpl, "cannot create temporary directory");
    auto written = hashdb::write_database(tmpl + "/policy.db", content_, wo);
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
    return written;
  }

  const CompileOptions& options_;
  Manifest m_;
  Diagnostics diag_{50};
  Context ctx_;
  uint64_t generation_ = 1;
  std::vector<Occurrence> occurrences_;
  std::vector<SkippedFile> skipped_;
  std::vector<WritableFile> untrusted_, writable_allowed_;
  std::set<std::string> no_opt_in_;  // "FILE:LINE:COL" of entries allow_writable does not apply to
  hashdb::PolicyContent content_;
  CompileSummary summary_;
};

}  // namespace

nlohmann::json CompileSummary::to_json() const {
  using nlohmann::json;
  json skipped_list = json::array();
  for (const auto& s : skipped) skipped_list.push_back({{"path", s.path}, {"reason", s.reason}});
  auto writable_list = [](const std::vector<WritableFile>& files) {
    json out = json::array();
    for (const auto& w : files) out.push_back({{"path", w.path}, {"why", w.why}, {"entry", w.entry}});
    return out;
  };
  json modified = json::array();
  for (const auto& m : modified_package_files)
    modified.push_back(
        {{"package", m.package}, {"path", m.path}, {"expected_md5", m.expected_md5}, {"actual_md5", m.actual_md5}});
  return {
      {"policy_name", policy_name},
      {"output", output_path},
      {"dry_run", dry_run},
      {"generation", generation},
      {"content_digest", content_digest},
      {"signed", !signer_key_id.empty()},
      {"signer_key_id", signer_key_id},
      {"manifests", manifests},
      {"entries", entries},
      {"rules",
       {{"hash_allow", rules.hash_allow},
        {"hash_deny", rules.hash_deny},
        {"path_allow", rules.path_allow},
        {"path_deny", rules.path_deny},
        {"signers", rules.signers}}},
      {"duplicate_hashes", duplicate_hashes},
      {"files",
       {{"hashed", files_hashed},
        {"reused", files_reused},
        {"bytes_hashed", bytes_hashed},
        {"not_matched", files_not_matched},
        {"skipped", skipped_total},
        {"skipped_by_reason", skipped_by_reason},
        {"skipped_list", skipped_list}}},
      {"modified_package_files", modified},
      {"writable",
       {{"untrusted", untrusted_writable_total},
        {"untrusted_list", writable_list(untrusted_writable)},
        {"allowed", writable_allowed_total},
        {"allowed_list", writable_list(writable_allowed)}}},
      {"expired_entries", expired_entries},
      {"warnings", warnings},
      {"seconds", seconds},
  };
}

std::string CompileSummary::to_text() const {
  std::string out;
  if (dry_run) out += fmt::format("dry run: nothing written (would be generation {})\n", generation);
  else out += fmt::format("compiled {} (generation {})\n", output_path, generation);
  out += fmt::format("policy: {}; {} manifest{}\n", policy_name.empty() ? "(unnamed)" : policy_name, manifests.size(),
                     manifests.size() == 1 ? "" : "s");
  out += fmt::format("rules: {} hash allow, {} hash deny, {} path allow, {} path deny, {} signer{}\n", rules.hash_allow,
                     rules.hash_deny, rules.path_allow, rules.path_deny, rules.signers, rules.signers == 1 ? "" : "s");
  if (!entries.empty()) {
    out += "entries:";
    bool first = true;
    for (const auto& [k, v] : entries) {
      out += fmt::format("{} {} {}", first ? "" : ",", k, v);
      first = false;
    }
    out += "\n";
  }
  out += fmt::format("files: {} hashed ({}), {} reused, {} skipped, {} not matched", files_hashed,
                     human_bytes(static_cast<double>(bytes_hashed)), files_reused, skipped_total, files_not_matched);
  if (duplicate_hashes) out += fmt::format(", {} duplicate contents", duplicate_hashes);
  out += "\n";
  if (skipped_total) {
    out += "skipped:";
    bool first = true;
    for (const auto& [k, v] : skipped_by_reason) {
      out += fmt::format("{} {} {}", first ? "" : ",", k, v);
      first = false;
    }
    out += "\n";
    size_t shown = std::min<size_t>(skipped.size(), 20);
    for (size_t i = 0; i < shown; ++i) out += fmt::format("  {}: {}\n", printable(skipped[i].path), skipped[i].reason);
    if (skipped_total > shown) out += fmt::format("  ... {} more (see --json)\n", skipped_total - shown);
  }
  if (!modified_package_files.empty()) {
    out += fmt::format("modified package files (NOT trusted): {}\n", modified_package_files.size());
    for (const auto& m : modified_package_files)
      out += fmt::format("  {} {}: md5 {} expected {}\n", m.package, printable(m.path), m.actual_md5, m.expected_md5);
  }
  auto list_writable = [&out](const std::vector<WritableFile>& files, uint64_t total) {
    size_t shown = std::min<size_t>(files.size(), 20);
    for (size_t i = 0; i < shown; ++i)
      out += fmt::format("  {}: {} ({})\n", printable(files[i].path), printable(files[i].why), files[i].entry);
    if (total > shown) out += fmt::format("  ... {} more (see --json)\n", total - shown);
  };
  if (untrusted_writable_total) {
    out += fmt::format(
        "NOT trusted, an unprivileged user could have placed or changed them: {} (fix the ownership, or add "
        "'allow_writable: true' and a 'reason:' to the entry)\n",
        untrusted_writable_total);
    list_writable(untrusted_writable, untrusted_writable_total);
  }
  if (writable_allowed_total) {
    out += fmt::format("trusted although writable (allow_writable): {}\n", writable_allowed_total);
    list_writable(writable_allowed, writable_allowed_total);
  }
  if (expired_entries) out += fmt::format("expired entries skipped: {}\n", expired_entries);
  for (const auto& w : warnings) out += "warning: " + w + "\n";
  out += fmt::format("content digest: {}\n", content_digest);
  out += signer_key_id.empty() ? std::string("signature: none (pass --sign-key to sign)\n")
                               : fmt::format("signed by key {}\n", signer_key_id);
  out += fmt::format("time: {:.2f} s\n", seconds);
  return out;
}

Result<CompileSummary> compile_policy(const CompileOptions& options) {
  try {
    Compiler compiler(options);
    return compiler.run();
  } catch (const std::exception& e) {
    return fail(ErrorCode::kIo, "compile: internal error: " + std::string(e.what()));
  }
}

}  // namespace tollgate::policy
