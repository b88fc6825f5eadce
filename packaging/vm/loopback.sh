#!/bin/bash
# loopback.sh ARCH DIR: builds v4l2loopback (Debian's v4l2loopback-dkms
# source) against the headers of the kernel fetch.sh unpacked into DIR,
# into DIR/extra/v4l2loopback.ko. It is the real V4L2 device that offers
# MJPEG to capture: vivid offers raw formats only. amd64 only for now: an
# arm64 build needs the headers cross-built with the build machine's kbuild.
set -euo pipefail

arch=${1:?usage: loopback.sh ARCH DIR}
dir=$(realpath "${2:?usage: loopback.sh ARCH DIR}")
kver=$(cat "$dir/kernel/.version")
[ ! -e "$dir/extra/v4l2loopback.ko" ] || [ "$(cat "$dir/extra/.version" 2>/dev/null)" != "$kver" ] || exit 0
apt=$dir/apt
aptx() {
	"$@" -q -o APT::Architecture="$arch" -o APT::Architectures="$arch" \
		-o Dir::State="$apt/state" -o Dir::State::status="$apt/status" \
		-o Dir::Cache="$apt/cache" -o Dir::Etc::SourceList="$apt/sources.list" \
		-o Dir::Etc::SourceParts="$apt/empty" -o Debug::NoLocking=1 -o APT::Sandbox::User=root
}
debs=$dir/debs/loopback
rm -rf "$debs" "$dir/headers" "$dir/extra"
mkdir -p "$debs" "$dir/headers" "$dir/extra"
kbuild=$(aptx apt-cache depends "linux-headers-$kver" | awk '/Depends: linux-kbuild-/ { print $2; exit }')
(cd "$debs" && aptx apt-get download "linux-headers-$kver" "linux-headers-${kver%-*}-common" "$kbuild" v4l2loopback-dkms >&2)
for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$dir/headers"; done
# The headers point at their common half and at kbuild with absolute
# links; make them relative to the unpacked tree.
find "$dir/headers" -type l -lname '/*' | while read -r l; do
	ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$dir/headers$(readlink "$l")")" "$l"
done
# So does the Makefile, with an include.
sed -i "s#^include /usr/src/#include $dir/headers/usr/src/#" "$dir/headers/usr/src/linux-headers-$kver/Makefile"
src=$(echo "$dir"/headers/usr/src/v4l2loopback-*)
make -s -C "$dir/headers/usr/src/linux-headers-$kver" M="$src" modules >&2
cp "$src/v4l2loopback.ko" "$dir/extra/v4l2loopback.ko"
echo "$kver" >"$dir/extra/.version"
