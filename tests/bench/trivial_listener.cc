// trivial_listener [--open] MOUNT: the floor of the mechanism. An allow-all
// FAN_OPEN_EXEC_PERM listener (with --open also FAN_OPEN_PERM, the floor for
// `coverage: full`, tests/bench/open_bench.sh) with the daemon's mark type:
// one FAN_MARK_FILESYSTEM mark on the filesystem mounted at MOUNT; read, answer
// FAN_ALLOW, close.
// Prints "ready" on stdout once the mark is placed; exits on SIGTERM/SIGINT.
// Benchmark tool only: run it inside `unshare -m` on a tmpfs mounted there
// (a filesystem mark covers the whole superblock: never a host filesystem).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/fanotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  const bool open = argc == 3 && std::strcmp(argv[1], "--open") == 0;
  if (argc != 2 && !open) {
    std::fprintf(stderr, "usage: trivial_listener [--open] MOUNT\n");
    return 2;
  }
  const char* mount = argv[argc - 1];
  const uint64_t events = FAN_OPEN_EXEC_PERM | (open ? FAN_OPEN_PERM : 0);
  int fan =
      fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NONBLOCK);
  if (fan < 0 || fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, events, AT_FDCWD, mount) != 0) {
    std::fprintf(stderr, "trivial_listener: %s\n", std::strerror(errno));
    return 1;
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  std::printf("ready\n");
  std::fflush(stdout);
  alignas(fanotify_event_metadata) char buf[8192];
  for (;;) {
    pollfd fds[2] = {{fan, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents) break;
    ssize_t n = read(fan, buf, sizeof buf);
    if (n <= 0) continue;
    auto* meta = reinterpret_cast<fanotify_event_metadata*>(buf);
    size_t len = static_cast<size_t>(n);
    while (FAN_EVENT_OK(meta, len)) {
      if (meta->fd >= 0) {
        fanotify_response r{meta->fd, FAN_ALLOW};
        ssize_t w = write(fan, &r, sizeof r);
        (void)w;
        close(meta->fd);
      }
      meta = FAN_EVENT_NEXT(meta, len);
    }
  }
  return 0;
}
