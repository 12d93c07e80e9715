# Shared by scripts/ci-package.sh and scripts/ci-ansible.sh (sourced).

# PIDs of processes running the installed daemon, /usr/sbin/tollgated. Other
# tollgated processes (tests in private namespaces, run from build trees)
# do not count.
installed_daemons() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/tollgated ] && echo "${p#/proc/}"
  done
  return 0
}

# "install ok installed" when the tollgate package is installed.
package_status() { dpkg-query -W -f='${Status}' tollgate 2>/dev/null || true; }
