#!/bin/bash
# Synthetic event log (N decision lines over 500 binaries) and the time and
# peak RSS of `tollgate report` over it. docs/performance.md, "Report".
#   scripts/report-bench.sh build/tools/tollgate 500000
set -eu
TOLLGATE=${1:?usage: report-bench.sh TOLLGATE [LINES]}
N=${2:-500000}
LOG=$(mktemp /tmp/tollgate-report-bench.XXXXXX)
trap 'rm -f "$LOG"' EXIT
python3 - "$LOG" "$N" <<'PY'
import json, hashlib, random, sys
random.seed(1)
path, n = sys.argv[1], int(sys.argv[2])
bins = [("/opt/app/bin/tool%d" % i, hashlib.sha256(str(i).encode()).hexdigest()) for i in range(500)]
with open(path, "w") as f:
    for k in range(n):
        p, h = random.choice(bins)
        ts = "2026-11-%02dT%02d:%02d:%02d.%06dZ" % (24 + k * 7 // n, (k // 3600) % 24, (k // 60) % 60, k % 60, k % 1000000)
        f.write(json.dumps({"ts": ts, "host": "web1", "type": "decision", "mode": "audit", "decision": "allow",
                            "would_deny": True, "rule": "default-deny",
                            "reason": "no rule approves it (audit mode: allowed and logged)", "source": "",
                            "path": p, "sha256": h, "size": 8400312, "event": "exec", "pid": 4242 + k,
                            "ppid": 4100, "uid": random.choice([0, 33, 1000]),
                            "exe": random.choice(["/usr/bin/bash", "/usr/sbin/cron", "/usr/bin/dash"]),
                            "comm": "bash", "latency_us": 812}, separators=(",", ":")) + "\n")
PY
ls -l "$LOG"
/usr/bin/time -f "report: %e s wall, %M KiB max RSS" "$TOLLGATE" report --since all --json --log "$LOG" >/dev/null
