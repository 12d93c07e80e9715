#!/bin/bash
# Reproduces the run pasted in docs/getting-started.md, safely: everything
# happens inside a private mount namespace (unshare -m) on a tmpfs mounted
# over /srv there; tollgated marks only that tmpfs. Needs root.
#
#   sudo unshare -m --propagation private scripts/getting-started-run.sh BUILD_DIR > run.log 2>&1
set -u
BUILD=${1:?usage: getting-started-run.sh BUILD_DIR}
[ "$(cat /proc/self/mountinfo | wc -l)" -gt 0 ] || exit 1
mount -t tmpfs -o mode=0755,size=256m tollgate-demo /srv || exit 1
D=/srv/demo
mkdir -p -m 0755 $D
step() { printf '\n$ %s\n' "$*"; "$@"; echo "[exit $?]"; }

step env DESTDIR=$D cmake --install "$BUILD"
export PATH=$D/usr/local/sbin:$PATH
E=$D/usr/local/etc/tollgate   # PREFIX=/usr/local: the config lands in PREFIX/etc
C=$E/tollgate.yaml
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
printf '#!/bin/sh\nexit 0\n# mining pool: pool.example:3333\n' > $D/var/www/.cache/xmrig
chmod 0755 $D/opt/app/bin/report-gen $D/usr/local/bin/backup.sh $D/var/www/.cache/xmrig

step tollgate keygen --out $E/signing
step tollgate compile $E/policy.yaml -o $D/var/lib/tollgate/policy.db --sign-key $E/signing.key --jobs 2

timeout 600 tollgated --config $C 2>$D/tollgated.err &
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
