package main

import (
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"

	"github.com/lsbroadcast/lsbroadcast/capture/encode"
)

func TestStatMedianMinMax(t *testing.T) {
	r := newResults()
	k := key{"fanout", ours, "4"}
	for _, v := range []float64{5, 1, 4, 2, 3} {
		r.add(k, sample{"x": v})
	}
	if got := r.stat(k, "x"); got != (spread{med: 3, lo: 1, hi: 5, n: 5}) {
		t.Errorf("odd count: %+v", got)
	}
	r.add(k, sample{"x": 10})
	if got := r.stat(k, "x"); got.med != 3.5 || got.hi != 10 || got.n != 6 {
		t.Errorf("even count: %+v", got)
	}
	if got := r.stat(k, "missing"); got.n != 0 {
		t.Errorf("missing metric: %+v", got)
	}
}

// packets cuts a scene frame into RTP/JPEG packets as both senders do.
func packets(t *testing.T, ts uint32) []*rtp.Packet {
	t.Helper()
	c, err := encode.NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	j, err := c.Encode(newScene(320, 240, 1).raw(0), 80)
	if err != nil {
		t.Fatal(err)
	}
	enc := &rtpmjpeg.Encoder{PayloadMaxSize: 1400 - 12 - 8}
	if err := enc.Init(); err != nil {
		t.Fatal(err)
	}
	pkts, err := enc.Encode(j)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) < 3 {
		t.Fatalf("want a frame of several packets, got %d", len(pkts))
	}
	for _, p := range pkts {
		p.Timestamp = ts
	}
	return pkts
}

func TestFarmReaderCountsCompleteAndIncompleteFrames(t *testing.T) {
	r, err := newFarmReader()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range packets(t, 1000) {
		r.push(p)
	}
	// The second picture loses a middle packet: seen, never complete.
	second := packets(t, 4000)
	for i, p := range second {
		if i != len(second)/2 {
			r.push(p)
		}
	}
	for _, p := range packets(t, 7000) {
		r.push(p)
	}
	if got := r.frames.Load(); got != 2 {
		t.Errorf("complete frames = %d, want 2", got)
	}
	if got := r.incomplete.Load(); got != 1 {
		t.Errorf("incomplete frames = %d, want 1", got)
	}
}

func TestParseRecord(t *testing.T) {
	seq, at, ok := parseRecord("42 1700000000123456789")
	if !ok || seq != 42 || !at.Equal(time.Unix(0, 1700000000123456789)) {
		t.Errorf("got %d %v %v", seq, at, ok)
	}
	for _, bad := range []string{"", "x 1", "1", "1 y"} {
		if _, _, ok := parseRecord(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add("42 1700000000123456789")
	f.Add("-1 -1")
	f.Fuzz(func(t *testing.T, line string) {
		parseRecord(line) // must not panic on whatever a farm prints
	})
}

func TestPacketsPerFrame(t *testing.T) {
	for n, want := range map[int]int{1: 1, 1380: 1, 1381: 2, 93945: 69} {
		if got := packetsPerFrame(n); got != want {
			t.Errorf("packetsPerFrame(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestParseVMBench reads the lines `go test -bench VsUStreamer` prints,
// one per repetition, and passes over everything else.
func TestParseVMBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/lsbroadcast/lsbroadcast/packaging/vm
BenchmarkVsUStreamer-2   	       1	84123456789 ns/op	        24.10 ms-cpu/frame-lsb-640x480	        32.50 ms-cpu/frame-ustreamer-640x480	         0.7415 ratio-640x480	        40.00 ms-cpu/frame-lsb-1280x720	        61.00 ms-cpu/frame-ustreamer-1280x720	         0.6557 ratio-1280x720
    bench_test.go:89: 640x480 YUYV: capture/v4l2 24.1 ms CPU a frame at 25.0 fps; µStreamer 32.5 ms at 25 fps; ratio 0.74
BenchmarkVsUStreamer-2   	       1	84000000000 ns/op	        25.00 ms-cpu/frame-lsb-640x480	         0 ms-cpu/frame-ustreamer-640x480
PASS
`
	reps := parseVMBench(out)
	if len(reps) != 1 {
		t.Fatalf("%d repetitions, want 1 (the second has no µStreamer figure): %v", len(reps), reps)
	}
	if c := reps[0]["640x480"]; c != [2]float64{24.1, 32.5} {
		t.Errorf("640x480: %v", c)
	}
	if c := reps[0]["1280x720"]; c != [2]float64{40, 61} {
		t.Errorf("1280x720: %v", c)
	}
}

func TestParseStraceTotal(t *testing.T) {
	table := `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 61.32    0.101232          12      8123           sendmmsg
 38.68    0.063851           3     17012      1204 futex
------ ----------- ----------- --------- --------- ----------------
100.00    0.165083           6     25135      1204 total
`
	n, secs, err := parseStraceTotal(table, 3)
	if err != nil || n != 25135 || secs != 3 {
		t.Errorf("got %d calls in %v s, %v; want 25135 in 3 s", n, secs, err)
	}
	if _, _, err := parseStraceTotal("strace: attach: ptrace(PTRACE_SEIZE, 1): Operation not permitted\n", 3); err == nil {
		t.Error("no total: want an error")
	}
}
