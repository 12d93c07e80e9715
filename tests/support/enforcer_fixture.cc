#include "tests/support/enforcer_fixture.h"

#include <doctest/doctest.h>
#include <errno.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "census/mounts.h"
#include "common/io.h"
#include "control/client.h"
#include "hashdb/sha256.h"
#include "hashdb/writer.h"

namespace tollgate::testing {

namespace fs = std::filesystem;
using nlohmann::json;

void enter_private_namespace() {
  static bool done = false;
  if (done) return;
  REQUIRE_MESSAGE(::unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS) needs root: ", std::strerror(errno));
  REQUIRE(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0);
  done = true;
}

hashdb::HashRule hash_allow(const std::string& path) {
  auto digest = hashdb::sha256_path(path);
  REQUIRE(digest);
  hashdb::HashRule r;
  r.sha256 = *digest;
  r.action = hashdb::Action::kAllow;
  r.origin_path = path;
  return r;
}

void require_own_tmpfs(const std::string& path) {
  struct statfs sfs {};
  REQUIRE(::statfs(path.c_str(), &sfs) == 0);
  REQUIRE_MESSAGE(sfs.f_type == TMPFS_MAGIC, path, " is not a tmpfs: refusing to let a test mark it");
  auto text = read_file("/proc/self/mountinfo");
  REQUIRE(text);
  bool own = false;
  std::vector<std::string> others;
  for (const auto& m : census::parse_mountinfo(*text)) {
    if (!census::at_or_below(m.mount_point, path)) continue;
    const bool fixture_tmpfs = m.fs_type == "tmpfs" && m.source == kFixtureTmpfs;
    if (m.mount_point == path && fixture_tmpfs) own = true;
    else if (!fixture_tmpfs) others.push_back(m.mount_point + " (" + m.fs_type + " " + m.source + ")");
  }
  REQUIRE_MESSAGE(own, path, " is not the mount point of a tmpfs this test mounted: refusing to mark it");
  // A `watch:` prefix covers every filesystem mounted at or below it, also
  // one hidden under the test's tmpfs (a copy of a host mount, which the
  // daemon would mark from a private namespace): none may be but the
  // test's own tmpfs (a test may stack them, or mount one below another).
  REQUIRE_MESSAGE(others.empty(), "also mounted at or below ", path, ": ", others.empty() ? "" : others.front(),
                  ": refusing to let a test watch it");
}

EnforcerFixture::EnforcerFixture(const std::string& tmpfs_size) : key(*hashdb::generate_keypair()) {
  enter_private_namespace();
  REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
  mnt = dir.file("mnt");
  REQUIRE(::mkdir(mnt.c_str(), 0755) == 0);
  REQUIRE(::mount(kFixtureTmpfs, mnt.c_str(), "tmpfs", MS_NOSUID | MS_NODEV,
                  ("mode=0755,size=" + tmpfs_size).c_str()) == 0);
  require_own_tmpfs(mnt);
  db = dir.file("policy.db");
  config = dir.file("tollgate.yaml");
  events = dir.file("events.jsonl");
  socket = dir.file("tollgate.sock");
  stderr_path = dir.file("tollgated.err");
  fs::copy_file("/bin/true", mnt + "/approved");
  fs::copy_file("/bin/false", mnt + "/unapproved");
  ::chmod((mnt + "/approved").c_str(), 0755);
  ::chmod((mnt + "/unapproved").c_str(), 0755);
}

EnforcerFixture::~EnforcerFixture() {
  stop_daemon();
  ::umount2(mnt.c_str(), MNT_DETACH);
}

void EnforcerFixture::write_config(const std::string& mode, const std::string& extra) {
  std::string watch = mnt;
  for (const auto& m : also_watch) watch += ", " + m;
  write_text(config, "mode: " + mode + "\ndatabase: " + db + "\nevent_log: " + events + "\nsocket: " + socket +
                         "\nwatch: [" + watch + "]\n" + timing + census + must_allow +
                         "state_dir: " + dir.file("state") + "\n" + extra);
}

hashdb::PolicyContent EnforcerFixture::base_rules() {
  hashdb::PolicyContent c;
  c.policy_name = "e2e";
  c.hash_rules.push_back(hash_allow(built_binary("tollgated")));
  c.hash_rules.push_back(hash_allow("/bin/true"));
  return c;
}

void EnforcerFixture::write_db(const hashdb::PolicyContent& content, uint64_t generation, bool sign,
                               const std::string& path) {
  hashdb::WriteOptions opts{.generation = generation};
  if (sign) opts.signing_key = key.private_key;
  auto written = hashdb::write_database(path.empty() ? db : path, content, opts);
  REQUIRE_MESSAGE(written, (written ? "" : written.error().message()));
}

std::string EnforcerFixture::pubkey() {
  std::string path = dir.file("signing.pub");
  write_text(path, key.public_key.pem);
  return path;
}

Result<json> EnforcerFixture::request(const json& r) { return control::control_request(socket, r, 10000); }

json EnforcerFixture::status() {
  auto s = request({{"cmd", "status"}});
  REQUIRE_MESSAGE(s, (s ? "" : s.error().message()));
  return *s;
}

CommandResult EnforcerFixture::cli(std::vector<std::string> args, const std::string& input) {
  args.insert(args.begin(), built_binary("tollgate"));
  args.insert(args.begin() + 2, {"--config", config});
  return run(args, 120, input);
}

void EnforcerFixture::start_daemon(std::vector<std::string> extra_args, const std::vector<std::string>& launcher) {
  require_own_tmpfs(mnt);
  for (const auto& m : also_watch) require_own_tmpfs(m);
  std::vector<std::string> args = launcher;
  for (const auto& a : std::vector<std::string>{built_binary("tollgated"), "--config", config}) args.push_back(a);
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto why = process.start(args, stderr_path, [&] {
    auto reply = request({{"cmd", "status"}});
    return reply && (*reply)["ok"] == true;
  });
  daemon = process.pid();
  if (!why.empty()) FAIL("tollgated " << why);
}

int EnforcerFixture::stop_daemon(int sig) {
  daemon = -1;
  return process.stop(sig);
}

void EnforcerFixture::start_with_base_policy(const std::string& mode, uint64_t generation, const std::string& extra) {
  write_db(base_rules(), generation);
  write_config(mode, extra);
  start_daemon();
}

std::vector<json> EnforcerFixture::read_events(const std::string& type) {
  std::vector<json> out;
  std::istringstream in(read_text(events));
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    if (type.empty() || j["type"] == type) out.push_back(j);
  }
  return out;
}

std::vector<json> EnforcerFixture::wait_events(const std::string& type, size_t n, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  std::vector<json> got;
  while (std::chrono::steady_clock::now() < deadline) {
    got = read_events(type);
    if (got.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return got;
}

bool EnforcerFixture::wait_for_paths(const std::string& type, const std::vector<std::string>& paths, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (true) {
    std::set<std::string> seen;
    for (const auto& e : read_events(type))
      if (e.contains("path") && e["path"].is_string()) seen.insert(e["path"].get<std::string>());
    if (std::ranges::all_of(paths, [&](const std::string& p) { return seen.contains(p); })) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

uint64_t EnforcerFixture::generation() {
  auto s = request({{"cmd", "status"}});
  REQUIRE(s);
  return (*s)["database"]["generation"].get<uint64_t>();
}

}  // namespace tollgate::testing
