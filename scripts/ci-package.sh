#!/usr/bin/env bash
# Checks a built tollgate .deb (make -f Makefile.dist deb-check / deb-install-check):
#
#   scripts/ci-package.sh [--install] build-deb/tollgate_VERSION_ARCH.deb
#
# Without --install (safe anywhere): the package version matches
# CMakeLists.txt; lintian reports no error and no warning; every man page
# renders without a groff warning; the conffiles, the maintainer scripts, the
# unit's Documentation= targets and the hardening flags are what we ship on
# purpose.
#
# With --install (root; CI's fresh machine; it changes THIS machine): dpkg -i
# (apt-get -f install for missing dependencies), the installed binaries run,
# nothing started tollgated, `systemd-analyze verify` accepts the installed
# unit (its binary and man pages exist), /var/lib/tollgate is root-only, the
# apt hook's `tollgate refresh` is a quiet no-op before setup, a reinstall
# and an upgrade with a changed tollgate.yaml keep the edited one, and purge
# removes the state and the conffiles. The package ends up purged.
#
# Any failed check exits non-zero with a line saying which.
set -euo pipefail

install=0
if [ "${1:-}" = --install ]; then install=1; shift; fi
deb=${1:?usage: ci-package.sh [--install] TOLLGATE.deb}
[ -f "$deb" ] || { echo "ci-package: $deb: no such file" >&2; exit 2; }
deb=$(realpath "$deb")
cd "$(dirname "$0")/.."
. scripts/ci-common.sh

fail() { echo "ci-package: FAIL: $*" >&2; exit 1; }
step() { echo "ci-package: $*"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/root"
dpkg-deb -e "$deb" "$work/control"

# 1. One version: the package, CMakeLists.txt and debian/changelog agree.
cmake_version=$(grep -m1 '^project(tollgate' CMakeLists.txt | grep -o 'VERSION [0-9.]*' | cut -d' ' -f2)
deb_version=$(dpkg-deb -f "$deb" Version)
changelog_version=$(dpkg-parsechangelog -S Version)
[ "$deb_version" = "$cmake_version" ] && [ "$changelog_version" = "$cmake_version" ] ||
  fail "versions differ: CMakeLists.txt $cmake_version, debian/changelog $changelog_version, $deb $deb_version"
for page in tools/man/*.[0-9]; do
  grep -q "^\.TH .*\"tollgate $cmake_version\"" "$page" || fail "$page: its .TH line does not say \"tollgate $cmake_version\""
done
step "version $deb_version (CMakeLists.txt, debian/changelog, the man pages)"

# 2. lintian: no error, no warning (overrides need a reason: debian/*.lintian-overrides).
step "lintian $deb"
lintian --display-level '>=pedantic' --fail-on error,warning --tag-display-limit 0 "$deb" ||
  fail "lintian reported errors or warnings (above)"

# 3. Man pages: no groff/man warning (what lintian's groff-message runs, and groff -ww).
mans=$(find "$work/root/usr/share/man" -type f -name '*.gz' | sort)
[ -n "$mans" ] || fail "no man pages in the package"
for page in $mans; do
  out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
  out+=$(zcat "$page" | groff -ww -z -man -Tutf8 2>&1)
  [ -z "$out" ] || fail "${page#"$work/root"}: $out"
done
step "man pages render without warnings: $(echo "$mans" | sed "s|$work/root||" | tr '\n' ' ')"

# 4. What dpkg treats as configuration, and the maintainer scripts.
expected_conffiles=$(printf '%s\n' /etc/apt/apt.conf.d/80tollgate /etc/tollgate/tollgate.yaml)
[ "$(sort "$work/control/conffiles")" = "$expected_conffiles" ] ||
  fail "conffiles are '$(tr '\n' ' ' < "$work/control/conffiles")', want '$(echo $expected_conffiles)'"
for f in $(cd "$work/root" && find etc -type f); do
  grep -qx "/$f" "$work/control/conffiles" || fail "/$f is under /etc but not a conffile"
done
grep -q 'deb-systemd-helper update-state' "$work/control/postinst" || fail "postinst lacks the deb-systemd-helper snippet"
grep -q 'daemon-reload' "$work/control/postinst" || fail "postinst lacks systemctl daemon-reload"
grep -q 'install -d -m 0700 -o root -g root /var/lib/tollgate' "$work/control/postinst" ||
  fail "postinst does not create /var/lib/tollgate root-only"
grep -q 'deb-systemd-invoke try-restart' "$work/control/postinst" || fail "postinst does not restart a running tollgated on upgrade"
grep -q 'deb-systemd-helper purge' "$work/control/postrm" || fail "postrm lacks deb-systemd-helper purge"
grep -q 'deb-systemd-invoke stop' "$work/control/prerm" || fail "prerm does not stop tollgated on removal"
if grep -Eq 'deb-systemd-invoke (start|restart) |_dh_action=start' "$work/control/postinst"; then
  fail "postinst starts tollgated on install (the admin compiles a policy first)"
fi
if [ -e "$work/control/preinst" ] && grep -q 'deb-systemd-invoke stop' "$work/control/preinst"; then
  fail "preinst stops tollgated before an upgrade (enforcement would stay off if the upgrade fails)"
fi
step "conffiles: $(echo $expected_conffiles); maintainer scripts use deb-systemd-helper, never start the service on install"

# 5. The unit's Documentation= points at man pages the package ships.
unit="$work/root/lib/systemd/system/tollgated.service"
[ -f "$unit" ] || fail "no /lib/systemd/system/tollgated.service"
docs=$(sed -n 's/^Documentation=//p' "$unit")
[ -n "$docs" ] || fail "tollgated.service has no Documentation="
for ref in $docs; do
  case "$ref" in
    man:*\(*\))
      name=${ref#man:}; section=${name##*\(}; section=${section%\)}; name=${name%\(*}
      [ -f "$work/root/usr/share/man/man$section/$name.$section.gz" ] ||
        fail "Documentation=$ref: the package has no usr/share/man/man$section/$name.$section.gz";;
    file://*) [ -e "$work/root${ref#file://}" ] || fail "Documentation=$ref: not in the package";;
    *) fail "Documentation=$ref: not a man: or file: reference";;
  esac
done
step "Documentation= $docs"
for doc in copyright changelog.gz README.Debian docs/configuration.md.gz docs/fleet.md; do
  ls "$work/root/usr/share/doc/tollgate/$doc"* >/dev/null 2>&1 || fail "/usr/share/doc/tollgate/$doc missing"
done

# 6. Hardening (lintian checks fortify, relro and PIE too; this also wants BIND_NOW and the stack protector).
for bin in usr/sbin/tollgate usr/sbin/tollgated; do
  f="$work/root/$bin"
  # (Into variables first: grep -q closing the pipe early would fail readelf under pipefail.)
  headers=$(readelf -hlW "$f"); dynamic=$(readelf -dW "$f"); symbols=$(readelf -sW --dyn-syms "$f")
  grep -q GNU_RELRO <<< "$headers" || fail "$bin: no RELRO"
  grep -q 'DYN (' <<< "$headers" || fail "$bin: not PIE"
  grep -Eq 'BIND_NOW|FLAGS_1.*NOW' <<< "$dynamic" || fail "$bin: no BIND_NOW"
  grep -q '__stack_chk_fail' <<< "$symbols" || fail "$bin: no stack protector"
  grep -Eq '__[a-z]+_chk@' <<< "$symbols" || fail "$bin: no _FORTIFY_SOURCE functions"
done
step "binaries: PIE, RELRO, BIND_NOW, stack protector, fortified"

[ "$install" = 1 ] || { step "OK (not installed: pass --install to install it on this machine)"; exit 0; }

# ---- Installed on this machine ----------------------------------------------
[ "$(id -u)" = 0 ] || fail "--install needs root"
export DEBIAN_FRONTEND=noninteractive
if [ "$(package_status)" = "install ok installed" ]; then
  fail "tollgate is already installed on this machine; this check installs and purges it, so remove it first"
fi

step "dpkg -i $deb"
if ! dpkg -i "$deb"; then
  step "dpkg -i failed; apt-get -f install (missing dependencies)"
  apt-get update -qq
  apt-get -f install -y -qq --no-install-recommends
fi
[ "$(package_status)" = "install ok installed" ] ||
  fail "tollgate is not installed: $(dpkg-query -W -f='${Status}' tollgate 2>&1)"

version_out=$(/usr/sbin/tollgate --version) || fail "/usr/sbin/tollgate --version failed"
[ "$version_out" = "tollgate $deb_version" ] || fail "/usr/sbin/tollgate --version says '$version_out'"
/usr/sbin/tollgated --help >/dev/null || fail "/usr/sbin/tollgated --help failed"
step "$version_out; tollgated --help ok"

[ -z "$(installed_daemons)" ] || fail "installing started tollgated (pid $(installed_daemons))"
if [ -d /run/systemd/system ]; then
  systemctl is-active --quiet tollgated && fail "installing started tollgated.service"
  systemctl is-enabled --quiet tollgated && fail "installing enabled tollgated.service"
fi
step "tollgated neither started nor enabled"

# The installed unit: its binary and its Documentation= man pages exist
# (verify runs `man` for each), no unknown settings, and its sandboxing
# rates an exposure of 2.5 or lower (docs/configuration.md, "systemd").
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (make -f Makefile.dist deb-deps installs it)"
unit=/lib/systemd/system/tollgated.service
verify_out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify tollgated.service: $verify_out"
[ -z "$verify_out" ] || fail "systemd-analyze verify tollgated.service: $verify_out"
security_out=$(systemd-analyze security --offline=yes --threshold=25 "$unit" 2>&1) ||
  fail "tollgated.service is exposed above 2.5: $(grep -F 'Overall exposure' <<< "$security_out")"
step "systemd-analyze verify tollgated.service: clean; $(grep -F 'Overall exposure' <<< "$security_out" | sed 's/^→ //')"

[ "$(stat -c '%a %U %G' /var/lib/tollgate)" = "700 root root" ] ||
  fail "/var/lib/tollgate is $(stat -c '%a %U %G' /var/lib/tollgate), want 700 root root"
refresh_err=$(/usr/sbin/tollgate refresh 2>&1) || fail "tollgate refresh (the apt hook) fails before setup: $refresh_err"
[ ! -e /var/lib/tollgate/policy.db ] || fail "tollgate refresh wrote a policy before setup"
step "/var/lib/tollgate 700 root; apt hook before setup: $refresh_err"

echo "# edited by ci-package.sh" >> /etc/tollgate/tollgate.yaml
dpkg -i "$deb" </dev/null || fail "reinstalling $deb failed"
grep -q '^# edited by ci-package.sh' /etc/tollgate/tollgate.yaml || fail "reinstalling overwrote /etc/tollgate/tollgate.yaml"
step "reinstall kept the edited /etc/tollgate/tollgate.yaml"

# An upgrade whose tollgate.yaml changed (the same package repacked as a
# newer version): non-interactively, as apt runs it with --force-confold,
# dpkg keeps the admin's file and puts the new one beside it.
up="$work/upgrade"
dpkg-deb -R "$deb" "$up"
echo "# changed in the next version" >> "$up/etc/tollgate/tollgate.yaml"
sed -i "s/^Version: .*/Version: ${deb_version}+citest1/" "$up/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip -b "$up" "$work/upgrade.deb" >/dev/null
dpkg -i --force-confdef --force-confold "$work/upgrade.deb" </dev/null || fail "upgrading to ${deb_version}+citest1 failed"
grep -q '^# edited by ci-package.sh' /etc/tollgate/tollgate.yaml || fail "the upgrade overwrote /etc/tollgate/tollgate.yaml"
grep -q '^# changed in the next version' /etc/tollgate/tollgate.yaml.dpkg-dist ||
  fail "the upgrade's tollgate.yaml is not in /etc/tollgate/tollgate.yaml.dpkg-dist"
step "upgrade with a changed conffile kept the edited tollgate.yaml (new one: tollgate.yaml.dpkg-dist)"

dpkg --purge tollgate || fail "dpkg --purge tollgate failed"
for gone in /usr/sbin/tollgated /usr/sbin/tollgate /var/lib/tollgate /etc/tollgate/tollgate.yaml \
  /etc/tollgate/tollgate.yaml.dpkg-dist /etc/apt/apt.conf.d/80tollgate; do
  [ ! -e "$gone" ] || fail "$gone is still there after purge"
done
step "purge removed the binaries, the state and the conffiles"
step "OK"
