#!/bin/bash
# Reproduces the run pasted in docs/getting-started.md, safely: everything
# happens inside a private mount namespace on a tmpfs mounted over /srv
# there; tollgated watches only that tmpfs. Needs root. It puts itself in
# the namespace (unshare --mount --uts --propagation private), and in a pid
# namespace of its own (--pid --fork --mount-proc) so the daemon's census
# sees only the demo's processes, and refuses to run otherwise.
#
#   sudo scripts/getting-started-run.sh BUILD_DIR > run.log 2>&1
#   scripts/getting-started-splice.py run.log docs/getting-started.md
#
# (make -f Makefile.dist getting-started does both.)
set -u
BUILD=${1:?usage: getting-started-run.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd) || exit 1
if [ -z "${TOLLGATE_GS_PRIVATE_NS:-}" ]; then
  TOLLGATE_GS_PRIVATE_NS=1 exec timeout 900 unshare --mount --uts --propagation private --pid --fork --mount-proc \
    "$0" "$BUILD"
fi
# PID 1 of the pid namespace unshare made (with its own mount namespace, /proc mounted there).
if [ $$ -ne 1 ]; then
  echo "getting-started-run: not in the private mount and pid namespaces; refusing to mount over /srv" >&2
  exit 1
fi
mount -t tmpfs -o mode=0755,size=256m tollgate-demo /srv || exit 1
hostname vm   # in this UTS namespace only: the recorded events say "vm", not the recording machine's name
D=/srv/demo
mkdir -p -m 0755 $D
step() { printf '\n$ %s\n' "$*"; "$@"; echo "[exit $?]"; }
echo "[recorded $(date -u +%F) on Debian $(cat /etc/debian_version) with $("$BUILD/tools/tollgate" --version)]"

# Relative to the source tree, so the printed command names no path of the
# machine that recorded it.
cd "$(dirname "$BUILD")"
step env DESTDIR=$D cmake --install "$(basename "$BUILD")"
export PATH=$D/usr/local/sbin:$PATH
# make -f Makefile.dist build: PREFIX=/usr/local, the config in /etc/tollgate
# (a plain CMake build would put it in PREFIX/etc/tollgate).
C=$(find $D -path '*/tollgate/tollgate.yaml' | head -1)
[ -n "$C" ] || { echo "getting-started-run: the install put no tollgate/tollgate.yaml under $D" >&2; exit 1; }
E=$(dirname "$C")
echo "[C=$C E=$E]"   # the doc writes these two as \$C and \$E in commands
mkdir -p -m 0755 $D/var/lib/tollgate $D/var/log/tollgate $D/run/tollgate
# The installed default config, pointed into $D and at the /srv tmpfs.
sed -i -e "s|^database: .*|database: $D/var/lib/tollgate/policy.db|" \
       -e "s|^state_dir: .*|state_dir: $D/var/lib/tollgate|" \
       -e "s|^event_log: .*|event_log: $D/var/log/tollgate/events.jsonl|" \
       -e "s|^socket: .*|socket: $D/run/tollgate/tollgate.sock|" \
       -e "s|^watch: .*|watch: [/srv]|" \
       -e "s|^manifest: .*|manifest: $E/policy.yaml|" \
       -e "s|^approvals: .*|approvals: $E/approvals.yaml|" \
       -e "s|^# public_key: .*|public_key: $E/signing.pub|" \
       -e "s|^# signing_key: .*|signing_key: $E/signing.key|" $C
# Never `watch: auto`, even in this namespace: tollgated must mark only the tmpfs.
grep -qx 'watch: \[/srv\]' $C || { echo "getting-started-run: could not point watch: at /srv in $C" >&2; exit 1; }
cat > $E/policy.yaml <<YAML
version: 1
name: demo-server
include:
  - {path: approvals.yaml, optional: true}   # written by tollgate approve
allow:
  - package_manager: dpkg        # everything Debian installed
    label: debian
  - dir: $D/usr/local/sbin       # tollgate and tollgated (make install)
    label: tollgate
YAML
# The server's own software, and something that should not be there.
mkdir -p -m 0755 $D/opt/app/bin $D/usr/local/bin $D/var/www/.cache
printf '#!/bin/sh\necho "report for $(date +%%F) written"\n' > $D/opt/app/bin/report-gen
printf '#!/bin/sh\nexit 0\n' > $D/usr/local/bin/backup.sh
# The "miner" carries what a real one's config does: a stratum URL and XMRig keys.
printf '#!/bin/sh\nexit 0\n# {"donate-level": 1, "pools": [{"url": "stratum+tcp://pool.example:3333"}]}\n' > $D/var/www/.cache/xmrig
chmod 0755 $D/opt/app/bin/report-gen $D/usr/local/bin/backup.sh $D/var/www/.cache/xmrig

step tollgate keygen --out $E/signing
step tollgate compile $E/policy.yaml -o $D/var/lib/tollgate/policy.db --sign-key $E/signing.key --jobs 2

timeout 600 tollgated --config $C --watch /srv 2>$D/tollgated.err &
DAEMON=$!
for i in $(seq 50); do tollgate status --config $C >/dev/null 2>&1 && break; sleep 0.1; done
step tollgate status --config $C

# "A week" of audit, compressed: cron runs the backup, an admin the report,
# the web server user something from a hidden cache directory.
for i in 1 2 3; do sh -c "$D/usr/local/bin/backup.sh"; done
for i in 1 2 3 4 5; do $D/opt/app/bin/report-gen >/dev/null; done
for i in 1 2; do setpriv --reuid=www-data --regid=www-data --clear-groups sh -c "$D/var/www/.cache/xmrig"; done
sleep 1

step tollgate report --config $C --since 7d
step tollgate mode enforce --config $C
step tollgate approve --config $C --from-report --since 7d -o /srv/review.yaml
step cat /srv/review.yaml
step tollgate approve --config $C $D/opt/app/bin/report-gen $D/usr/local/bin/backup.sh --ticket OPS-12
step tollgate check --config $C $D/opt/app/bin/report-gen $D/var/www/.cache/xmrig
step tollgate replay --config $C --db $D/var/lib/tollgate/policy.db --since 7d
step tollgate mode enforce --config $C
step tollgate mode enforce --config $C --force
step $D/opt/app/bin/report-gen
step setpriv --reuid=www-data --regid=www-data --clear-groups sh -c "$D/var/www/.cache/xmrig"
sleep 1
step tollgate log --config $C --denied-only --since 1h
step tollgate status --config $C
step grep -n '^mode:' $C

kill $DAEMON; wait $DAEMON
umount /srv
