# Benchmarks: the Go benchmarks, and lsbroadcast and lsview beside GStreamer,
# ffmpeg and µStreamer in one run (cmd/lsbench), which writes BENCHMARKS.md.
# The loss benchmark creates network namespaces: root.

BENCH_REPS ?= 5
BENCH_MEASURE ?= 3s
BENCH_PLOTS ?= packaging/bench-plots

.PHONY: bench bench-peers bench-smoke vmbench
bench: build bench-peers ## the Go benchmarks, then bench-peers
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./... | tee $(BIN)/bench.txt

# About 20 minutes. The V4L2 comparison with µStreamer boots the amd64 VM
# of packaging/vm.
bench-peers: build ## BENCHMARKS.md and its plots: us against the peers (about 20 min)
	./packaging/vm/build.sh amd64 $(VM_DIR)
	$(GO) run ./cmd/lsbench --bin $(BIN) --out BENCHMARKS.md --plots $(BENCH_PLOTS) \
		--reps $(BENCH_REPS) --measure $(BENCH_MEASURE) --vm-dir $(VM_DIR)

bench-smoke: build ## one short repetition of bench-peers that keeps nothing, so the driver never rots
	$(GO) run ./cmd/lsbench --bin $(BIN) --smoke

# CPU a frame of capture plus encode against µStreamer in one amd64 VM run:
# figures, no pass/fail.
vmbench: deps ## capture+encode CPU against µStreamer on vivid in the amd64 VM
	./packaging/vm/build.sh amd64 $(VM_DIR)
	VM_DIR=$(VM_DIR) $(GO) test -tags vmtest -run '^$$' -bench VsUStreamer -benchtime 1x -count=1 -v -timeout 20m ./packaging/vm/
