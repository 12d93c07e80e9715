#!/usr/bin/env bash
# Hashing throughput: `tollgate hash` against `openssl dgst -sha256` on the
# same file, interleaved in one run, medians reported as a ratio.
#
#   tests/bench/hash_bench.sh [BUILD_DIR] [SIZE_MIB] [ROUNDS]
#
# The file is read once first so both tools hash from the page cache: the
# comparison is of hashing code, not of the disk.
set -euo pipefail
BUILD=${1:-build}
SIZE_MIB=${2:-1024}
ROUNDS=${3:-7}
TOLLGATE="$BUILD/tools/tollgate"
[[ -x $TOLLGATE ]] || { echo "hash_bench: $TOLLGATE not built" >&2; exit 2; }

work=$(mktemp -d /tmp/tollgate-hashbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
file="$work/data"
head -c "$((SIZE_MIB << 20))" /dev/urandom > "$file"
cat "$file" > /dev/null

seconds() {  # seconds COMMAND...: wall time of one run, in seconds
  local start end
  start=$(date +%s%N)
  "$@" > /dev/null
  end=$(date +%s%N)
  echo "scale=6; ($end - $start) / 1000000000" | bc
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

ours=() theirs=()
for ((i = 0; i < ROUNDS; i++)); do
  ours+=("$(seconds "$TOLLGATE" hash "$file")")
  theirs+=("$(seconds openssl dgst -sha256 "$file")")
done
m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
mib_ours=$(echo "scale=1; $SIZE_MIB / $m_ours" | bc)
mib_theirs=$(echo "scale=1; $SIZE_MIB / $m_theirs" | bc)
ratio=$(echo "scale=3; $m_theirs / $m_ours" | bc)
echo "file: ${SIZE_MIB} MiB, ${ROUNDS} interleaved rounds, medians"
echo "tollgate hash:       ${m_ours} s  (${mib_ours} MiB/s)"
echo "openssl dgst sha256: ${m_theirs} s  (${mib_theirs} MiB/s)"
echo "throughput ratio tollgate/openssl: ${ratio}  (target >= 0.9)"
