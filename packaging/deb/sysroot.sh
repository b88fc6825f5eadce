#!/bin/bash
# sysroot.sh ARCH DIR: a Debian 12 root of ARCH's headers and libraries
# (OpenCV, libjpeg-turbo, libc) to cross-link cgo against. The packages are
# only extracted, never configured, so no emulator is needed. Kept until
# the package list below changes.
set -euo pipefail

arch=${1:?usage: sysroot.sh ARCH DIR}
dir=${2:?usage: sysroot.sh ARCH DIR}
pkgs=libc6-dev,libstdc++-12-dev,libopencv-dev,libturbojpeg0-dev
stamp="$arch $pkgs"

if [ -f "$dir/.lsbroadcast-sysroot" ] && [ "$(cat "$dir/.lsbroadcast-sysroot")" = "$stamp" ]; then
	exit 0
fi
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
echo "sysroot.sh: extracting a Debian 12 $arch sysroot into $dir" >&2
mmdebstrap --quiet --variant=extract --architectures="$arch" --include="$pkgs" \
	--skip=check/empty bookworm "$dir"
# Absolute symlinks (/usr/lib/.../libfoo.so -> /lib/...) would point into
# the build machine; make them relative to the sysroot.
find "$dir" -type l -lname '/*' | while read -r l; do
	t=$(readlink "$l")
	ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$dir$t")" "$l"
done
echo "$stamp" >"$dir/.lsbroadcast-sysroot"
