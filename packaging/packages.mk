# The .deb packages: built (packages, packages-ARCH), checked
# (package-checks) and proven on booted Debian systems (e2e). See
# packaging/deb/ and packaging/e2e/.

DEB_ARCHES := amd64 arm64 armhf
UNIT := packaging/systemd/lsbroadcast.service

.PHONY: packages $(addprefix packages-,$(DEB_ARCHES)) package-checks e2e
packages: package-checks ## build and check every .deb (one architecture: make packages-arm64)

# A static pattern rule: make skips implicit rules for phony targets.
$(addprefix packages-,$(DEB_ARCHES)): packages-%: deps
	rm -f $(DEB_OUT)/*_$*.deb
	VERSION=$(DEB_VERSION) GO=$(GO) ./packaging/deb/build.sh $* $(DEB_OUT)

# lintian: no errors (warnings are printed); the unit: verify clean and an
# exposure of at most 2.5 (systemd-analyze prints tenths: 25).
package-checks: deps $(addprefix packages-,$(DEB_ARCHES)) ## build the .deb packages; lintian and the unit's exposure
	@set -e; for d in $(DEB_OUT)/*.deb; do \
		echo "lintian $$d"; lintian --fail-on error $$d; \
		ls -l $$d; \
	done
	set -o pipefail; systemd-analyze security --offline=true --threshold=25 --no-pager $(UNIT) | tail -1

e2e: deps packages-amd64 packages-arm64 ## the .deb on booted Debian (amd64 under qemu, arm64 in a chroot)
	./packaging/e2e/image.sh amd64 $(DEB_OUT)/lsbroadcast_$(DEB_VERSION)_amd64.deb $(PKG_OUT)/e2e boot
	./packaging/e2e/image.sh arm64 $(DEB_OUT)/lsbroadcast_$(DEB_VERSION)_arm64.deb $(PKG_OUT)/e2e
	E2E_DIR=$(CURDIR)/$(PKG_OUT)/e2e $(GO) test -tags e2e -count=1 -v -timeout 20m ./packaging/e2e/
