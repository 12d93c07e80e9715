#!/bin/bash
# `tollgate trust-debs` against `dpkg-deb --fsys-tarfile PKG.deb | sha256sum`
# on the same package, side by side (docs/performance.md, "Pending trust").
# Both decompress the whole data archive; trust-debs also parses the tar
# stream and hashes every file the dpkg trust source covers. Target: at
# least 0.9 of the baseline's throughput.
#   apt-get download linux-image-6.1.0-28-amd64     # any large package
#   scripts/trust-debs-bench.sh build/tools/tollgate linux-image-6.1.0-28-amd64_*.deb [ROUNDS]
# No daemon is involved: the config points the socket at nothing, so the set
# goes to a throw-away state_dir (one small atomic write).
set -eu
TOLLGATE=${1:?usage: trust-debs-bench.sh TOLLGATE PKG.deb [ROUNDS]}
DEB=${2:?usage: trust-debs-bench.sh TOLLGATE PKG.deb [ROUNDS]}
ROUNDS=${3:-5}
DIR=$(mktemp -d /tmp/tollgate-debs-bench.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
PKG=$(dpkg-deb --field "$DEB" Package)
printf 'version: 1\nallow:\n  - package_manager: dpkg\n    packages: [%s]\n' "$PKG" > "$DIR/policy.yaml"
printf 'manifest: %s\nstate_dir: %s/state\nsocket: %s/none.sock\nevent_log: %s/events.jsonl\npending_trust_ttl: 1s\n' \
  "$DIR/policy.yaml" "$DIR" "$DIR" "$DIR" > "$DIR/tollgate.yaml"
SIZE=$(dpkg-deb --fsys-tarfile "$DEB" | wc -c)
echo "$DEB: package $PKG, data archive $((SIZE / 1048576)) MiB uncompressed"
dpkg-deb --fsys-tarfile "$DEB" > /dev/null  # warm the page cache
best() { sort -n | head -1; }
base=$(for _ in $(seq "$ROUNDS"); do
  /usr/bin/time -f %e bash -c "dpkg-deb --fsys-tarfile '$DEB' | sha256sum > /dev/null" 2>&1
done | best)
ours=$(for _ in $(seq "$ROUNDS"); do
  /usr/bin/time -f %e "$TOLLGATE" trust-debs --config "$DIR/tollgate.yaml" "$DEB" 2>&1 >/dev/null | tail -1
done | best)
echo "dpkg-deb --fsys-tarfile | sha256sum: ${base} s (best of $ROUNDS)"
echo "tollgate trust-debs:                  ${ours} s (best of $ROUNDS)"
awk -v b="$base" -v o="$ours" 'BEGIN { if (o > 0) printf "throughput ratio: %.2f (target >= 0.90)\n", b / o }'
