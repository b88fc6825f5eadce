# lsbroadcast and lsview. `make demo` and `make test` work on a fresh Debian 12
# machine with Go and gcc: they install what else they need.
SHELL := /bin/bash
GO ?= go
BIN ?= bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages that `make deps` installs when missing; fragments add theirs.
# Services they bring (avahi-daemon above all) are not started: a policy-rc.d
# guards the install, so nothing speaks on this machine's real network.
DEB_DEPS := pkg-config libopencv-dev libturbojpeg0-dev \
	ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	iproute2 nftables procps
# Stages `make test` runs after the Go tests; fragments add theirs.
TEST_STAGES :=
# Fuzz targets as package:FuzzName, each run for FUZZ_TIME by `make test`.
FUZZ_TARGETS := ./netio/rtsp:FuzzRequest ./capture:FuzzParseSpec ./capture:FuzzParseSize ./capture/pattern:FuzzReadStrip ./capture/subproc:FuzzReadFrame
FUZZ_TIME ?= 10s

include $(sort $(wildcard packaging/*.mk))

.PHONY: all deps build vet unit fuzz test demo bench clean
all: build

deps:
	@missing=""; for p in $(DEB_DEPS); do \
		dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null | grep -qx installed || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		guard=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' | $(SUDO) tee /usr/sbin/policy-rc.d >/dev/null && \
			$(SUDO) chmod 755 /usr/sbin/policy-rc.d && guard=1; \
		fi; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		rc=$$?; [ -z "$$guard" ] || $(SUDO) rm -f /usr/sbin/policy-rc.d; exit $$rc; \
	fi

build: deps
	$(GO) build -o $(BIN)/ ./cmd/...

vet: deps
	$(GO) vet ./...

unit: deps
	$(GO) test -count=1 -timeout 30m ./...

fuzz: deps
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZ_TIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZ_TIME) $$pkg; \
	done

test: build vet unit fuzz $(TEST_STAGES)

# Broadcasts the first usable camera, else the test pattern, on loopback
# with discovery off, and shows it.
demo: build
	./packaging/demo.sh $(BIN)

bench: build bench-peers
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./... | tee $(BIN)/bench.txt

clean:
	rm -rf $(BIN)
