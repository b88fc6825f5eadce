# Benchmarks against the peers (cmd/lsbench): lsbroadcast and lsview beside
# GStreamer and ffmpeg in one run. `make bench` calls bench-peers; `make test`
# runs bench-smoke, one short repetition that writes nothing kept, so the
# driver never rots. The loss benchmark creates network namespaces: root.
DEB_DEPS += gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	ffmpeg nftables iproute2 util-linux

TEST_STAGES += bench-smoke

BENCH_REPS ?= 5
BENCH_MEASURE ?= 3s
BENCH_PLOTS ?= packaging/bench-plots

.PHONY: bench-peers bench-smoke

# Writes BENCHMARKS.md and $(BENCH_PLOTS)/*.png; about 20 minutes. The
# V4L2 comparison with µStreamer boots packaging/vm's amd64 VM (vmtest's).
bench-peers: build
	./packaging/vm/build.sh amd64 $(VM_DIR)
	$(GO) run ./cmd/lsbench --bin $(BIN) --out BENCHMARKS.md --plots $(BENCH_PLOTS) \
		--reps $(BENCH_REPS) --measure $(BENCH_MEASURE) --vm-dir $(VM_DIR)

bench-smoke: build
	$(GO) run ./cmd/lsbench --bin $(BIN) --smoke

FUZZ_TARGETS += ./cmd/lsbench:FuzzParseRecord
