#!/usr/bin/env bash
# Tollgate's main job on this machine, in audit mode:
#   1. compile a baseline policy of this host (every dpkg package, verified
#      against dpkg's md5sums, plus /usr/local/bin), signed with a fresh key;
#   2. start tollgated in audit mode on the host's exec-capable mounts;
#   3. run an unapproved copy of a binary from /tmp to show a would-deny;
#   4. show would-deny events as they happen (Ctrl-C to stop).
#
# Audit mode never denies, but every exec waits for tollgated's answer (each
# has a deadline, decision_timeout_ms, after which on_error=allow answers).
# Nothing outside $STATE is written; the daemon is stopped on exit.
#
#   scripts/demo.sh [BUILD_DIR]
#   TOLLGATE_DEMO_SECONDS=60 scripts/demo.sh    # stop by itself after 60 s
set -euo pipefail

BUILD=${1:-build}
STATE=${TOLLGATE_DEMO_STATE:-/var/lib/tollgate-demo}
TOLLGATE="$PWD/$BUILD/tools/tollgate"
TOLLGATED="$PWD/$BUILD/enforcer/tollgated"
if [[ -t 1 ]]; then SECONDS_TO_RUN=${TOLLGATE_DEMO_SECONDS:-0}; else SECONDS_TO_RUN=${TOLLGATE_DEMO_SECONDS:-30}; fi

[[ $(id -u) == 0 ]] || { echo "demo: fanotify needs root; run it with sudo" >&2; exit 6; }
[[ -x $TOLLGATE && -x $TOLLGATED ]] || { echo "demo: build first (make -f Makefile.dist build)" >&2; exit 2; }

mkdir -p "$STATE"
chmod 0700 "$STATE"
config="$STATE/tollgate.yaml"
cat > "$config" <<YAML
# Written by scripts/demo.sh. Every path points into $STATE.
mode: audit
database: $STATE/policy.db
state_dir: $STATE/state
public_key: $STATE/signing.pub
watch: auto
event_log: $STATE/events.jsonl
socket: $STATE/tollgate.sock
on_error: allow
decision_timeout_ms: 2000
manifest: $STATE/policy.yaml
approvals: $STATE/approvals.yaml
signing_key: $STATE/signing.key
YAML
cat > "$STATE/policy.yaml" <<YAML
version: 1
name: baseline-$(hostname)
description: Baseline written by scripts/demo.sh
include:
  - {path: approvals.yaml, optional: true}
allow:
  - package_manager: dpkg
    label: debian
  - dir: /usr/local/bin
  - file: $TOLLGATE
    label: tollgate (this build)
  - file: $TOLLGATED
    label: tollgated (this build)
deny:
  - path_prefix: /tmp/
  - path_prefix: /var/tmp/
  - path_prefix: /dev/shm/
YAML
[[ -f $STATE/signing.key ]] || "$TOLLGATE" keygen --out "$STATE/signing" > /dev/null

echo "== 1. compiling a baseline policy of this host"
"$TOLLGATE" compile "$STATE/policy.yaml" -o "$STATE/policy.db" --sign-key "$STATE/signing.key" | grep -vE '^  ' || true
"$TOLLGATE" db verify "$STATE/policy.db" --pubkey "$STATE/signing.pub"

echo "== 2. starting tollgated in audit mode"
"$TOLLGATED" --config "$config" 2> "$STATE/tollgated.stderr" &
daemon=$!
stop_daemon() {
  kill -TERM "$daemon" 2> /dev/null || true
  wait "$daemon" 2> /dev/null || true
  echo "tollgated stopped; state kept in $STATE"
}
trap stop_daemon EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do
  "$TOLLGATE" status --config "$config" > /dev/null 2>&1 && break
  kill -0 "$daemon" 2> /dev/null || { cat "$STATE/tollgated.stderr" >&2; exit 5; }
  sleep 0.1
done
"$TOLLGATE" status --config "$config"

echo "== 3. running an unapproved program from /tmp (audit mode lets it run)"
demo_bin=$(mktemp /tmp/tollgate-demo-unapproved.XXXXXX)
cp /usr/bin/id "$demo_bin"
chmod 0755 "$demo_bin"
"$demo_bin" -un
rm -f "$demo_bin"

echo "== 4. would-deny events as they happen$([[ $SECONDS_TO_RUN == 0 ]] && echo ' (Ctrl-C to stop)' || echo " (for $SECONDS_TO_RUN s)")"
if [[ $SECONDS_TO_RUN == 0 ]]; then
  "$TOLLGATE" log --config "$config" --follow --denied-only
else
  timeout "$SECONDS_TO_RUN" "$TOLLGATE" log --config "$config" --follow --denied-only || true
  # Unapproved copies run from /tmp (this build too, if the clone is under
  # /tmp) are listed, not flagged: a location is context, not evidence.
  echo "== report (miner suspects first; none here)"
  "$TOLLGATE" report --config "$config" || true
fi
