#!/bin/bash
# fetch.sh ARCH DIR: Debian 12's kernel and busybox-static for ARCH
# (amd64 or arm64), downloaded with apt into DIR/debs and unpacked into
# DIR/kernel and DIR/busybox. A private apt configuration lists ARCH's
# packages, so the build machine needs no foreign architecture. Kept until
# Debian publishes another kernel.
set -euo pipefail

arch=${1:?usage: fetch.sh ARCH DIR}
dir=$(realpath -m "${2:?usage: fetch.sh ARCH DIR}")
apt=$dir/apt
mkdir -p "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/empty" "$dir/debs"
touch "$apt/status"

# The build machine's Debian mirror, bookworm and its updates: the point
# releases carry the kernels.
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
[ -n "$uri" ] || uri=$(awk '$1 == "deb" && !/security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$uri" ] || { echo "fetch.sh: no Debian mirror in the build machine's apt sources" >&2; exit 1; }
printf 'deb [arch=%s signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm main\ndeb [arch=%s signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm-updates main\n' \
	"$arch" "$uri" "$arch" "$uri" >"$apt/sources.list"

aptx() {
	"$@" -q -o APT::Architecture="$arch" -o APT::Architectures="$arch" \
		-o Dir::State="$apt/state" -o Dir::State::status="$apt/status" \
		-o Dir::Cache="$apt/cache" -o Dir::Etc::SourceList="$apt/sources.list" \
		-o Dir::Etc::SourceParts="$apt/empty" -o Dir::Etc::Preferences="$apt/empty" \
		-o Dir::Etc::PreferencesParts="$apt/empty" -o Debug::NoLocking=1 -o APT::Sandbox::User=root
}

# Lists are refreshed at most once a day: the kernel changes rarely.
if [ -z "$(find "$apt/state/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null)" ]; then
	aptx apt-get update >&2
fi
kpkg=$(aptx apt-cache depends "linux-image-$arch" | awk '/Depends: linux-image-/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "fetch.sh: no kernel for $arch in the package lists" >&2; exit 1; }
kver=${kpkg#linux-image-}

if [ ! -f "$dir/kernel/.version" ] || [ "$(cat "$dir/kernel/.version")" != "$kver" ]; then
	(cd "$dir/debs" && rm -f linux-image-*.deb && aptx apt-get download "$kpkg" >&2)
	rm -rf "$dir/kernel"
	mkdir -p "$dir/kernel"
	dpkg-deb -x "$dir"/debs/linux-image-*.deb "$dir/kernel"
	# The package leaves modules.dep to its postinst; make it here.
	depmod -b "$dir/kernel" "$kver"
	echo "$kver" >"$dir/kernel/.version"
fi
if [ ! -x "$dir/busybox/bin/busybox" ]; then
	(cd "$dir/debs" && rm -f busybox-static_*.deb && aptx apt-get download busybox-static >&2)
	rm -rf "$dir/busybox"
	dpkg-deb -x "$dir"/debs/busybox-static_*.deb "$dir/busybox"
fi
echo "$kver"
