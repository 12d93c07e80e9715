#!/usr/bin/env bash
# The README's main job (interim: the compiler and enforcer land in #3/#4).
set -euo pipefail
BUILD=${1:-build}
work=$(mktemp -d /tmp/tollgate-demo.XXXXXX)
"$BUILD/tools/tollgate" keygen --out "$work/signing"
"$BUILD/tools/tollgate" hash /usr/bin/ls /usr/bin/bash
echo "demo files in $work"
