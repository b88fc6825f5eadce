#!/bin/bash
# build.sh ARCH OUTDIR: builds the .deb packages for one Debian architecture
# (amd64, arm64 or armhf) into OUTDIR: lsbroadcast always, lsview on amd64
# and arm64 once cmd/lsview exists.
#
# Packages are assembled with dpkg-deb rather than nfpm: dpkg-shlibdeps
# (which nfpm lacks) derives the exact library dependencies from the
# binary, the tools ship with Debian, and go.mod stays free of a packager's
# dependency tree. Cross builds link against a sysroot of the target
# architecture (sysroot.sh), never against multiarch packages installed on
# the build machine: libopencv-dev is not Multi-Arch: same, so installing
# libopencv-dev:arm64 would remove the amd64 one everybody builds with.
set -euo pipefail

arch=${1:?usage: build.sh ARCH OUTDIR}
out=$(realpath -m "${2:?usage: build.sh ARCH OUTDIR}")
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
pkg=$top/packaging
GO=${GO:-go}
# The package's version, also what lsbroadcast --version and lsview --version
# print (stamped into cmd/internal/version by gobuild).
version=${VERSION:-0.1.0+git$(git -C "$top" rev-list --count HEAD 2>/dev/null || echo 0)}

case $arch in
amd64) goarch=amd64 goarm= triplet=x86_64-linux-gnu cc=x86_64-linux-gnu-gcc ;;
arm64) goarch=arm64 goarm= triplet=aarch64-linux-gnu cc=aarch64-linux-gnu-gcc ;;
armhf) goarch=arm goarm=7 triplet=arm-linux-gnueabihf cc=arm-linux-gnueabihf-gcc ;;
*) echo "build.sh: unknown architecture $arch (want amd64, arm64 or armhf)" >&2; exit 2 ;;
esac
host=$(dpkg --print-architecture)

work=$out/stage-$arch
rm -rf "$work"
mkdir -p "$work" "$out"

# gobuild CMD: the command's binary for $arch in $work/bin.
gobuild() {
	local env=(CGO_ENABLED=1 GOOS=linux GOARCH=$goarch GOARM=$goarm)
	if [ "$arch" != "$host" ]; then
		local sysroot=${SYSROOTS:-$pkg/out}/sysroot-$arch
		"$here/sysroot.sh" "$arch" "$sysroot"
		env+=(CC="$cc --sysroot=$sysroot" CXX="${cc%gcc}g++ --sysroot=$sysroot"
			PKG_CONFIG_LIBDIR="$sysroot/usr/lib/$triplet/pkgconfig:$sysroot/usr/share/pkgconfig"
			PKG_CONFIG_SYSROOT_DIR="$sysroot")
	fi
	(cd "$top" && env "${env[@]}" "$GO" build -trimpath -buildmode=pie \
		-ldflags "-s -w -linkmode=external -extldflags=-Wl,-z,relro,-z,now -X github.com/lsbroadcast/lsbroadcast/cmd/internal/version.release=$version" \
		-o "$work/bin/$1" "./cmd/$1")
}

# needed BINARY: its shared libraries, sorted.
needed() {
	objdump -p "$1" | awk '$1 == "NEEDED" { print $2 }' | sort
}

# depends PKG CMD...: the Depends of PKG, holding the binaries of CMD...,
# from dpkg-shlibdeps. It reads the installed libraries of the build
# machine, so for another architecture it is run on the native builds,
# after checking that both need the same libraries (package names do not
# vary by architecture).
depends() {
	local name=$1 dir=$work/bin
	shift
	if [ "$arch" != "$host" ]; then
		VERSION=$version "$0" "$host" "$out" >/dev/null
		dir=$out/stage-$host/bin
		local c
		for c in "$@"; do
			if ! diff <(needed "$work/bin/$c") <(needed "$dir/$c") >&2; then
				echo "build.sh: $c for $arch needs other libraries than for $host (above)" >&2
				exit 1
			fi
		done
	fi
	local d args=()
	d=$(mktemp -d)
	mkdir "$d/debian"
	printf 'Source: lsbroadcast\n\nPackage: %s\nArchitecture: any\n' "$name" >"$d/debian/control"
	for c in "$@"; do args+=(-e "$dir/$c"); done
	(cd "$d" && dpkg-shlibdeps -O "${args[@]}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
	rm -rf "$d"
}

# docs PKGROOT NAME: the files Debian policy wants in every package (a
# native package: its changelog is changelog.gz).
docs() {
	local doc=$1/usr/share/doc/$2
	install -d "$doc"
	install -m 0644 "$here/copyright" "$doc/copyright"
	printf '%s (%s) unstable; urgency=medium\n\n  * Built from the lsbroadcast repository.\n\n -- lsbroadcast team <team@lsbroadcast.org>  %s\n' \
		"$2" "$version" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}")" |
		gzip -9n >"$doc/changelog.gz"
	chmod 0644 "$doc/changelog.gz"
}

# assemble PKGROOT NAME DEPENDS DESCRIPTION [RECOMMENDS]: control files,
# then the .deb.
assemble() {
	local root=$1 name=$2 deps=$3 desc=$4 recommends=${5:-}
	install -d "$root/DEBIAN"
	{
		echo "Package: $name"
		echo "Version: $version"
		echo "Architecture: $arch"
		echo "Maintainer: lsbroadcast team <team@lsbroadcast.org>"
		echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
		echo "Depends: $deps"
		[ -z "$recommends" ] || echo "Recommends: $recommends"
		echo "Section: video"
		echo "Priority: optional"
		echo "Homepage: https://lsbroadcast.org"
		printf 'Description: %s\n' "$desc"
	} >"$root/DEBIAN/control"
	(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
	find "$root" -path "$root/DEBIAN" -prune -o -type d -exec chmod 0755 {} +
	dpkg-deb --root-owner-group -Zxz --build "$root" "$out/${name}_${version}_${arch}.deb" >/dev/null
	echo "$out/${name}_${version}_${arch}.deb"
}

# lsbroadcast, and lsbroadcast-cv, its OpenCV capture helper, beside it.
gobuild lsbroadcast
gobuild lsbroadcast-cv
r=$work/lsbroadcast
install -D -m 0755 "$work/bin/lsbroadcast" "$r/usr/bin/lsbroadcast"
install -D -m 0755 "$work/bin/lsbroadcast-cv" "$r/usr/bin/lsbroadcast-cv"
install -D -m 0644 "$pkg/systemd/lsbroadcast.service" "$r/lib/systemd/system/lsbroadcast.service"
install -D -m 0644 "$pkg/udev/70-lsbroadcast.rules" "$r/lib/udev/rules.d/70-lsbroadcast.rules"
install -D -m 0644 "$pkg/sysctl/30-lsbroadcast.conf" "$r/usr/lib/sysctl.d/30-lsbroadcast.conf"
install -D -m 0644 "$pkg/etc/lsbroadcast.conf" "$r/etc/lsbroadcast/lsbroadcast.conf"
docs "$r" lsbroadcast
install -m 0644 "$here/README.Debian" "$r/usr/share/doc/lsbroadcast/README.Debian"
install -d "$r/DEBIAN"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$r/DEBIAN/"
echo /etc/lsbroadcast/lsbroadcast.conf >"$r/DEBIAN/conffiles"
assemble "$r" lsbroadcast "adduser, $(depends lsbroadcast lsbroadcast lsbroadcast-cv)" \
	"camera broadcaster over RTSP, started when a camera is plugged in
 lsbroadcast serves a camera (or its test pattern) as RTP/JPEG over RTSP
 at rtsp://HOST:8554/live, with chat and mDNS discovery for lsview.
 .
 udev starts it when a video capture device appears; systemd supervises
 it with a watchdog and keeps it confined." udev

# lsview: a desktop viewer, so not for the Pi's armhf.
if [ "$arch" != armhf ] && compgen -G "$top/cmd/lsview/*.go" >/dev/null; then
	gobuild lsview
	r=$work/lsview
	install -D -m 0755 "$work/bin/lsview" "$r/usr/bin/lsview"
	docs "$r" lsview
	assemble "$r" lsview "$(depends lsview lsview)" \
		"viewer for lsbroadcast streams
 lsview finds lsbroadcast cameras on the local network with mDNS, shows
 the chosen stream in a window and joins its chat."
fi
