// IgnoreMarks against a fake kernel: flavour detection, tickets, the bound,
// flushes and the preconditions. The engine's use of it is in engine_test.cc,
// the kernel's in e2e_test.cc (root).
#include "enforcer/ignore_marks.h"

#include <doctest/doctest.h>
#include <errno.h>
#include <sys/fanotify.h>

#include <vector>

using namespace tollgate::enforcer;

namespace {

class FakeKernel final : public InodeMarkApi {
 public:
  unsigned refuse_flags = 0;  // a flag the "kernel" does not know (EINVAL)
  int fail_with = 0;          // every add fails with this errno
  std::vector<std::pair<unsigned, uint64_t>> added;
  int flushes = 0;
  int add_inode_mark(unsigned flags, uint64_t mask, int) override {
    if (flags & refuse_flags) return EINVAL;
    if (fail_with) return fail_with;
    added.emplace_back(flags, mask);
    return 0;
  }
  int flush_inode_marks() override {
    ++flushes;
    return 0;
  }
};

// IgnoreMarks over a FakeKernel, with its metrics.
struct Rig {
  FakeKernel k;
  Metrics m;
  IgnoreMarks marks;
  explicit Rig(uint64_t max_marks = 10) : marks(k, m, {.max_marks = max_marks}) {}
};

}  // namespace

TEST_SUITE("enforcer.ignore_marks") {
  TEST_CASE("the best flavour the kernel takes is used: ignore+evictable, else ignored-mask(+evictable)") {
    struct Case {
      unsigned refuse;
      const char* flavour;
      unsigned flags;
    };
    for (const Case& c : {Case{0, "ignore+evictable", 0x400u | 0x200u},
                          Case{0x400u, "ignored-mask+evictable", FAN_MARK_IGNORED_MASK | 0x200u},
                          Case{0x200u, "ignored-mask", FAN_MARK_IGNORED_MASK}}) {
      CAPTURE(c.flavour);
      Rig rig;
      auto& [k, m, marks] = rig;
      k.refuse_flags = c.refuse;
      CHECK(marks.flavour().empty());
      REQUIRE(marks.add(3, marks.ticket()));
      CHECK(marks.flavour() == c.flavour);
      REQUIRE(k.added.size() == 1);
      CHECK(k.added[0].first == c.flags);
      CHECK((k.added[0].first & FAN_MARK_IGNORED_SURV_MODIFY) == 0);  // a write clears it
      CHECK(k.added[0].second == (FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM));
      CHECK(m.ignore_marks == 1);
    }
  }

  TEST_CASE("a kernel that refuses every flavour turns the marks off, with the reason") {
    Rig rig;
    auto& [k, m, marks] = rig;
    k.refuse_flags = FAN_MARK_IGNORED_MASK | 0x400u;
    CHECK_FALSE(marks.add(3, marks.ticket()));
    CHECK_FALSE(marks.enabled());
    CHECK(marks.disabled_reason().find("refuses inode ignore marks") != std::string::npos);
  }

  TEST_CASE("a refusal for one file (EEXIST, ENOMEM) is counted and does not turn the marks off") {
    Rig rig;
    auto& [k, m, marks] = rig;
    REQUIRE(marks.add(3, marks.ticket()));
    k.fail_with = ENOMEM;
    CHECK_FALSE(marks.add(4, marks.ticket()));
    CHECK(marks.enabled());
    CHECK(m.ignore_mark_failures == 1);
    CHECK(m.ignore_marks == 1);
  }

  TEST_CASE("a flush removes every mark, and a decision that took its ticket before it cannot mark after it") {
    Rig rig;
    auto& [k, m, marks] = rig;
    const uint64_t before = marks.ticket();
    REQUIRE(marks.add(3, before));
    marks.flush("policy change");
    CHECK(k.flushes == 1);
    CHECK(m.ignore_marks == 0);
    CHECK(m.ignore_mark_flushes == 1);
    CHECK_FALSE(marks.add(4, before));  // decided under the old policy
    CHECK(k.added.size() == 1);
    CHECK(marks.add(4, marks.ticket()));
    marks.flush("mode switch");
    marks.flush("again");  // nothing added since: no syscall, but tickets still move
    CHECK(k.flushes == 2);
    CHECK(marks.ticket() == before + 3);
  }

  TEST_CASE("the bound: the mark that would exceed max_marks flushes them all first") {
    Rig rig(2);
    auto& [k, m, marks] = rig;
    REQUIRE(marks.add(3, marks.ticket()));
    REQUIRE(marks.add(4, marks.ticket()));
    CHECK(k.flushes == 0);
    const uint64_t t = marks.ticket();
    REQUIRE(marks.add(5, t));  // its own flush does not make its ticket stale
    CHECK(k.flushes == 1);
    CHECK(m.ignore_marks == 1);
    CHECK(m.ignore_marks_added == 3);
  }

  TEST_CASE("disabled: no mark is ever added, and the ones in place are flushed") {
    Rig rig;
    auto& [k, m, marks] = rig;
    REQUIRE(marks.add(3, marks.ticket()));
    marks.disable("log_allows is on");
    CHECK(k.flushes == 1);
    CHECK_FALSE(marks.enabled());
    CHECK_FALSE(marks.add(4, marks.ticket()));
    CHECK(marks.disabled_reason() == "log_allows is on");
    IgnoreMarks none(k, m, {.max_marks = 0});
    CHECK_FALSE(none.enabled());
    CHECK_FALSE(none.add(3, none.ticket()));
  }

  TEST_CASE("preconditions: log_allows off, a bound above 0, fs.protected_hardlinks = 1") {
    CHECK(ignore_marks_precondition(false, 10, std::string("1\n")).empty());
    CHECK(ignore_marks_precondition(true, 10, std::string("1\n")).starts_with("log_allows is on"));
    CHECK(ignore_marks_precondition(false, 0, std::string("1\n")) == "max_ignore_marks is 0");
    CHECK(ignore_marks_precondition(false, 10, std::string("0\n")).starts_with("fs.protected_hardlinks is 0, not 1"));
    CHECK(ignore_marks_precondition(false, 10, std::nullopt) == "fs.protected_hardlinks cannot be read");
  }
}
