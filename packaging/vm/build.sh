#!/bin/bash
# build.sh ARCH VMDIR [DEB]: everything the VM test boots for ARCH (amd64 or
# arm64) under VMDIR/ARCH: Debian's kernel and busybox (fetch.sh), the
# project's binaries for ARCH, and the initramfs holding them with their
# shared libraries (initramfs.sh), with µStreamer beside them on the build
# machine's architecture. Given DEB (the lsbroadcast package for ARCH),
# lsbroadcast is the one the package ships, so the binary tested is the
# binary shipped; else it is cross-built (cross.sh), as vmcam and
# capture/v4l2's test binary (v4l2.test, the controls on vivid) always are.
set -euo pipefail

arch=${1:?usage: build.sh ARCH VMDIR [DEB]}
dir=$(realpath -m "${2:?usage: build.sh ARCH VMDIR [DEB]}")/$arch
deb=${3:-}
here=$(cd "$(dirname "$0")" && pwd)

"$here/fetch.sh" "$arch" "$dir" >/dev/null
[ "$arch" != amd64 ] || "$here/loopback.sh" "$arch" "$dir"
rm -f "$dir/bin/lsbroadcast"
if [ -n "$deb" ]; then
	"$here/cross.sh" "$arch" "$dir/bin" ./packaging/vm/vmcam test:./capture/v4l2
	x=$(mktemp -d)
	trap 'rm -rf "$x"' EXIT
	dpkg-deb -x "$deb" "$x"
	install -m 0755 "$x/usr/bin/lsbroadcast" "$dir/bin/lsbroadcast"
else
	"$here/cross.sh" "$arch" "$dir/bin" ./packaging/vm/vmcam test:./capture/v4l2 ./cmd/lsbroadcast
fi
# µStreamer, for the benchmark, is Debian's build for the build machine.
extra=()
[ "$arch" != "$(dpkg --print-architecture)" ] || extra=(/usr/bin/ustreamer)
"$here/initramfs.sh" "$arch" "$dir" "$dir/initramfs.cpio" "$dir"/bin/* "${extra[@]}"
