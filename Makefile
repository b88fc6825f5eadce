# lsbroadcast and lsview. `make demo` and `make test` work on a fresh Debian 12
# machine with Go and gcc: they install what else they need with apt-get (as
# root, or with sudo). `make help` lists the targets, one line each.
SHELL := /bin/bash
GO ?= go

# Where things go; all of it is git-ignored.
BIN ?= bin
PKG_OUT := packaging/out
DEB_OUT := $(PKG_OUT)/deb
DEB_VERSION := 0.1.0+git$(shell git rev-list --count HEAD 2>/dev/null || echo 0)
# Kernels, initramfs images and VM builds, kept between runs.
VM_DIR := $(CURDIR)/$(PKG_OUT)/vm
# Sysroots and e2e base images take minutes to make and CI works in a fresh
# clone, so they are kept outside the tree, in the machine's cache.
PKG_CACHE ?= $(HOME)/.cache/lsbroadcast-packaging
export SYSROOTS := $(PKG_CACHE)
export E2E_CACHE := $(PKG_CACHE)

# What `make test` runs, stage by stage, in this order (CI: .ci/run, with
# CI=true, where a test that cannot run fails instead of skipping):
#   build           every command, into $(BIN)/
#   vet             go vet, the VM, e2e and repository checks included
#   tidy            go.mod and go.sum state exactly what is used
#   checks          imports go down; the portable packages build for macOS and
#                   Windows; nothing built is in git (packaging/checks)
#   unit            every package's Go tests
#   fairness        eight viewers share a 20 Mbit/s link fairly, alone on the
#                   machine (TestLadderEightViewers, the tag fairness)
#   fuzz            each of FUZZ_TARGETS for its count of inputs
#   package-checks  the .deb packages (amd64, arm64, armhf), lintian, the
#                   systemd unit's exposure             (packaging/packages.mk)
#   e2e             the .deb on booted Debian under qemu (packaging/packages.mk)
#   vmtest          V4L2 capture on vivid in qemu VMs    (packaging/vm.mk)
#   bench-smoke     one short run of the benchmark driver (packaging/bench.mk)
TEST_STAGES := build vet tidy checks unit fairness fuzz package-checks e2e vmtest bench-smoke

# Fuzz targets as package:FuzzName:inputs, every parser that faces the network
# or the command line. Each runs a count of inputs (about 10 s here), not a
# duration: Go 1.26's fuzz coordinator can fail a duration run with a bare
# "context deadline exceeded" when a worker is still busy as the time ends
# (go.dev/issue/75804, fixed in Go 1.27). FUZZ_TIME=30s (or 1000x) overrides
# every target's budget.
FUZZ_TARGETS := \
	./netio/rtsp:FuzzRequest:800 ./netio/rtsp:FuzzParseTransport:60000 ./netio/rtsp:FuzzHolder:40000 \
	./netio/rtsp:FuzzPacketize:150000 \
	./netio/viewer:FuzzParseRenditions:60000 \
	./netio/chat:FuzzDecode:40000 ./netio/textsafe:FuzzSanitize:30000 \
	./netio/mdns:FuzzParseInterfaces:100000 ./netio/mdns:FuzzParseTXT:100000 \
	./capture:FuzzParseSpec:200000 ./capture:FuzzParseSize:200000 \
	./capture/pattern:FuzzReadStrip:150000 \
	./capture/subproc:FuzzReadFrame:150000 ./capture/subproc:FuzzReadReply:100000 \
	./cmd/lsview:FuzzParseTarget:60000 ./cmd/lsview:FuzzParseKey:60000 \
	./cmd/lsbench:FuzzParseRecord:80000
FUZZ_TIME ?=

# Debian packages, each named once, by what needs it. `make demo` installs
# only DEPS_DEMO; `make deps` (and so every stage of `make test`) all.
# lsbroadcast's JPEG encoder (cgo): all the demo needs.
DEPS_DEMO := pkg-config libturbojpeg0-dev
# GoCV: lsview's window and lsbroadcast's OpenCV capture helper; Qt's
# headers for lsview's key filter on the Qt window Debian's highgui makes.
DEPS_OPENCV := libopencv-dev qtbase5-dev
# With a display and no viewer here yet, the demo shows the stream with
# GStreamer's player: 128 small packages, about 20 s to install on a fresh
# Debian 12 (OpenCV for lsview: 355 packages, over 4 minutes).
DEPS_DEMO_SHOW := gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-x
# The peers the tests and benchmarks play against (GStreamer's are above);
# strace counts the fan-out benchmark's system calls a frame.
DEPS_PEERS := ffmpeg strace
# Network namespaces and packet loss; avahi with its own D-Bus for the mDNS
# interop tests, inside a namespace.
DEPS_NET := iproute2 nftables procps util-linux avahi-daemon avahi-utils dbus
# lsview's window and terminal picker, driven headless (screenshots, keys,
# the clipboard to paste from, a keyboard layout with dead keys: setxkbmap,
# which xvfb pulls in today).
DEPS_GUI := xvfb xdotool imagemagick tmux xclip x11-xkb-utils
# The .deb packages, their checks (lintian, systemd-analyze) and the e2e
# images; cross compilers for the Pi's arm64 and armhf.
DEPS_DEB := dpkg-dev lintian systemd mmdebstrap arch-test e2fsprogs qemu-user-static binfmt-support
DEPS_CROSS := gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf
# The V4L2 VMs: qemu, an initramfs, vivid's tools, µStreamer to compare with.
DEPS_VM := qemu-system-x86 qemu-system-arm busybox-static cpio kmod binutils v4l-utils ustreamer
# The web viewer's tests: real browsers, and fonts for CJK and emoji in
# their screenshots.
DEPS_BROWSER := chromium firefox-esr fonts-noto-cjk fonts-noto-color-emoji
# lsview's window draws text with a chain of outline fonts: after the Go
# font, CJK from fonts-noto-cjk (in DEPS_BROWSER), Arabic, Hebrew and
# common emoji from DejaVu Sans, the rest of emoji from Symbola (Noto Color
# Emoji is bitmaps, which the window's font code can't draw).
DEPS_FONTS := fonts-dejavu-core fonts-symbola
DEPS := $(DEPS_DEMO) $(DEPS_DEMO_SHOW) $(DEPS_OPENCV) $(DEPS_PEERS) $(DEPS_NET) $(DEPS_GUI) $(DEPS_DEB) $(DEPS_CROSS) $(DEPS_VM) $(DEPS_BROWSER) $(DEPS_FONTS)

.PHONY: all help deps build pi vet tidy checks unit fairness relay-test fuzz test demo clean
all: build

help: ## list the targets
	@awk -F':[^#]*## ' '/^[a-z][a-zA-Z0-9_-]*:[^=]*## /{printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "make test runs, in order: $(TEST_STAGES)"

test: $(TEST_STAGES) ## every stage, in order (listed below; what CI runs)

deps: ## install the Debian packages the build and the tests need
	@dups=$$(printf '%s\n' $(DEPS) | sort | uniq -d); \
		if [ -n "$$dups" ]; then echo "Makefile: listed twice in DEPS_*: $$dups" >&2; exit 1; fi
	./packaging/apt-install.sh $(DEPS)

build: deps ## build every command into bin/
	$(GO) build -o $(BIN)/ ./cmd/...

# Cross compiling against sysroots of the Pi's architectures (see
# packaging/vm/cross.sh); the .deb packages are `make packages`.
pi: deps ## cross-build lsbroadcast and its OpenCV helper for the Pi (arm64, armhf)
	./packaging/vm/cross.sh arm64 $(BIN)/pi/arm64 ./cmd/lsbroadcast ./cmd/lsbroadcast-cv
	./packaging/vm/cross.sh armhf $(BIN)/pi/armhf ./cmd/lsbroadcast ./cmd/lsbroadcast-cv
	ls -l $(BIN)/pi/*/*

vet: deps ## go vet every package, the tagged harnesses included
	$(GO) vet -tags 'vmtest e2e checks fairness' ./...

tidy: ## fail if go mod tidy would change go.mod or go.sum
	$(GO) mod tidy -diff

checks: ## the repository's own rules (packaging/checks)
	$(GO) test -tags checks -count=1 ./packaging/checks

unit: deps ## every package's Go tests
	$(GO) test -count=1 -timeout 30m ./...

# Fairness is the slowest viewer's share of the median among eight processes
# on one link: a package's tests beside it on the same cores would be part of
# what it measures, so it runs alone (cmd/lsview/ladder_fair_test.go).
fairness: deps ## the 8-viewer fairness harness alone (issue 14's 0.8 of the median)
	$(GO) test -tags fairness -count=1 -v -run 'TestLadderEightViewers$$' ./cmd/lsview

# Part of unit too; MediaMTX is built from its Go module once, into
# ~/.cache/lsbroadcast-packaging (packaging/testenv/mediamtx.go).
relay-test: deps ## the relay tests alone: lsbroadcast --relay against MediaMTX on loopback
	$(GO) test -count=1 -run 'TestRelay' ./cmd/lsbroadcast ./device ./netio/...

fuzz: deps ## run each fuzz target for its count of inputs (or FUZZ_TIME)
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; n=$(FUZZ_TIME); n=$${n:-$${rest##*:}x}; \
		echo "fuzz $$pkg $$name for $$n"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $$n $$pkg; \
	done

# The demo needs lsbroadcast alone. lsview (OpenCV, hundreds of MB) is built
# only when OpenCV is already here; with a display and no lsview, ffplay or
# gst-launch, GStreamer's player is installed to show the stream; without a
# display packaging/demo.sh prints the URL to open.
demo: ## broadcast the first camera, else the test pattern, on 127.0.0.1 (mDNS off) and show it
	@show=; if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] && ! pkg-config --exists opencv4 2>/dev/null && \
		! command -v ffplay >/dev/null && ! command -v gst-launch-1.0 >/dev/null; then show="$(DEPS_DEMO_SHOW)"; fi; \
		./packaging/apt-install.sh $(DEPS_DEMO) $$show
	$(GO) build -o $(BIN)/ ./cmd/lsbroadcast
	@if pkg-config --exists opencv4; then echo "$(GO) build -o $(BIN)/ ./cmd/lsview"; $(GO) build -o $(BIN)/ ./cmd/lsview; fi
	./packaging/demo.sh $(BIN)

# packaging/out/ stays: its VM kernels and images take long to make again.
clean: ## remove bin/
	rm -rf $(BIN)

include packaging/packages.mk packaging/vm.mk packaging/bench.mk
