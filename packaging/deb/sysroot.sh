#!/bin/bash
# sysroot.sh ARCH DIR: a Debian 12 root of ARCH's headers and libraries
# (OpenCV, Qt 5 for lsview's key filter, libjpeg-turbo, libc) to
# cross-link cgo against. The packages are only extracted, never
# configured, so no emulator is needed. Kept until the package list below
# changes.
set -euo pipefail

arch=${1:?usage: sysroot.sh ARCH DIR}
dir=${2:?usage: sysroot.sh ARCH DIR}
pkgs=libc6-dev,libstdc++-12-dev,libopencv-dev,libturbojpeg0-dev,qtbase5-dev
stamp="$arch $pkgs"
multiarch=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null)

# alternatives makes the links that postinst scripts would have made, and
# that extraction alone leaves out: BLAS and LAPACK, which OpenCV needs.
alternatives() {
	local lib=$dir/usr/lib/$multiarch l
	for l in blas/libblas.so.3 lapack/liblapack.so.3; do
		if [ -e "$lib/$l" ] && [ ! -e "$lib/${l#*/}" ]; then
			ln -s "$l" "$lib/${l#*/}"
		fi
	done
}

if [ -f "$dir/.lsbroadcast-sysroot" ] && [ "$(cat "$dir/.lsbroadcast-sysroot")" = "$stamp" ]; then
	alternatives
	exit 0
fi
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
echo "sysroot.sh: extracting a Debian 12 $arch sysroot into $dir" >&2
# The build machine's Debian mirror, without the security archive: a
# sysroot only needs the libraries' interfaces, and the security mirror's
# per-architecture indexes have been seen mid-sync, failing apt-get update.
uri=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
[ -n "$uri" ] || uri=$(awk '$1 == "deb" && !/security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
if [ -z "$uri" ]; then
	echo "sysroot.sh: no Debian mirror in the build machine's apt sources" >&2
	exit 1
fi
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$uri" "$uri" |
	mmdebstrap --quiet --variant=extract --architectures="$arch" --include="$pkgs" \
		--skip=check/empty bookworm "$dir" -
# Absolute symlinks (/usr/lib/.../libfoo.so -> /lib/...) would point into
# the build machine; make them relative to the sysroot.
find "$dir" -type l -lname '/*' | while read -r l; do
	t=$(readlink "$l")
	ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$dir$t")" "$l"
done
alternatives
echo "$stamp" >"$dir/.lsbroadcast-sysroot"
