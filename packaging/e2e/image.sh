#!/bin/bash
# image.sh ARCH DEB OUTDIR [boot]: a Debian 12 root filesystem for ARCH with
# lsbroadcast's .deb installed by dpkg, in OUTDIR/ARCH/. With "boot" it is
# made bootable (systemd, udev, the distribution kernel and its initrd,
# the e2e agent) as OUTDIR/ARCH/root.img plus vmlinuz and initrd.img; else
# it stays a directory, OUTDIR/ARCH/root, for running under qemu-user.
#
# The slow part, mmdebstrap of the system and the package's dependencies,
# is cached as CACHE/base-ARCH-HASH.tar, HASH covering everything that goes
# into it; CACHE is $E2E_CACHE, else OUTDIR/cache. Needs root (chroot, file
# ownership in the image).
set -euo pipefail

arch=${1:?usage: image.sh ARCH DEB OUTDIR [boot]}
deb=$(realpath "${2:?usage: image.sh ARCH DEB OUTDIR [boot]}")
out=$(realpath -m "${3:?usage: image.sh ARCH DEB OUTDIR [boot]}")
boot=${4:-}
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
	echo "image.sh: needs root (chroot and root-owned files in the image)" >&2
	exit 1
fi
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	# Foreign maintainer scripts run under qemu-user through binfmt_misc.
	[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	update-binfmts --enable >/dev/null 2>&1 || true
fi

# The package's dependencies, names only: apt picks the versions.
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -E 's/\(.*\)//; s/\|.*//; s/[[:space:]]//g' | grep -v '^$' | sort | paste -sd,)
base=systemd,systemd-sysv,udev,kmod,iproute2
if [ "$boot" = boot ]; then
	case $arch in
	amd64) base+=,linux-image-amd64,initramfs-tools ;;
	arm64) base+=,linux-image-arm64,initramfs-tools ;;
	*) echo "image.sh: no bootable image for $arch" >&2; exit 2 ;;
	esac
fi
# Bump recipe when the mmdebstrap call below changes; the test set-up after
# it is redone on every run and needs no new base.
recipe=1
key=$(printf '%s\n' "$arch" "$base" "$deps" "$recipe" | sha256sum | cut -c1-16)
cachedir=${E2E_CACHE:-$out/cache}
cache=$cachedir/base-$arch-$key.tar
mkdir -p "$cachedir"
if [ ! -s "$cache" ]; then
	echo "image.sh: mmdebstrap Debian 12 $arch ($base + the package's dependencies) into $cache" >&2
	rm -f "$cachedir"/base-"$arch"-*.tar
	# A small initrd of just what qemu's disk needs is made faster and
	# boots faster than Debian's "most"; documentation is left out.
	mmdebstrap --quiet --format=tar --variant=minbase --architectures="$arch" --include="$base,$deps" \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
		--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"
			echo MODULES=list >"$1/etc/initramfs-tools/conf.d/e2e.conf"
			printf "virtio_pci\nvirtio_blk\next4\n" >"$1/usr/share/initramfs-tools/modules.d/e2e"' \
		--customize-hook='rm -f "$1"/etc/machine-id; echo uninitialized >"$1"/etc/machine-id' \
		bookworm "$cache.part"
	mv "$cache.part" "$cache"
fi

dir=$out/$arch/root
rm -rf "$out/$arch"
mkdir -p "$dir"
tar -C "$dir" -xf "$cache"
cp "$deb" "$dir/tmp/lsbroadcast.deb"
chroot "$dir" dpkg -i /tmp/lsbroadcast.deb >"$out/$arch/dpkg.log" 2>&1 || {
	cat "$out/$arch/dpkg.log" >&2
	exit 1
}
rm "$dir/tmp/lsbroadcast.deb"
[ "$boot" = boot ] || exit 0

install -m 0755 "$here/guest/e2e-agent" "$dir/usr/local/sbin/e2e-agent"
install -m 0644 "$here/guest/e2e-agent.service" "$dir/etc/systemd/system/e2e-agent.service"
install -m 0644 "$here/guest/10-e2e.network" "$dir/etc/systemd/network/10-e2e.network"
wants=$dir/etc/systemd/system/multi-user.target.wants
mkdir -p "$wants"
ln -sf /etc/systemd/system/e2e-agent.service "$wants/e2e-agent.service"
ln -sf /lib/systemd/system/systemd-networkd.service "$wants/systemd-networkd.service"
echo lsb-e2e >"$dir/etc/hostname"
# Under TCG every instruction is emulated: a camera at 30 fps in its
# native size outruns the guest, so the test asks for what it can carry.
# Editing the conffile also lets the test see it kept across a reinstall.
# The camera is named: under auto, a camera slow to open at start (OpenCV
# loading under emulation) is passed over for the test pattern for good,
# while a named one that fails to open fails the start and systemd retries.
printf '\n# e2e: what an emulated machine can carry\nsource = v4l2:/dev/video0\nfps = 5\nsize = 320x240\n' >>"$dir/etc/lsbroadcast/lsbroadcast.conf"
# The camera: vivid with one video capture node, as a simple webcam has
# (its default also makes output, VBI, radio, SDR, metadata and touch nodes).
echo "options vivid n_devs=1 node_types=0x1" >"$dir/etc/modprobe.d/vivid.conf"
cp "$deb" "$dir/root/lsbroadcast.deb"
: >"$dir/etc/fstab"
cp "$(ls "$dir"/boot/vmlinuz-* | head -1)" "$out/$arch/vmlinuz"
cp "$(ls "$dir"/boot/initrd.img-* | head -1)" "$out/$arch/initrd.img"
size=$(($(du -sm "$dir" | cut -f1) + 384))
mkfs.ext4 -q -F -L root -d "$dir" "$out/$arch/root.img" "${size}M"
rm -rf "$dir"
echo "$out/$arch/root.img"
