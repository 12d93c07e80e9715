// engine_bench: the daemon's own cost per warm-cache event, without the
// kernel: the Engine fed by an in-memory event source (a new fd of one real
// file per event, as fanotify hands out), answering into a counter.
//
//   ./build/tests/engine_bench --events 200000                   # ns per event (wall)
//   valgrind --tool=callgrind ./build/tests/engine_bench --events 20000 --quiet
//   valgrind --tool=callgrind ./build/tests/engine_bench --events 40000 --quiet
//   # instructions per event = (Ir of the second - Ir of the first) / 20000
//
// --path-rules adds path-deny rules that cannot match the file (the path
// is then read for every event unless its mount is known to be out of
// their reach).
#include <fcntl.h>
#include <fmt/core.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "enforcer/engine.h"
#include "hashdb/sha256.h"

using namespace tollgate;
using namespace tollgate::enforcer;

namespace {

// One event per read, like fanotify at a moderate exec rate. The first
// event (the warm-up: hashed on a worker) is handed out alone; the rest
// follow once it is answered, so every timed event is a warm one.
class BenchSource final : public EventSource {
 public:
  BenchSource(int file_fd, uint64_t events)
      : file_fd_(file_fd),
        left_(events),
        total_(events),
        wake_(::eventfd(events ? 1 : 0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  int poll_fd() const override { return wake_.get(); }
  Status read_events(std::vector<RawEvent>& out, ReadNotes&) override {
    std::lock_guard lock(mu_);
    if (left_ == 0 || (left_ < total_ && answered_ == 0)) {  // done, or the warm-up is not answered yet
      uint64_t v;
      (void)!::read(wake_.get(), &v, sizeof v);
      return {};
    }
    --left_;
    out.push_back({UniqueFd(::fcntl(file_fd_, F_DUPFD_CLOEXEC, 0)), 4242, 0});
    return {};
  }
  Status respond(int, bool allow) override {
    std::lock_guard lock(mu_);
    allowed_ += allow;
    if (++answered_ == 1) {  // the warm-up: the timed events may come
      warm_at_ = std::chrono::steady_clock::now();
      const uint64_t one = 1;
      (void)!::write(wake_.get(), &one, sizeof one);
    }
    if (answered_ == total_) cv_.notify_all();  // only then: no wake-up per event
    return {};
  }
  // Waits for every answer; the time from the warm-up's answer to now.
  std::chrono::duration<double> wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return answered_ >= total_; });
    return std::chrono::steady_clock::now() - warm_at_;
  }
  uint64_t allowed() {
    std::lock_guard lock(mu_);
    return allowed_;
  }

 private:
  int file_fd_;
  uint64_t left_, total_;
  UniqueFd wake_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t answered_ = 0, allowed_ = 0;
  std::chrono::steady_clock::time_point warm_at_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engine_bench: the Engine's cost per warm-cache event, no kernel involved"};
  uint64_t events = 100000;
  bool path_rules = false, quiet = false;
  std::string file = "/proc/self/exe";
  app.add_option("--events", events, "Events to answer");
  app.add_option("--file", file, "The file every event is about (approved by hash)");
  app.add_flag("--path-rules", path_rules, "Add path-deny rules that cannot match the file");
  app.add_flag("--quiet", quiet, "Print nothing (for callgrind)");
  CLI11_PARSE(app, argc, argv);

  const std::string path = std::filesystem::canonical(file);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    fmt::print(stderr, "engine_bench: cannot open {}\n", path);
    return 1;
  }
  auto digest = hashdb::sha256_path(path);
  if (!digest) {
    fmt::print(stderr, "engine_bench: {}\n", digest.error().message());
    return 1;
  }
  hashdb::PolicyContent content;
  hashdb::HashRule allow;
  allow.sha256 = *digest;
  allow.label = "bench";
  allow.source = {"bench.yaml", 3};
  content.hash_rules.push_back(allow);
  if (path_rules)
    for (const char* p : {"/dev/shm/", "/var/tmp/", "/run/user/"})
      content.path_rules.push_back({p, hashdb::PathMatch::kPrefix, hashdb::Action::kDeny, "scratch", {}});

  // One warm-up event fills the cache (hashed on a worker), then the rest.
  BenchSource source(fd.get(), events + 1);
  Metrics metrics;
  Engine engine(source, nullptr, metrics, {.workers = 1});
  engine.set_policy(make_policy_state(std::make_shared<hashdb::MemoryRuleSet>(content), nullptr, engine.next_epoch()));
  engine.set_mode(policy::Mode::kEnforce);
  std::thread loop([&] { (void)engine.run(); });
  const auto dt = source.wait();  // from the warm-up's answer: the timed events only
  engine.stop();
  loop.join();
  if (!quiet)
    fmt::print(
        "{} events, {} allowed, {} cache hits: {:.0f} ns per warm event (wall, reading thread and source "
        "together)\n",
        events + 1, source.allowed(), metrics.cache_hits.load(), dt.count() * 1e9 / static_cast<double>(events));
  return source.allowed() == events + 1 ? 0 : 1;
}
