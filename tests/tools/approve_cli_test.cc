// tollgate approve / revoke / check / approve --from-report against a temp
// config (every path in a temp dir, no daemon running). Runs as root or as
// any user: the config's admin_group is the caller's own group.
#include <doctest/doctest.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/time.h"
#include "hashdb/sha256.h"
#include "hashdb/store.h"
#include "policy/compiler.h"
#include "policy/manifest.h"
#include "tests/support/temp_dir.h"

using namespace tollgate;
using testing::run;

namespace {

std::string tollgate_bin() { return testing::built_binary("tollgate"); }

std::string own_group() {
  group* g = ::getgrgid(::getgid());
  return g ? g->gr_name : "root";
}

std::string hex_of(const std::string& path) {
  auto d = hashdb::sha256_path(path);
  REQUIRE(d);
  return hashdb::to_hex(*d);
}

// Appends to `log` an audit-mode would-deny of `path` (content `sha256`,
// launched by `exe`) a minute ago, as tollgated logs it.
void log_would_deny(const std::string& log, const std::string& path, const std::string& sha256,
                    const std::string& exe = "/usr/bin/bash") {
  nlohmann::json e = {{"ts", format_rfc3339_us(now_us() - 60000000)},
                      {"host", "t"},
                      {"type", "decision"},
                      {"mode", "audit"},
                      {"decision", "allow"},
                      {"would_deny", true},
                      {"rule", "default-deny"},
                      {"path", path},
                      {"sha256", sha256},
                      {"uid", 0},
                      {"exe", exe}};
  std::ofstream(log, std::ios::app) << e.dump() << "\n";
}

// A config whose every path is inside `dir`; the root manifest includes the
// approvals manifest.
struct Site {
  testing::TempDir dir;
  std::string config = dir.file("tollgate.yaml");
  std::string approvals = dir.file("approvals.yaml");
  std::string db = dir.file("policy.db");
  std::string log = dir.file("events.jsonl");

  explicit Site(const std::string& must_allow = "[]") {
    // PID 1's executable must be allowed before `mode enforce` (anti-lockout).
    std::string pid1;
    char buf[4096];
    ssize_t n = ::readlink("/proc/1/exe", buf, sizeof buf - 1);
    if (n > 0) pid1 = "  - file: " + std::string(buf, static_cast<size_t>(n)) + "\n    label: init\n";
    testing::write_text(dir.file("policy.yaml"),
                        "version: 1\nname: test\ninclude:\n  - {path: approvals.yaml, optional: true}\n"
                        "allow:\n  - sha256: " +
                            std::string(64, '0') + "\n    label: placeholder\n" + pid1);
    testing::write_text(config, "# site config\nmode: audit   # start safe\ndatabase: " + db + "\nevent_log: " + log +
                                    "\nsocket: " + dir.file("tollgate.sock") +
                                    "\nmanifest: " + dir.file("policy.yaml") + "\napprovals: " + approvals +
                                    "\nadmin_group: " + own_group() + "\nmust_allow: " + must_allow +
                                    "\nstate_dir: " + dir.file("state") + "\n");
  }
  testing::CommandResult tg(std::vector<std::string> args, const std::string& input = "") const {
    args.insert(args.begin(), {tollgate_bin()});
    args.insert(args.begin() + 2, {"--config", config});
    return run(args, 60, input);
  }
  bool exists(const std::string& path) const {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }
};

}  // namespace

TEST_SUITE("tools.approve") {
  TEST_CASE("approve then check says allowed with the approvals-manifest line") {
    Site site;
    auto before = site.tg({"check", "/usr/bin/true"});
    CHECK(before.exit_code == 3);  // no database yet
    auto r = site.tg({"approve", "/usr/bin/true", "--ticket", "OPS-1", "--expires", "2099-01-01"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    std::string hex = hex_of("/usr/bin/true");
    CHECK(r.out.find("approved " + hex + "  /usr/bin/true  label=true ticket=OPS-1 expires=2099-01-01") !=
          std::string::npos);
    CHECK(r.out.find("tollgated is not running") != std::string::npos);
    auto doc = policy::load_manifest(site.dir.file("policy.yaml"));
    REQUIRE_MESSAGE(doc, doc.error().message());
    auto line = r.out.substr(r.out.find(site.approvals + ":"));
    std::string where = line.substr(0, line.find(')'));

    auto check = site.tg({"check", "/usr/bin/true"});
    CHECK(check.exit_code == 0);
    CHECK(check.out.find("allowed by hash-allow:") != std::string::npos);
    CHECK(check.out.find("(" + where + ")") != std::string::npos);
    CHECK(site.tg({"check", "/usr/bin/false"}).exit_code == 1);

    // A second approval of the same content adds nothing.
    auto again = site.tg({"approve", "/usr/bin/true"});
    CHECK(again.exit_code == 0);
    CHECK(again.out.find("already approved " + hex) != std::string::npos);
    auto store = hashdb::PolicyStore::open(site.db);
    REQUIRE(store);
    CHECK((*store)->generation() == 1);
  }

  TEST_CASE("files an unprivileged user could rewrite, and non-regular files, are refused unless forced") {
    Site site;
    std::string file = site.dir.file("tool");
    testing::write_text(file, "#!/bin/sh\nexit 0\n", 0755);
    ::chmod(file.c_str(), 0777);
    auto refused = site.tg({"approve", file});
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find(file + ": refused: ") != std::string::npos);
    CHECK(refused.err.find("pass --force") != std::string::npos);
    CHECK(refused.err.find("nothing was approved") != std::string::npos);
    CHECK_FALSE(site.exists(site.approvals));
    CHECK_FALSE(site.exists(site.db));

    auto dev = site.tg({"approve", "/dev/null"});
    CHECK(dev.exit_code == 1);
    CHECK(dev.err.find("/dev/null: refused: not a regular file") != std::string::npos);
    auto dir = site.tg({"approve", site.dir.path()});
    CHECK(dir.exit_code == 1);
    CHECK(dir.err.find("pass --recursive") != std::string::npos);
    CHECK_FALSE(site.exists(site.approvals));

    auto forced = site.tg({"approve", file, "--force", "--label", "scratch tool"});
    REQUIRE_MESSAGE(forced.exit_code == 0, forced.err);
    CHECK(forced.out.find("label=scratch tool") != std::string::npos);
    CHECK(site.tg({"check", file}).exit_code == 0);
  }

  TEST_CASE("approve --recursive approves the executables under a directory") {
    Site site;
    ::mkdir(site.dir.file("bin").c_str(), 0755);
    testing::write_text(site.dir.file("bin/a"), "#!/bin/sh\necho a\n", 0755);
    testing::write_text(site.dir.file("bin/b"), "#!/bin/sh\necho b\n", 0755);
    testing::write_text(site.dir.file("bin/readme"), "not executable\n", 0644);
    auto r = site.tg({"approve", "--recursive", "--force", site.dir.file("bin")});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(site.tg({"check", site.dir.file("bin/a"), site.dir.file("bin/b")}).exit_code == 0);
    CHECK(site.tg({"check", site.dir.file("bin/readme")}).exit_code == 1);
  }

  TEST_CASE("approve --sha256 needs a label and pins the hash without an origin") {
    Site site;
    std::string hex = hex_of("/usr/bin/false");
    CHECK(site.tg({"approve", "--sha256", hex}).exit_code == 2);
    CHECK(site.tg({"approve", "--sha256", "12ab", "--label", "x"}).exit_code == 2);
    auto r = site.tg({"approve", "--sha256", hex, "--label", "vendor agent"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("approved " + hex + "  (by hash)  label=vendor agent") != std::string::npos);
    CHECK(site.tg({"check", "/usr/bin/false"}).exit_code == 0);
    CHECK(testing::read_text(site.approvals).find("origin:") == std::string::npos);
  }

  TEST_CASE("revoke removes approvals by path or hash, and refuses unknown targets without changing anything") {
    Site site;
    REQUIRE(site.tg({"approve", "/usr/bin/true", "/usr/bin/false"}).exit_code == 0);
    CHECK(site.tg({"check", "/usr/bin/true", "/usr/bin/false"}).exit_code == 0);
    std::string before = testing::read_text(site.approvals);
    auto unknown = site.tg({"revoke", std::string(64, 'e')});
    CHECK(unknown.exit_code == 1);
    CHECK(unknown.err.find("no approval") != std::string::npos);
    CHECK(testing::read_text(site.approvals) == before);

    auto by_path = site.tg({"revoke", "/usr/bin/true"});
    REQUIRE_MESSAGE(by_path.exit_code == 0, by_path.err);
    CHECK(by_path.out.find("revoked " + hex_of("/usr/bin/true")) != std::string::npos);
    CHECK(site.tg({"check", "/usr/bin/true"}).exit_code == 1);
    CHECK(site.tg({"check", "/usr/bin/false"}).exit_code == 0);
    auto by_hash = site.tg({"revoke", hex_of("/usr/bin/false")});
    REQUIRE_MESSAGE(by_hash.exit_code == 0, by_hash.err);
    CHECK(site.tg({"check", "/usr/bin/false"}).exit_code == 1);
    auto store = hashdb::PolicyStore::open(site.db);
    REQUIRE(store);
    CHECK((*store)->generation() == 3);
  }

  TEST_CASE("two approvals started at the same moment both land") {
    Site site;
    std::vector<std::string> files;
    for (int i = 0; i < 6; ++i) {
      files.push_back(site.dir.file("tool" + std::to_string(i)));
      testing::write_text(files.back(), "#!/bin/sh\necho " + std::to_string(i) + "\n", 0755);
    }
    testing::CommandResult a, b;
    std::thread ta([&] { a = site.tg({"approve", "--force", files[0], files[2], files[4]}); });
    std::thread tb([&] { b = site.tg({"approve", "--force", files[1], files[3], files[5]}); });
    ta.join();
    tb.join();
    CHECK_MESSAGE(a.exit_code == 0, a.err);
    CHECK_MESSAGE(b.exit_code == 0, b.err);
    auto doc = policy::load_manifest(site.dir.file("policy.yaml"));
    REQUIRE_MESSAGE(doc, doc.error().message());
    size_t pinned = 0;
    for (const auto& e : doc->entries) pinned += e.kind == policy::EntryKind::kSha256;
    CHECK(pinned == 7);  // six approvals and the placeholder
    std::vector<std::string> check = {"check"};
    check.insert(check.end(), files.begin(), files.end());
    CHECK(site.tg(check).exit_code == 0);
    auto store = hashdb::PolicyStore::open(site.db);
    REQUIRE(store);
    CHECK((*store)->generation() == 2);
  }

  TEST_CASE("a failed recompile leaves the approvals manifest as it was") {
    Site site;
    REQUIRE(site.tg({"approve", "/usr/bin/true"}).exit_code == 0);
    std::string before = testing::read_text(site.approvals);
    // Break the root manifest: a file entry that does not exist.
    testing::write_text(site.dir.file("policy.yaml"),
                        "version: 1\nname: test\ninclude:\n  - {path: approvals.yaml, optional: true}\n"
                        "allow:\n  - file: " +
                            site.dir.file("missing") + "\n");
    auto r = site.tg({"approve", "/usr/bin/false"});
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("nothing was approved") != std::string::npos);
    CHECK(testing::read_text(site.approvals) == before);
    auto store = hashdb::PolicyStore::open(site.db);
    REQUIRE(store);
    CHECK((*store)->generation() == 1);
  }

  TEST_CASE("an approvals manifest the root manifest does not include is refused, not silently ignored") {
    Site site;
    testing::write_text(site.dir.file("policy.yaml"), "version: 1\nname: test\nallow:\n  - sha256: " +
                                                          std::string(64, '0') + "\n    label: placeholder\n");
    auto r = site.tg({"approve", "/usr/bin/true"});
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("does not include " + site.approvals) != std::string::npos);
    CHECK_FALSE(site.exists(site.approvals));
    CHECK_FALSE(site.exists(site.db));
  }

  TEST_CASE("approve --from-report round trip: the reviewable manifest loads and compiles") {
    Site site;
    std::vector<std::string> files;
    for (const char* name : {"backup", "report-gen", "xmrig"}) {
      files.push_back(site.dir.file(name));
      testing::write_text(files.back(), std::string("#!/bin/sh\necho ") + name + "\n", 0755);
    }
    // The log names them under /opt; the hashes are the real files'. The
    // daemon's content scan found a stratum URL in the miner.
    auto logged = [&](size_t i) { return "/opt/site/bin/" + files[i].substr(files[i].rfind('/') + 1); };
    std::ofstream(site.log)
        << nlohmann::json({{"ts", format_rfc3339_us(now_us() - 90000000)},
                           {"host", "t"},
                           {"type", "scan"},
                           {"sha256", hex_of(files[2])},
                           {"path", logged(2)},
                           {"end", "complete"},
                           {"hits", {{{"signal", "stratum-url"}, {"marker", "stratum+tcp://"}, {"offset", 9}}}}})
               .dump()
        << "\n";
    for (size_t i = 0; i < files.size(); ++i)
      for (size_t n = 0; n <= i; ++n) log_would_deny(site.log, logged(i), hex_of(files[i]), "/usr/sbin/cron");
    auto gen = site.tg({"approve", "--from-report", "--since", "1h", "-o", site.dir.file("review.yaml")});
    REQUIRE_MESSAGE(gen.exit_code == 0, gen.err);
    std::string text = testing::read_text(site.dir.file("review.yaml"));
    CHECK(text.find("# " + logged(1) + ": seen 2 times (would-deny)") != std::string::npos);
    CHECK(text.find("launched by /usr/sbin/cron (2); users root (0) x2") != std::string::npos);
    CHECK(text.find("WARNING: looks like a miner (score 80): contains 'stratum+tcp://' at byte 9; name matches known "
                    "miner 'xmrig'") != std::string::npos);
    // The suspect first, then most frequent first.
    CHECK(text.find(logged(2)) < text.find(logged(1)));
    CHECK(text.find(logged(1)) < text.find(logged(0)));

    auto manifest = policy::load_manifest(site.dir.file("review.yaml"));
    REQUIRE_MESSAGE(manifest, manifest.error().message());
    REQUIRE(manifest->entries.size() == 2);  // the miner stays commented out
    auto summary = policy::compile_policy(
        {.manifest_path = site.dir.file("review.yaml"), .output_path = site.dir.file("review.db")});
    REQUIRE_MESSAGE(summary, summary.error().message());
    auto r =
        run({tollgate_bin(), "check", "--config", site.config, "--db", site.dir.file("review.db"), files[0], files[1]});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("review.yaml:") != std::string::npos);
    CHECK(run({tollgate_bin(), "check", "--config", site.config, "--db", site.dir.file("review.db"), files[2]})
              .exit_code == 1);

    // Interactive: answers piped on stdin pick the entries.
    auto picked =
        site.tg({"approve", "--from-report", "--since", "1h", "--interactive", "-o", site.dir.file("picked.yaml")},
                "n\ny\nn\n");
    REQUIRE_MESSAGE(picked.exit_code == 0, picked.err);
    auto chosen = policy::load_manifest(site.dir.file("picked.yaml"));
    REQUIRE_MESSAGE(chosen, chosen.error().message());
    REQUIRE(chosen->entries.size() == 1);
    CHECK(chosen->entries[0].origin == logged(1));

    // Interactive without -o approves straight into the approvals manifest.
    auto landed = site.tg({"approve", "--from-report", "--since", "1h", "--interactive"}, "n\nn\ny\n");
    REQUIRE_MESSAGE(landed.exit_code == 0, landed.err);
    CHECK(landed.out.find("approved " + hex_of(files[0])) != std::string::npos);
    CHECK(site.tg({"check", files[0]}).exit_code == 0);
    CHECK(site.tg({"check", files[1]}).exit_code == 1);
  }
}

namespace {
std::vector<nlohmann::json> mode_events(const std::string& log) {
  std::vector<nlohmann::json> out;
  std::ifstream in(log);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j["type"] == "mode") out.push_back(j);
  }
  return out;
}
}  // namespace

TEST_SUITE("tools.mode") {
  TEST_CASE("mode enforce refuses on a would-deny in history and succeeds after approval") {
    Site site;
    std::string tool = site.dir.file("nightly-job");
    testing::write_text(tool, "#!/bin/sh\nexit 0\n", 0755);
    REQUIRE(site.tg({"approve", "/usr/bin/true"}).exit_code == 0);  // creates the database
    log_would_deny(site.log, tool, hex_of(tool));
    log_would_deny(site.log, "/usr/bin/true", hex_of("/usr/bin/true"));

    auto refused = site.tg({"mode", "enforce"});
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.find("Enforce mode refused: 1 binaries") != std::string::npos);
    CHECK(refused.out.find("  " + tool + "\n") != std::string::npos);
    CHECK(refused.out.find("/usr/bin/true") == std::string::npos);
    CHECK(testing::read_text(site.config).find("mode: audit   # start safe\n") != std::string::npos);
    CHECK(mode_events(site.log).empty());

    REQUIRE(site.tg({"approve", "--force", tool}).exit_code == 0);
    auto ok = site.tg({"mode", "enforce"});
    REQUIRE_MESSAGE(ok.exit_code == 0, ok.err);
    CHECK(ok.out.find("nothing would be denied") != std::string::npos);
    CHECK(ok.out.find("mode audit -> enforce by ") != std::string::npos);
    CHECK(ok.out.find("tollgated is not running") != std::string::npos);
    std::string config = testing::read_text(site.config);
    CHECK(config.find("# site config\nmode: enforce   # start safe\ndatabase: ") == 0);
    auto events = mode_events(site.log);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["from"] == "audit");
    CHECK(events[0]["to"] == "enforce");
    CHECK(events[0]["forced"] == false);

    auto back = site.tg({"mode", "audit"});
    CHECK(back.exit_code == 0);
    CHECK(testing::read_text(site.config).find("mode: audit   # start safe\n") != std::string::npos);
    CHECK(mode_events(site.log).size() == 2);
  }

  TEST_CASE("mode enforce --force overrides the history check and records that it was forced") {
    Site site;
    std::string tool = site.dir.file("legacy");
    testing::write_text(tool, "#!/bin/sh\nexit 0\n", 0755);
    REQUIRE(site.tg({"approve", "/usr/bin/true"}).exit_code == 0);
    log_would_deny(site.log, tool, hex_of(tool));
    auto forced = site.tg({"mode", "enforce", "--force"});
    REQUIRE_MESSAGE(forced.exit_code == 0, forced.err);
    CHECK(forced.out.find("Forced: 1 binaries from the recent history will be denied") != std::string::npos);
    auto events = mode_events(site.log);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["forced"] == true);
  }

  TEST_CASE("the lockout check cannot be forced") {
    Site site("[/usr/bin/false]");
    REQUIRE(site.tg({"approve", "/usr/bin/true"}).exit_code == 0);
    for (auto args : {std::vector<std::string>{"mode", "enforce"}, {"mode", "enforce", "--force"}}) {
      auto r = site.tg(args);
      CHECK(r.exit_code == 1);
      CHECK(r.err.find("would deny /usr/bin/false (default-deny)") != std::string::npos);
      CHECK(r.err.find("--force cannot override") != std::string::npos);
    }
    CHECK(testing::read_text(site.config).find("mode: audit") != std::string::npos);
    CHECK(mode_events(site.log).empty());
  }
}

TEST_SUITE("tools.mode") {
  TEST_CASE("a FIFO or a symlink at a logged path neither hangs mode enforce nor lends its target's signature") {
    Site site;
    auto keygen = run({tollgate_bin(), "keygen", "--out", site.dir.file("release")});
    REQUIRE_MESSAGE(keygen.exit_code == 0, keygen.err);
    std::string manifest = testing::read_text(site.dir.file("policy.yaml"));
    testing::write_text(site.dir.file("policy.yaml"), manifest + "  - signer: release.pub\n");
    REQUIRE(site.tg({"approve", "/usr/bin/true"}).exit_code == 0);  // creates the database, with the signer
    std::string real = site.dir.file("real-tool");
    testing::write_text(real, "#!/bin/sh\nexit 0\n", 0755);
    auto sign = run({tollgate_bin(), "sign", real, "--key", site.dir.file("release.key"), "--sidecar"});
    REQUIRE_MESSAGE(sign.exit_code == 0, sign.err);
    std::string fifo = site.dir.file("fifo-tool"), link = site.dir.file("link-tool");
    REQUIRE(::mkfifo(fifo.c_str(), 0755) == 0);
    REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
    // The signed file itself is allowed by its signature...
    log_would_deny(site.log, real, hex_of(real));
    auto alone = site.tg({"replay", "--since", "1h"});
    CHECK_MESSAGE(alone.exit_code == 0, alone.out << alone.err);
    // ...the same content recorded at a symlink is not (the link is never
    // followed), and a FIFO there is never opened (a blocking open would hang).
    log_would_deny(site.log, link, hex_of(real));
    log_would_deny(site.log, fifo, std::string(64, 'f'));
    auto refused = site.tg({"mode", "enforce"});
    CHECK(refused.exit_code == 1);  // not 124: nothing hung
    CHECK(refused.out.find("Enforce mode refused: 2 binaries") != std::string::npos);
    CHECK(refused.out.find("  " + link + "\n") != std::string::npos);
    CHECK(refused.out.find("  " + fifo + "\n") != std::string::npos);
    CHECK(refused.out.find("  " + real + "\n") == std::string::npos);
    auto check = site.tg({"check", fifo});
    CHECK(check.exit_code == 4);
    CHECK(check.err.find(fifo + ": not a regular file (a FIFO)") != std::string::npos);
  }

  TEST_CASE("a FIFO or a symlink at the event log path is refused with a clear error, without hanging") {
    Site site;
    REQUIRE(site.tg({"approve", "/usr/bin/true"}).exit_code == 0);
    REQUIRE(::mkfifo(site.log.c_str(), 0640) == 0);
    for (auto args : {std::vector<std::string>{"mode", "enforce"}, {"report"}, {"log"}, {"log", "--follow"}}) {
      CAPTURE(args[0]);
      auto r = site.tg(args);
      CHECK(r.exit_code == 4);
      CHECK(r.err.find(site.log + ": not a regular file (a FIFO)") != std::string::npos);
    }
    ::unlink(site.log.c_str());
    testing::write_text(site.dir.file("elsewhere"), "");
    REQUIRE(::symlink(site.dir.file("elsewhere").c_str(), site.log.c_str()) == 0);
    auto followed = site.tg({"log", "--log", site.log});
    CHECK(followed.exit_code == 4);
    CHECK(followed.err.find(site.log + ": is a symbolic link (refusing to follow it)") != std::string::npos);
    // With the daemon down, `mode` appends the mode event itself: never through the link.
    auto audit = site.tg({"mode", "audit"});
    CHECK(audit.exit_code == 0);
    CHECK(audit.err.find("could not record the switch: " + site.log + ": is a symbolic link") != std::string::npos);
    CHECK(testing::read_text(site.dir.file("elsewhere")).empty());
  }
}

TEST_SUITE("tools.refresh") {
  TEST_CASE("refresh recompiles the configured manifest; --pre without a daemon changes nothing") {
    Site site;
    ::mkdir(site.dir.file("bin").c_str(), 0755);
    std::string tool = site.dir.file("bin/tool");
    testing::write_text(tool, "#!/bin/sh\necho v1\n", 0755);
    std::string manifest = testing::read_text(site.dir.file("policy.yaml"));
    testing::write_text(site.dir.file("policy.yaml"), manifest + "  - dir: " + site.dir.file("bin") +
                                                          "\n    allow_writable: true\n    reason: test fixture\n");
    auto first = site.tg({"refresh"});
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    CHECK(first.out.find("generation 1") != std::string::npos);
    // Everything the first install trusts is new.
    const std::string v1 = hex_of(tool);
    CHECK(first.out.find("  + sha256 " + v1 + " " + tool + "\n") != std::string::npos);
    CHECK(first.out.find("  + sha256 " + std::string(64, '0') + " (by hash) (label placeholder)\n") !=
          std::string::npos);
    CHECK(site.tg({"check", tool}).exit_code == 0);
    // An "upgrade" changes the file: denied until the next refresh.
    testing::write_text(tool, "#!/bin/sh\necho v2\n", 0755);
    CHECK(site.tg({"check", tool}).exit_code == 1);
    auto pre = site.tg({"refresh", "--pre"});
    CHECK(pre.exit_code == 0);
    CHECK(pre.out.empty());
    auto second = site.tg({"refresh", "--syslog"});
    REQUIRE_MESSAGE(second.exit_code == 0, second.err);
    CHECK(second.out.find("generation 2") != std::string::npos);
    // Exactly the upgraded file's new hash, not what was trusted before.
    CHECK(second.out.find("tollgate: newly trusted: 1 rule\n  + sha256 " + hex_of(tool) + " " + tool + "\n") !=
          std::string::npos);
    CHECK(second.out.find(v1) == std::string::npos);
    CHECK(site.tg({"check", tool}).exit_code == 0);
    auto unchanged = site.tg({"refresh"});
    REQUIRE_MESSAGE(unchanged.exit_code == 0, unchanged.err);
    CHECK(unchanged.out.find("tollgate: newly trusted: 0 rules\n") != std::string::npos);
    // A file someone drops into the directory later is hashed but not
    // trusted without the entry's allow_writable: listed by the compile,
    // absent from the newly trusted rules.
    testing::write_text(site.dir.file("policy.yaml"), manifest + "  - dir: " + site.dir.file("bin") + "\n");
    testing::write_text(site.dir.file("bin/dropped"), "#!/bin/sh\necho dropped\n", 0755);
    auto dropped = site.tg({"refresh"});
    REQUIRE_MESSAGE(dropped.exit_code == 0, dropped.err);
    CHECK(dropped.out.find("tollgate: newly trusted: 0 rules\n") != std::string::npos);
    CHECK(dropped.out.find("tollgate: NOT trusted (an unprivileged user could have placed or changed them): 2\n") !=
          std::string::npos);
    CHECK(dropped.out.find("  - " + site.dir.file("bin/dropped") + ": ") != std::string::npos);
    CHECK(site.tg({"check", site.dir.file("bin/dropped")}).exit_code == 1);
    auto unconfigured = run({tollgate_bin(), "refresh", "--config", site.dir.file("missing.yaml")});
    CHECK(unconfigured.exit_code != 0);  // an explicit --config must exist
  }

  TEST_CASE("refresh without a manifest (package default, fleet host) leaves the installed policy alone, exit 0") {
    Site site;
    auto first = site.tg({"refresh"});
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    std::string before = testing::read_text(site.db);
    ::unlink(site.dir.file("policy.yaml").c_str());
    ::unlink((site.approvals + ".lock").c_str());
    auto second = site.tg({"refresh"});
    CHECK(second.exit_code == 0);
    CHECK(second.err.find("no manifest at " + site.dir.file("policy.yaml")) != std::string::npos);
    CHECK(testing::read_text(site.db) == before);
    CHECK_FALSE(site.exists(site.approvals + ".lock"));
    // Anything else wrong with the manifest is still an error.
    testing::write_text(site.dir.file("policy.yaml"), "version: 1\nname: [broken\n");
    auto broken = site.tg({"refresh"});
    CHECK(broken.exit_code == 4);
    CHECK(testing::read_text(site.db) == before);
  }
}
