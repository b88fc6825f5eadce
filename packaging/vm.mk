# V4L2 capture on real drivers (`make vmtest`, one of the stages of `make
# test`): Debian's kernel under qemu (TCG) with vivid, for x86_64 and
# arm64, running lsbroadcast from the .deb packages. `make pi` cross-builds
# lsbroadcast for the Raspberry Pi (arm64, and armhf with GOARM=7). See
# packaging/vm/.

DEB_DEPS += qemu-system-x86 qemu-system-arm busybox-static cpio kmod binutils \
	dpkg-dev mmdebstrap v4l-utils ustreamer \
	gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf
TEST_STAGES += vmtest

# Kernels, initramfs images and VM builds; git-ignored, kept between runs.
VM_DIR := $(CURDIR)/packaging/out/vm
VM_ARCHES ?= amd64 arm64
PI_OUT := $(BIN)/pi

.PHONY: vmtest pi
# lsbroadcast in the VMs is the one the .deb ships.
vmtest: deps $(addprefix packages-,$(VM_ARCHES))
	@set -e; for a in $(VM_ARCHES); do \
		./packaging/vm/build.sh $$a $(VM_DIR) $(DEB_OUT)/lsbroadcast_$(DEB_VERSION)_$$a.deb; done
	VM_DIR=$(VM_DIR) VM_ARCHES="$(VM_ARCHES)" $(GO) test -tags vmtest -count=1 -v -timeout 15m ./packaging/vm/
	@cat $(VM_DIR)/results.txt

pi: deps
	./packaging/vm/cross.sh arm64 $(PI_OUT)/arm64 ./cmd/lsbroadcast ./cmd/lsbroadcast-cv
	./packaging/vm/cross.sh armhf $(PI_OUT)/armhf ./cmd/lsbroadcast ./cmd/lsbroadcast-cv
	ls -l $(PI_OUT)/*/*

# CPU a frame of capture plus encode against µStreamer in the same amd64
# VM run (a benchmark: figures, no pass/fail).
.PHONY: vmbench
vmbench: deps
	./packaging/vm/build.sh amd64 $(VM_DIR)
	VM_DIR=$(VM_DIR) $(GO) test -tags vmtest -run '^$$' -bench VsUStreamer -benchtime 1x -count=1 -v -timeout 20m ./packaging/vm/
