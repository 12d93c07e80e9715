#!/usr/bin/env bash
# Checks the fleet rollout in contrib/ansible (make -f Makefile.dist ansible-check, CI):
#
#   scripts/ci-ansible.sh build-deb/tollgate_VERSION_ARCH.deb [TOLLGATE_CLI]
#
# 1. ansible-lint (production profile, warnings fail) and
#    ansible-playbook --syntax-check on both playbooks.
# 2. As CI would: a throwaway key pair and a small policy compiled and signed
#    with it (TOLLGATE_CLI, default build/tools/tollgate). Only the database
#    and the public key are handed to the role.
# 3. The role against this machine (-c local, root) with
#    tollgate_service_start=false: it installs the package, the config, the
#    key and the policy and starts nothing (where PID 1 is not systemd it
#    skips every systemd task anyway). Then: a second run changes nothing; a
#    database signed by another key and an older generation are refused and
#    leave the installed ones alone; tollgate_mode=enforce is refused by the
#    readiness check and the mode stays audit.
# 4. The package, /etc/tollgate and the staging directory are removed again.
#
# Refuses to run where tollgate is already set up (/etc/tollgate/tollgate.yaml
# exists), so it never touches a real installation. Any failed check exits
# non-zero with a line saying which.
set -euo pipefail

deb=$(realpath -m "${1:?usage: ci-ansible.sh TOLLGATE.deb [TOLLGATE_CLI]}")
tg=${2:+$(realpath -m "$2")}
cd "$(dirname "$0")/.."
. scripts/ci-common.sh
tg=${tg:-$(realpath -m build/tools/tollgate)}
A=contrib/ansible

fail() { echo "ci-ansible: FAIL: $*" >&2; exit 1; }
step() { echo "ci-ansible: $*"; }

# ---- 1. Lint --------------------------------------------------------------
step "ansible-lint $A"
(cd "$A" && ansible-lint --strict) || fail "ansible-lint found problems (above)"
(cd "$A" && ansible-playbook -i ci/inventory.yml --syntax-check site.yml collect.yml) ||
  fail "ansible-playbook --syntax-check failed"

# ---- 2. What CI builds ----------------------------------------------------
[ "$(id -u)" = 0 ] || fail "running the role needs root"
[ -f "$deb" ] || fail "$deb: no such file"
[ -x "$tg" ] || fail "$tg: no tollgate CLI to compile the policy with"
[ ! -e /etc/tollgate/tollgate.yaml ] ||
  fail "/etc/tollgate/tollgate.yaml exists: tollgate is set up here; this check installs and removes it, so run it elsewhere"
if [ -d /run/systemd/system ] && systemctl is-active --quiet tollgated; then fail "tollgated.service is running here"; fi

work=$(mktemp -d)
created_textfile_dir=
[ -d /var/lib/prometheus/node-exporter ] || created_textfile_dir=1
cleanup() {
  dpkg --purge tollgate >/dev/null 2>&1 || true
  rm -f /etc/tollgate/signing.pub /etc/tollgate/approvals.yaml.lock
  rmdir /etc/tollgate 2>/dev/null || true
  rm -rf /var/lib/tollgate-deploy
  if [ -n "$created_textfile_dir" ]; then rm -rf /var/lib/prometheus/node-exporter; rmdir /var/lib/prometheus 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/secret" "$work/artifacts" "$work/other"
"$tg" keygen --out "$work/secret/signing" >/dev/null
"$tg" compile "$A/ci/policy.yaml" -o "$work/secret/policy.db" --sign-key "$work/secret/signing.key" >/dev/null
cp "$work/secret/policy.db" "$work/artifacts/policy-gen1.db"
# The next release compiles over the previous database: generation 2.
"$tg" compile "$A/ci/policy.yaml" -o "$work/secret/policy.db" --sign-key "$work/secret/signing.key" >/dev/null
cp "$work/secret/policy.db" "$work/artifacts/policy-gen2.db"
cp "$work/secret/signing.pub" "$work/artifacts/signing.pub"
# A database signed by a key the hosts do not trust.
"$tg" keygen --out "$work/other/signing" >/dev/null
"$tg" compile "$A/ci/policy.yaml" -o "$work/other/policy.db" --sign-key "$work/other/signing.key" >/dev/null
cp "$work/other/policy.db" "$work/artifacts/policy-other-key.db"
step "CI artifacts: the package, policy generations 1 and 2 signed, signing.pub (the key stays in CI)"

# ---- 3. The role against this machine -------------------------------------
# Runs site.yml; the recap line of localhost goes to $work/recap.
play() {
  local db=$1; shift
  (cd "$A" && ANSIBLE_NOCOLOR=1 ansible-playbook -i ci/inventory.yml -c local site.yml \
    -e "tollgate_deb=$deb" -e "tollgate_policy_db=$db" -e "tollgate_public_key=$work/artifacts/signing.pub" \
    -e tollgate_service_start=false "$@") > "$work/play.log" 2>&1
  local rc=$?
  grep -E '^localhost +:' "$work/play.log" > "$work/recap" || true
  return $rc
}
show() { echo "---- ansible-playbook output:"; cat "$work/play.log"; echo "----"; }
# The failed task's message, for the log.
refusal() {
  python3 -c 'import json, sys
for line in open(sys.argv[1]):
    if line.startswith("fatal:") and "=> " in line:
        r = json.loads(line.split("=> ", 1)[1])
        print(" ".join(str(r.get(k, "")) for k in ("msg", "stderr")).strip()[:300])
        break' "$work/play.log"
}

step "role run 1: generation 1"
play "$work/artifacts/policy-gen1.db" || { show; fail "the role failed"; }
[ "$(package_status)" = "install ok installed" ] || fail "the package is not installed"
cmp -s /var/lib/tollgate/policy.db "$work/artifacts/policy-gen1.db" || fail "the installed database is not the CI one"
cmp -s /etc/tollgate/signing.pub "$work/artifacts/signing.pub" || fail "the installed public key is not the CI one"
[ ! -e /etc/tollgate/signing.key ] || fail "a signing key reached the host"
/usr/sbin/tollgate db verify /var/lib/tollgate/policy.db --pubkey /etc/tollgate/signing.pub >/dev/null ||
  fail "the installed database does not verify against the installed key"
grep -qx 'mode: audit' /etc/tollgate/tollgate.yaml || fail "the config is not in audit mode"
# The config, key and database work together: the CLI reads all three.
/usr/sbin/tollgate check /usr/bin/true >/dev/null || fail "tollgate check: the CI policy does not allow /usr/bin/true"
if /usr/sbin/tollgate check /usr/bin/false >/dev/null; then fail "tollgate check: /usr/bin/false is allowed"; fi
[ "$(stat -c %a /var/lib/tollgate-deploy)" = 700 ] || fail "the staging directory is not root-only"
[ -d /var/lib/prometheus/node-exporter ] || fail "no node_exporter textfile directory"
grep -qx 'metrics_file: /var/lib/prometheus/node-exporter/tollgate.prom' /etc/tollgate/tollgate.yaml ||
  fail "metrics_file is not set"
[ -z "$(installed_daemons)" ] || fail "the role started tollgated (pid $(installed_daemons))"
if [ -d /run/systemd/system ]; then
  systemctl is-active --quiet tollgated && fail "the role started tollgated.service"
else
  grep -q 'PID 1 is not systemd' "$work/play.log" || { show; fail "the role did not say why it started nothing"; }
fi
step "installed: package, config (audit), key, database generation 1; nothing started ($(cat "$work/recap"))"

step "role run 2: the same artifacts change nothing"
play "$work/artifacts/policy-gen1.db" || { show; fail "the second run failed"; }
grep -q 'changed=0 ' "$work/recap" || { show; fail "the second run changed something: $(cat "$work/recap")"; }

step "role run 3: a database signed by another key is refused"
if play "$work/artifacts/policy-other-key.db"; then show; fail "the role installed a database signed by another key"; fi
grep -q 'failed=1' "$work/recap" || { show; fail "expected one failed task: $(cat "$work/recap")"; }
step "  refused: $(refusal)"
cmp -s /var/lib/tollgate/policy.db "$work/artifacts/policy-gen1.db" || fail "the refused database replaced the installed one"

step "role run 4: generation 2 is installed"
play "$work/artifacts/policy-gen2.db" || { show; fail "the role failed on generation 2"; }
cmp -s /var/lib/tollgate/policy.db "$work/artifacts/policy-gen2.db" || fail "generation 2 was not installed"

step "role run 5: going back to generation 1 is refused"
if play "$work/artifacts/policy-gen1.db"; then show; fail "the role rolled the database back to generation 1"; fi
grep -q 'compile over the previous release' "$work/play.log" || { show; fail "the refusal does not say why"; }
step "  refused: $(refusal)"
cmp -s /var/lib/tollgate/policy.db "$work/artifacts/policy-gen2.db" || fail "the rollback replaced the installed database"

step "role run 6: tollgate_mode=audit on an audit host switches nothing"
play "$work/artifacts/policy-gen2.db" -e tollgate_mode=audit || { show; fail "tollgate_mode=audit failed"; }
grep -A1 'TASK \[tollgate : Switch the mode' "$work/play.log" | grep -q '^skipping' ||
  { show; fail "tollgate_mode=audit ran a switch on an audit host"; }
cmp -s /var/lib/tollgate/policy.db "$work/artifacts/policy-gen2.db" || fail "run 6 changed the installed database"

step "role run 7: tollgate_mode=enforce is refused by the readiness check"
if play "$work/artifacts/policy-gen2.db" -e tollgate_mode=enforce; then
  show; fail "enforce mode was accepted with a policy that denies sshd and the shells"
fi
grep -q 'enforce mode refused' "$work/play.log" || { show; fail "the failure is not the readiness check's refusal"; }
step "  refused: $(refusal)"
grep -qx 'mode: audit' /etc/tollgate/tollgate.yaml || fail "the refused switch changed the config's mode"
[ -z "$(installed_daemons)" ] || fail "tollgated is running"

step "OK"
