#!/bin/bash
# initramfs.sh ARCH FETCHDIR OUT [BINARY...]: the VM test's initramfs for
# ARCH (amd64 or arm64) as an uncompressed cpio archive at OUT (a kernel
# under TCG unpacks it faster than it would decompress it). It holds
# busybox, the modules vivid needs (and v4l2loopback's, when
# FETCHDIR/extra holds it), qemu's virtio network driver, and each BINARY
# with the shared libraries it needs and the dynamic loader: the binaries
# tested are the binaries shipped. Libraries of another architecture come
# from the sysroot packaging/deb/sysroot.sh extracts.
set -euo pipefail

arch=${1:?usage: initramfs.sh ARCH FETCHDIR OUT [BINARY...]}
fetch=$(realpath "${2:?usage}")
out=$(realpath -m "${3:?usage}")
shift 3
here=$(cd "$(dirname "$0")" && pwd)
kver=$(cat "$fetch/kernel/.version")
triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_MULTIARCH 2>/dev/null)
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
	libroot=
else
	libroot=${SYSROOTS:-$HOME/.cache/lsbroadcast-packaging}/sysroot-$arch
	"$here/../deb/sysroot.sh" "$arch" "$libroot"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,lib,etc,proc,sys,dev,tmp}
install -m 0755 "$fetch/busybox/bin/busybox" "$stage/bin/busybox"
install -m 0755 "$here/init" "$stage/init"

# Modules in load order, each once; those built into the kernel are
# skipped. vivid makes one webcam-like capture node (/dev/video0) beside
# its output, VBI and metadata nodes, which enumeration must pass over.
modules=(virtio_pci virtio_net vivid)
[ ! -e "$fetch/extra/v4l2loopback.ko" ] || modules+=(videodev)
: >"$stage/etc/modules.load"
declare -A seen
for m in "${modules[@]}"; do
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		rel=${path#"$fetch/kernel"}
		[ -z "${seen[$rel]:-}" ] || continue
		seen[$rel]=1
		install -D -m 0644 "$path" "$stage$rel"
		args=
		case $rel in
		*/vivid.ko) args="n_devs=1" ;;
		esac
		echo "$rel $args" >>"$stage/etc/modules.load"
	done < <(modprobe -d "$fetch/kernel" -S "$kver" --show-depends "$m")
done
# v4l2loopback's node is /dev/video8; with exclusive_caps it is an output
# node until a writer sets it up, then a capture node. Its readers do not
# own the buffers they dequeue: with the default two, the writer overwrites
# a frame while it is being read; eight keep it clear.
if [ -e "$fetch/extra/v4l2loopback.ko" ]; then
	install -D -m 0644 "$fetch/extra/v4l2loopback.ko" "$stage/lib/modules/extra/v4l2loopback.ko"
	echo "/lib/modules/extra/v4l2loopback.ko exclusive_caps=1 max_buffers=8 video_nr=8 card_label=loopback" >>"$stage/etc/modules.load"
fi

# resolve LIB: the path of LIB in the target's library directories.
resolve() {
	local d
	for d in "$libroot/lib/$triplet" "$libroot/usr/lib/$triplet" "$libroot/lib" "$libroot/usr/lib"; do
		if [ -e "$d/$1" ]; then
			echo "$d/$1"
			return
		fi
	done
	echo "initramfs.sh: $1 not found for $arch" >&2
	return 1
}

# copy_closure FILE: FILE's shared libraries, and theirs, into /lib.
copy_closure() {
	local lib path
	for lib in $(objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }'); do
		[ ! -e "$stage/lib/$lib" ] || continue
		path=$(resolve "$lib")
		cp -L "$path" "$stage/lib/$lib"
		copy_closure "$stage/lib/$lib"
	done
}

for bin in "$@"; do
	install -m 0755 "$bin" "$stage/bin/$(basename "$bin")"
	interp=$(readelf -l "$bin" | sed -n "s/.*Requesting program interpreter: \(.*\)]/\1/p")
	if [ -n "$interp" ]; then
		mkdir -p "$stage$(dirname "$interp")"
		cp -L "$libroot$interp" "$stage$interp"
		copy_closure "$bin"
	fi
done

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | LC_ALL=C sort | cpio --quiet -o -H newc) >"$out.tmp"
mv "$out.tmp" "$out"
