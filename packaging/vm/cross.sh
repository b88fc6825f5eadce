#!/bin/bash
# cross.sh ARCH OUTDIR PACKAGE...: builds each command PACKAGE (e.g.
# ./cmd/lsbroadcast) for Debian architecture ARCH (amd64, arm64, armhf)
# into OUTDIR, with cgo. A PACKAGE written test:./capture/v4l2 is built as
# that package's test binary with the vmtest tag (OUTDIR/v4l2.test), for
# the tests that need a real driver in the VM. Other architectures link against the sysroot
# packaging/deb/sysroot.sh extracts (libc, libjpeg-turbo, OpenCV): Debian's
# multiarch -dev packages would do too, but libopencv-dev is not
# Multi-Arch: same, so installing its arm64 build would remove the amd64
# one that native builds need.
set -euo pipefail

arch=${1:?usage: cross.sh ARCH OUTDIR PACKAGE...}
out=$(realpath -m "${2:?usage: cross.sh ARCH OUTDIR PACKAGE...}")
shift 2
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
GO=${GO:-go}

case $arch in
amd64) env=(GOARCH=amd64) triplet=x86_64-linux-gnu ;;
arm64) env=(GOARCH=arm64) triplet=aarch64-linux-gnu ;;
armhf) env=(GOARCH=arm GOARM=7) triplet=arm-linux-gnueabihf ;;
*) echo "cross.sh: unknown architecture $arch (want amd64, arm64 or armhf)" >&2; exit 2 ;;
esac
env+=(CGO_ENABLED=1 GOOS=linux)
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	sysroot=${SYSROOTS:-$HOME/.cache/lsbroadcast-packaging}/sysroot-$arch
	"$top/packaging/deb/sysroot.sh" "$arch" "$sysroot"
	env+=(CC="$triplet-gcc --sysroot=$sysroot" CXX="$triplet-g++ --sysroot=$sysroot"
		PKG_CONFIG_LIBDIR="$sysroot/usr/lib/$triplet/pkgconfig:$sysroot/usr/share/pkgconfig"
		PKG_CONFIG_SYSROOT_DIR="$sysroot")
fi
mkdir -p "$out"
for p in "$@"; do
	case $p in
	test:*)
		p=${p#test:}
		(cd "$top" && env "${env[@]}" "$GO" test -c -tags vmtest -trimpath -o "$out/$(basename "$p").test" "$p")
		;;
	*) (cd "$top" && env "${env[@]}" "$GO" build -trimpath -o "$out/" "$p") ;;
	esac
done
