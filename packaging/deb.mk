# Debian packages (`make packages`) and their proof on booted systems
# (`make e2e`, one of the stages of `make test`). See packaging/deb/build.sh
# and packaging/e2e/.

DEB_DEPS += dpkg-dev lintian mmdebstrap arch-test e2fsprogs systemd \
	qemu-system-x86 qemu-system-arm qemu-user-static binfmt-support \
	gcc-aarch64-linux-gnu g++-aarch64-linux-gnu gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf
TEST_STAGES += package-checks e2e

PKG_OUT := packaging/out
# Sysroots and e2e base images take minutes to make and CI works in a fresh
# clone, so they are kept outside the tree, in the machine's cache.
PKG_CACHE ?= $(HOME)/.cache/lsbroadcast-packaging
export SYSROOTS := $(PKG_CACHE)
export E2E_CACHE := $(PKG_CACHE)
DEB_OUT := $(PKG_OUT)/deb
DEB_VERSION := 0.1.0+git$(shell git rev-list --count HEAD 2>/dev/null || echo 0)
DEB_ARCHES := amd64 arm64 armhf
UNIT := packaging/systemd/lsbroadcast.service

.PHONY: packages packages-amd64 packages-arm64 packages-armhf package-checks e2e
# `make packages` builds every package and checks it.
packages: package-checks

# A static pattern rule: make skips implicit rules for phony targets.
$(addprefix packages-,$(DEB_ARCHES)): packages-%: deps
	rm -f $(DEB_OUT)/*_$*.deb
	VERSION=$(DEB_VERSION) GO=$(GO) ./packaging/deb/build.sh $* $(DEB_OUT)

# lintian: no errors (warnings are printed); the unit: verify clean and an
# exposure of at most 2.5 (systemd-analyze prints tenths: 25).
package-checks: deps $(addprefix packages-,$(DEB_ARCHES))
	@set -e; for d in $(DEB_OUT)/*.deb; do \
		echo "lintian $$d"; lintian --fail-on error $$d; \
		ls -l $$d; \
	done
	set -o pipefail; systemd-analyze security --offline=true --threshold=25 --no-pager $(UNIT) | tail -1

e2e: deps packages-amd64 packages-arm64
	./packaging/e2e/image.sh amd64 $(DEB_OUT)/lsbroadcast_$(DEB_VERSION)_amd64.deb $(PKG_OUT)/e2e boot
	./packaging/e2e/image.sh arm64 $(DEB_OUT)/lsbroadcast_$(DEB_VERSION)_arm64.deb $(PKG_OUT)/e2e
	E2E_DIR=$(CURDIR)/$(PKG_OUT)/e2e $(GO) test -tags e2e -count=1 -v -timeout 20m ./packaging/e2e/
