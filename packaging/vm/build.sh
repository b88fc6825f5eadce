#!/bin/bash
# build.sh ARCH VMDIR: everything the VM test boots for ARCH (amd64 or
# arm64) under VMDIR/ARCH: Debian's kernel and busybox (fetch.sh), the
# project's binaries built for ARCH (cross.sh), and the initramfs holding
# them with their shared libraries (initramfs.sh), with µStreamer
# beside them on the build machine's architecture.
set -euo pipefail

arch=${1:?usage: build.sh ARCH VMDIR}
dir=$(realpath -m "${2:?usage: build.sh ARCH VMDIR}")/$arch
here=$(cd "$(dirname "$0")" && pwd)

"$here/fetch.sh" "$arch" "$dir" >/dev/null
[ "$arch" != amd64 ] || "$here/loopback.sh" "$arch" "$dir"
"$here/cross.sh" "$arch" "$dir/bin" ./packaging/vm/vmcam ./cmd/lsbroadcast
# µStreamer, for the benchmark, is Debian's build for the build machine.
extra=()
[ "$arch" != "$(dpkg --print-architecture)" ] || extra=(/usr/bin/ustreamer)
"$here/initramfs.sh" "$arch" "$dir" "$dir/initramfs.cpio" "$dir"/bin/* "${extra[@]}"
