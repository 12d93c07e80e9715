// tollgated: the enforcement daemon (fanotify loop lands with issue #4).
#include <cstdio>
#include <cstring>

#include "enforcer/version.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("tollgated %s\n", tollgate::enforcer::version());
      return 0;
    }
  }
  std::fprintf(stderr, "tollgated %s: enforcement is not implemented yet\n", tollgate::enforcer::version());
  return 2;
}
