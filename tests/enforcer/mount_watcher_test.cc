// MountWatcher against a fake mount table (a file) and a fake marker: no
// fanotify, no real mount table, nothing marked.
#include "enforcer/mount_watcher.h"

#include <doctest/doctest.h>
#include <stdio.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "tests/support/temp_dir.h"

using namespace tollgate;
using namespace tollgate::enforcer;

namespace {

// The watcher's thread marks while the test reads: every member under one mutex.
class FakeMarker final : public FilesystemMarker {
 public:
  Status mark_filesystem(const std::string& mount_point, int mount_id) override {
    std::lock_guard lock(mu_);
    calls_.emplace_back(mount_point, mount_id);
    if (unreachable_.contains(mount_id)) return fail(ErrorCode::kUnavailable, mount_point + ": hidden");
    if (broken_.contains(mount_id)) return fail(ErrorCode::kIo, mount_point + ": cannot mark the filesystem");
    return {};
  }
  Status mark_hidden_filesystem(const census::MountEntry& hidden) override {
    std::lock_guard lock(mu_);
    hidden_calls_.push_back(hidden.mount_id);
    if (!private_namespaces_)
      return fail(ErrorCode::kPermission, hidden.mount_point + ": cannot unshare a private mount namespace");
    if (moved_.contains(hidden.mount_id))
      return fail(ErrorCode::kUnavailable, hidden.mount_point + ": reaches another filesystem (moved?)");
    return {};
  }
  // Mount ids that cannot be reached even from a private namespace.
  void set_moved(std::set<int> ids) {
    std::lock_guard lock(mu_);
    moved_ = std::move(ids);
  }
  // Mount ids whose path reaches another mount.
  void set_unreachable(std::set<int> ids) {
    std::lock_guard lock(mu_);
    unreachable_ = std::move(ids);
  }
  // Mount ids whose filesystem refuses the mark.
  void set_broken(std::set<int> ids) {
    std::lock_guard lock(mu_);
    broken_ = std::move(ids);
  }
  // Whether mark_hidden_filesystem works (it needs a private mount namespace).
  void set_private_namespaces(bool ok) {
    std::lock_guard lock(mu_);
    private_namespaces_ = ok;
  }
  std::vector<int> hidden_calls() const {
    std::lock_guard lock(mu_);
    return hidden_calls_;
  }
  std::vector<std::pair<std::string, int>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::vector<std::string> marked_points() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& [p, id] : calls_)
      if (!unreachable_.contains(id)) out.push_back(p);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, int>> calls_;
  std::set<int> unreachable_;
  std::set<int> broken_;
  std::set<int> moved_;
  bool private_namespaces_ = true;
  std::vector<int> hidden_calls_;
};

// Replaces the fake mount table in one step (rename), as the kernel's
// mountinfo never reads half-written.
void replace_table(const std::string& path, const std::string& text) {
  testing::write_text(path + ".new", text);
  REQUIRE(::rename((path + ".new").c_str(), path.c_str()) == 0);
}

const char* kBase =
    "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
    "2 1 0:5 / /proc rw - proc proc rw\n"
    "10 1 0:50 / /srv/data rw - tmpfs data rw\n";

struct Fixture {
  testing::TempDir dir;
  std::string table = dir.file("mountinfo");
  FakeMarker marker;
  Fixture() { testing::write_text(table, kBase); }
  // The table becomes kBase plus `lines`.
  void mount_also(const std::string& lines) { replace_table(table, kBase + lines); }
  MountWatcherOptions options(std::vector<std::string> prefixes) {
    return {.prefixes = std::move(prefixes), .mountinfo = table, .host = "h", .rescan_ms = 50};
  }
};

}  // namespace

TEST_SUITE("enforcer.mount_watcher") {
  TEST_CASE("start marks each watched filesystem once, through one of its mounts") {
    Fixture f;
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE(w.start());
    CHECK(f.marker.calls() == std::vector<std::pair<std::string, int>>{{"/srv/data", 10}});
    auto fs = w.filesystems();
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].marked);
    CHECK(fs[0].fs_type == "tmpfs");
    CHECK(fs[0].mount_points == std::vector<std::string>{"/srv/data"});
    auto view = w.view();
    CHECK(view->watched == std::set<dev_t>{::makedev(0, 50)});
    CHECK(view->mounts.size() == 3);
  }

  TEST_CASE("a prefix with no filesystem that can hold executables is refused at start") {
    Fixture f;
    MountWatcher w(f.marker, nullptr, f.options({"/proc"}));
    auto st = w.start();
    REQUIRE_FALSE(st);
    CHECK(st.error().message() ==
          "watch: /proc: no filesystem that can hold executables is mounted there (/proc is proc)");
    CHECK(f.marker.calls().empty());
  }

  TEST_CASE(
      "a filesystem mounted later below the prefix is marked; one elsewhere is not; unchanged ones are not "
      "marked again") {
    Fixture f;
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE(w.start());
    f.mount_also(
        "11 10 0:51 / /srv/data/late rw - tmpfs late rw\n"
        "12 1 0:52 / /mnt/usb rw - vfat usb rw\n");
    REQUIRE(w.rescan(true));
    CHECK(f.marker.marked_points() == std::vector<std::string>{"/srv/data", "/srv/data/late"});
    CHECK(w.view()->watched.contains(::makedev(0, 51)));
    CHECK_FALSE(w.view()->watched.contains(::makedev(0, 52)));
  }

  TEST_CASE(
      "the kernel reports a change but the table reads the same (unmounted and mounted again with the "
      "same device and mount id): everything is marked again") {
    Fixture f;
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE(w.start());
    REQUIRE(w.rescan(false));  // a periodic rescan, nothing changed: no new mark
    CHECK(f.marker.calls().size() == 1);
    REQUIRE(w.rescan(true));
    CHECK(f.marker.calls().size() == 2);
  }

  TEST_CASE("a filesystem whose first mount is hidden is marked through another mount of it") {
    Fixture f;
    f.mount_also(
        "11 1 0:50 / /elsewhere rw - tmpfs data rw\n"
        "12 1 0:60 / /srv/data rw - tmpfs over rw\n");
    f.marker.set_unreachable({10});
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE(w.start());
    auto fs = w.filesystems();
    REQUIRE(fs.size() == 2);
    CHECK(fs[0].marked);
    CHECK(fs[1].marked);
    // The filesystem on top first (it holds the prefix), then the hidden one through /elsewhere.
    CHECK(f.marker.marked_points() == std::vector<std::string>{"/srv/data", "/elsewhere"});
  }

  TEST_CASE("a filesystem whose every mount is hidden is marked from a private mount namespace") {
    Fixture f;
    f.marker.set_unreachable({10});
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE(w.start());
    CHECK(f.marker.hidden_calls() == std::vector<int>{10});
    auto fs = w.filesystems();
    REQUIRE(fs.size() == 1);
    CHECK(fs[0].marked);
    CHECK(fs[0].hidden);
    CHECK(fs[0].error.empty());
    CHECK(w.view()->watched.contains(::makedev(0, 50)));
    REQUIRE(w.rescan(false));  // still the same mounts: not marked again
    CHECK(f.marker.hidden_calls().size() == 1);
    CHECK(w.filesystems()[0].hidden);
  }

  TEST_CASE("each hidden mount of a filesystem is tried until one can be reached from a private namespace") {
    Fixture f;
    f.mount_also("11 1 0:50 / /elsewhere rw - tmpfs data rw\n");  // the same filesystem, also hidden
    f.marker.set_unreachable({10, 11});
    f.marker.set_moved({10});
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE(w.start());
    CHECK(f.marker.hidden_calls() == std::vector<int>{10, 11});
    CHECK(w.filesystems()[0].hidden);
  }

  TEST_CASE("when no private namespace can be made, the other hidden mounts are not tried") {
    Fixture f;
    f.mount_also("11 1 0:50 / /elsewhere rw - tmpfs data rw\n");
    f.marker.set_unreachable({10, 11});
    f.marker.set_private_namespaces(false);
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE_FALSE(w.start());
    CHECK(f.marker.hidden_calls() == std::vector<int>{10});
  }

  TEST_CASE("a local filesystem that cannot be marked at all fails the start, naming it") {
    Fixture f;
    f.marker.set_unreachable({10});
    f.marker.set_private_namespaces(false);
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    auto st = w.start();
    REQUIRE_FALSE(st);
    CHECK(st.error().message() ==
          "cannot watch /srv/data (tmpfs, 0:50): /srv/data: cannot unshare a private mount namespace");
  }

  TEST_CASE("a mark the filesystem refuses is not retried from a private mount namespace") {
    Fixture f;
    f.marker.set_broken({10});
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    auto st = w.start();
    REQUIRE_FALSE(st);
    CHECK(st.error().message() == "cannot watch /srv/data (tmpfs, 0:50): /srv/data: cannot mark the filesystem");
    CHECK(f.marker.hidden_calls().empty());
  }

  TEST_CASE("network filesystems are not marked by start but by the thread, which follows later mounts too") {
    Fixture f;
    f.mount_also("20 10 0:70 / /srv/data/nfs rw - nfs4 server:/x rw\n");
    MountWatcher w(f.marker, nullptr, f.options({"/srv/data"}));
    REQUIRE(w.start());
    auto fs = w.filesystems();
    REQUIRE(fs.size() == 2);
    CHECK(fs[1].network);
    CHECK_FALSE(fs[1].marked);
    CHECK(fs[1].error.starts_with("pending"));
    std::thread t([&] { w.run(); });
    auto marked = [&](size_t n) {
      for (int i = 0; i < 200 && f.marker.marked_points().size() < n; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return f.marker.marked_points().size() >= n;
    };
    CHECK(marked(2));
    f.mount_also(
        "20 10 0:70 / /srv/data/nfs rw - nfs4 server:/x rw\n"
        "21 10 0:71 / /srv/data/late rw - tmpfs late rw\n");
    CHECK(marked(3));  // a regular file never raises POLLPRI: the 50 ms rescan finds it
    w.stop();
    t.join();
    CHECK(f.marker.marked_points() == std::vector<std::string>{"/srv/data", "/srv/data/nfs", "/srv/data/late"});
  }
}
