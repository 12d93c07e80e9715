// The end-to-end fixture for tests that run the real tollgated: this test
// process enters a private mount namespace (once), mounts a tmpfs of its own
// in a temp directory there, points every path of a config into that
// directory, and starts the daemon (dies with the test, every wait bounded).
//
//   testing::EnforcerFixture f;
//   f.start_with_base_policy("enforce", 1);
//   CHECK(testing::exec_errno(f.mnt + "/unapproved") == EPERM);
//
// SAFETY (DEVELOPERS.md): `watch:` is only ever the fixture's own tmpfs,
// mounted inside this process's private mount namespace, so a filesystem
// mark placed there cannot reach any filesystem the host uses. The
// constructor checks that the mount is a tmpfs, a mount point, and the
// fixture's own (its source name), before any daemon can start. Tests that
// run the census with kills must also run in a pid namespace of their own
// (census_e2e_test).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "hashdb/keys.h"
#include "hashdb/rules.h"
#include "tests/support/daemon_process.h"
#include "tests/support/temp_dir.h"

namespace tollgate::testing {

// unshare(CLONE_NEWNS) and / made private, once per process.
void enter_private_namespace();

// A hash-allow rule for the file's current content.
hashdb::HashRule hash_allow(const std::string& path);

// The source name of every tmpfs the fixture mounts.
inline constexpr const char* kFixtureTmpfs = "tollgate-test";

// Fails the test unless `path` is a mount point of a tmpfs named
// kFixtureTmpfs, and nothing but such tmpfs is mounted at or below it (a
// `watch:` prefix covers all of that): the only kind of filesystem a test
// may mark.
void require_own_tmpfs(const std::string& path);

struct EnforcerFixture {
  TempDir dir;  // mode 0755, so `nobody` can reach the tmpfs
  std::string mnt;
  std::string db;
  std::string config;
  std::string events;
  std::string socket;
  std::string stderr_path;
  DaemonProcess process;
  pid_t daemon = -1;  // process.pid() while running
  hashdb::KeyPair key;
  // Written into every config; the issue 8 tests clear it to run with the
  // default deadline and on_error.
  std::string timing = "decision_timeout_ms: 5000\n";
  // Off unless a test runs the census (in a pid namespace of its own).
  std::string census = "census_interval_ms: 0\n";
  // None unless a test checks anti-lockout.
  std::string must_allow = "must_allow: []\n";

  // More watch prefixes besides mnt: each a tmpfs the test mounted in its
  // namespace (start_daemon refuses anything else).
  std::vector<std::string> also_watch;

  explicit EnforcerFixture(const std::string& tmpfs_size = "64m");
  ~EnforcerFixture();

  void write_config(const std::string& mode, const std::string& extra = "");
  // Rules every enforcing test needs: the daemon's own binary (anti-lockout
  // always checks it) and the approved binary (/bin/true).
  hashdb::PolicyContent base_rules();
  // Writes `db`, or `path` when given (a candidate for the staged install).
  void write_db(const hashdb::PolicyContent& content, uint64_t generation, bool sign = true,
                const std::string& path = "");
  std::string pubkey();
  Result<nlohmann::json> request(const nlohmann::json& r);
  // {"cmd":"status"}, required to answer.
  nlohmann::json status();
  // The built `tollgate SUBCOMMAND --config CONFIG ARGS...` (args[0] is the
  // subcommand), with `input` on its stdin; bounded at 120 s.
  CommandResult cli(std::vector<std::string> args, const std::string& input = "");
  // Starts tollgated (after `launcher`, e.g. {"/usr/bin/unshare", "-m"}) and
  // waits (bounded) until its socket answers, which means every mark is placed.
  void start_daemon(std::vector<std::string> extra_args = {}, const std::vector<std::string>& launcher = {});
  // SIGTERM (or `sig`), bounded wait, SIGKILL as a last resort. Exit status or -1.
  int stop_daemon(int sig = 15);
  // The base rules at `generation`, then the daemon in `mode`.
  void start_with_base_policy(const std::string& mode, uint64_t generation, const std::string& extra = "");
  std::vector<nlohmann::json> read_events(const std::string& type = "");
  // The event log is written by a background thread: wait (bounded) for `n` lines of `type`.
  std::vector<nlohmann::json> wait_events(const std::string& type, size_t n, int seconds = 10);
  // Waits (bounded) until the event log holds a `type` event for each of `paths`.
  bool wait_for_paths(const std::string& type, const std::vector<std::string>& paths, int seconds = 30);
  uint64_t generation();
};

}  // namespace tollgate::testing
