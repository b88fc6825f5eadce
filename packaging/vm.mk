# V4L2 capture on real drivers: Debian's kernel under qemu (TCG) with vivid,
# for x86_64 and arm64, running lsbroadcast from the .deb packages
# (packaging/packages.mk). See packaging/vm/.

VM_ARCHES ?= amd64 arm64

.PHONY: vmtest
vmtest: deps $(addprefix packages-,$(VM_ARCHES)) ## V4L2 capture and hotplug on vivid in qemu VMs (amd64, arm64)
	@set -e; for a in $(VM_ARCHES); do \
		./packaging/vm/build.sh $$a $(VM_DIR) $(DEB_OUT)/lsbroadcast_$(DEB_VERSION)_$$a.deb; done
	VM_DIR=$(VM_DIR) VM_ARCHES="$(VM_ARCHES)" $(GO) test -tags vmtest -count=1 -v -timeout 15m ./packaging/vm/
	@cat $(VM_DIR)/results.txt
