#!/usr/bin/env bash
# Builds the libFuzzer target with clang and runs it for a bounded time over
# the committed corpus (new findings land in a scratch corpus, not the repo).
#   tests/fuzz/run_fuzz.sh [SECONDS]     (default 60)
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
build=${FUZZ_BUILD:-build-fuzz}
# clang >= 16 is needed for std::expected (Debian 12: apt-get install clang-16 libclang-rt-16-dev).
cxx=clang++
command -v clang++-16 >/dev/null && cxx=clang++-16
CC=${cxx/++/} CXX=$cxx cmake -S . -B "$build" -DTOLLGATE_FUZZ=ON -DTOLLGATE_TESTS=ON >/dev/null
cmake --build "$build" --target manifest_fuzz -j"$(nproc)"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$build/tests/manifest_fuzz" -max_total_time="$secs" -max_len=8192 -timeout=10 "$scratch" tests/fuzz/corpus/manifest
