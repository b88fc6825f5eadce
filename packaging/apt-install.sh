#!/bin/bash
# apt-install.sh PACKAGE...: installs the Debian packages that are missing,
# as `make deps` and `make demo` need. Services the packages bring
# (avahi-daemon above all) are not started: a policy-rc.d guards the
# install, so nothing speaks on this machine's real network.
set -euo pipefail
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
missing=()
for p in "$@"; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0
echo "installing ${missing[*]}"
guard=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod 755 /usr/sbin/policy-rc.d
	guard=1
fi
rc=0
{ $sudo apt-get update -qq &&
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } || rc=$?
[ -z "$guard" ] || $sudo rm -f /usr/sbin/policy-rc.d
exit $rc
