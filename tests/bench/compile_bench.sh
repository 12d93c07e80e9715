#!/usr/bin/env bash
# Policy compiler benchmark: `tollgate compile` of `dir: TREE` against
#   find TREE -type f -perm /111 -print0 | xargs -0 -P$(nproc) sha256sum
# on the same tree in the same run (page cache warmed first, each side timed
# on its second run), plus the time of a one-file recompile of that policy.
#
#   tests/bench/compile_bench.sh [TREE] [BUILD_DIR]     (defaults: /usr, build)
#
# Prints a Markdown table; the ratio is baseline seconds / compile seconds
# (> 1 means the compiler is faster). Also compares `match: all` with
# `find TREE -type f | xargs sha256sum`, where both hash exactly the same files.
set -euo pipefail
tree=${1:-/usr}
build=${2:-build}
bin="$build/tools/tollgate"
[ -x "$bin" ] || { echo "no $bin; build first" >&2; exit 2; }
jobs=$(nproc)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

baseline_exec() { find "$tree" -type f -perm /111 -print0 | xargs -0 -P"$jobs" sha256sum >/dev/null 2>&1 || true; }
baseline_all() { find "$tree" -type f -print0 | xargs -0 -P"$jobs" sha256sum >/dev/null 2>&1 || true; }
compile() {  # manifest, db
  rm -f "$2"
  "$bin" compile "$1" -o "$2" --json >"$scratch/summary.json"
}

cat >"$scratch/exec.yaml" <<YAML
version: 1
name: bench
include: [{path: approvals.yaml, optional: true}]
allow:
  - dir: $tree
  - file: $scratch/one
YAML
sed -e 's/^  - dir: .*/&\n    match: all/' "$scratch/exec.yaml" >"$scratch/all.yaml"
printf '#!/bin/sh\necho one\n' >"$scratch/one"
chmod +x "$scratch/one"

echo "warming the page cache for $tree ..." >&2
find "$tree" -type f -print0 | xargs -0 -P"$jobs" cat >/dev/null 2>&1 || true
baseline_exec
compile "$scratch/exec.yaml" "$scratch/warm.db"

t0=$(now); baseline_exec; t1=$(now)
b_exec=$(elapsed "$t0" "$t1")
t0=$(now); compile "$scratch/exec.yaml" "$scratch/exec.db"; t1=$(now)
c_exec=$(elapsed "$t0" "$t1")
files_exec=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["files"]["hashed"], j["files"]["bytes_hashed"])' "$scratch/summary.json")
n_base=$(find "$tree" -type f -perm /111 | wc -l)

t0=$(now); baseline_all; t1=$(now)
b_all=$(elapsed "$t0" "$t1")
t0=$(now); compile "$scratch/all.yaml" "$scratch/all.db"; t1=$(now)
c_all=$(elapsed "$t0" "$t1")
files_all=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["files"]["hashed"], j["files"]["bytes_hashed"])' "$scratch/summary.json")

# One-file recompile: one approval added and one pinned file changed.
printf '#!/bin/sh\necho changed\n' >"$scratch/one"
printf 'allow:\n  - sha256: %s\n    label: approved\n' "$(printf x | sha256sum | cut -d' ' -f1)" >"$scratch/approvals.yaml"
t0=$(now); "$bin" compile "$scratch/exec.yaml" -o "$scratch/exec.db" --json >"$scratch/re.json"; t1=$(now)
c_one=$(elapsed "$t0" "$t1")
# CPU seconds (user + sys) of the same recompile once more, which a busy
# machine inflates less than wall time.
cpu_one=$( { TIMEFORMAT='%U %S'; time "$bin" compile "$scratch/exec.yaml" -o "$scratch/exec.db" >/dev/null; } 2>&1 |
  awk '{ printf "%.2f", $1 + $2 }')
re=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["files"]["hashed"], j["files"]["reused"], j["generation"])' "$scratch/re.json")

cat <<TABLE
tree: $tree, $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), tollgate $("$bin" --version | cut -d' ' -f2)

| run | files hashed | bytes hashed | seconds | ratio (baseline / compile) |
|---|---|---|---|---|
| baseline: find -perm /111 \| xargs -P$jobs sha256sum | $n_base | | $b_exec | |
| tollgate compile, dir: (match: executables) | ${files_exec% *} | ${files_exec#* } | $c_exec | $(ratio "$b_exec" "$c_exec") |
| baseline: find -type f \| xargs -P$jobs sha256sum | $(find "$tree" -type f | wc -l) | | $b_all | |
| tollgate compile, dir: (match: all) | ${files_all% *} | ${files_all#* } | $c_all | $(ratio "$b_all" "$c_all") |
| one-file recompile (1 approval + 1 changed file; hashed, reused, generation: $re) | | | $c_one (CPU $cpu_one) | |
TABLE
