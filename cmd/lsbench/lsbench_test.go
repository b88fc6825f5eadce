package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// reportEnv is an env with one figure for every case of every section,
// scaled by f, so two of them write different reports.
func reportEnv(f float64) *env {
	e := &env{quality: 80, ffmpegQ: 3, readers: []int{1, 4}, sizes: [][2]int{{640, 480}},
		losses: []float64{0, 5}, res: newResults(), log: slog.New(slog.DiscardHandler), skip: map[string]string{}}
	e.fan.bytes = 90000
	s := sample{"cpu_ms_frame_reader": f, "delivered": 1, "rss_mb": 20 * f, "cpu_pct": 3 * f, "syscalls_frame": 13,
		"fps": 300 * f, "bytes_frame": 9e4, "p50_ms": f, "p99_ms": 4 * f, "matched": 1, "cpu_ms_frame": 5 * f,
		"peak_rss_mb": 89, "frames": 90}
	for _, sys := range []string{ours, gst} {
		for _, n := range e.readers {
			e.res.add(key{"fanout", sys, fmt.Sprint(n)}, s)
		}
		e.res.add(key{"latency", sys, "720p30"}, s)
		for _, p := range e.losses {
			e.res.add(key{"loss", sys, fmt.Sprint(p)}, s)
		}
	}
	for _, sys := range []string{ours, gst, ffmpegName} {
		e.res.add(key{"encode-1", sys, "640x480"}, s)
		e.res.add(key{"encode-all", sys, "640x480"}, s)
	}
	for _, sys := range []string{ours, ustreamerName} {
		e.res.add(key{"v4l2", sys, "640x480"}, s)
	}
	for _, sys := range []string{lsviewName, ffmpegName} {
		e.res.add(key{"readers", sys, "1280x720p30"}, s)
	}
	return e
}

// outsideParts is doc without the insides of the named parts and without
// the headline rows that begin with prefix: what a merge of them keeps.
func outsideParts(t *testing.T, doc, prefix string, parts ...string) string {
	t.Helper()
	for _, p := range parts {
		b, e := strings.Index(doc, "<!-- lsbench:begin "+p+" -->"), strings.Index(doc, "<!-- lsbench:end "+p+" -->")
		if b < 0 || e < b {
			t.Fatalf("part %s not marked", p)
		}
		doc = doc[:b] + doc[e:]
	}
	var kept []string
	for _, l := range strings.SplitAfter(doc, "\n") {
		if !strings.HasPrefix(l, prefix) {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "")
}

// writeReport writes a whole report of e into dir, with hand-written
// material between parts and after the keep marker, and stand-in plots.
func writeReport(t *testing.T, dir string, e *env) string {
	t.Helper()
	out := filepath.Join(dir, "BENCHMARKS.md")
	if err := e.report(out, "plots", runMeta{Reps: 1}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "<!-- lsbench:end fanout -->\n\n", "<!-- lsbench:end fanout -->\n\nAn older table, kept by hand.\n\n", 1)
	doc = strings.Replace(doc, "| latency 720p30", "| reader added by hand | 1 |\n| latency 720p30", 1)
	doc += "\n" + keepMarker + "\n\n## 8. Written by hand\n\nKept.\n"
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"fanout-cpu.png", "fanout-delivered.png", "encode.png", "loss.png"} {
		if err := os.WriteFile(filepath.Join(dir, "plots", p), []byte("old "+p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return doc
}

func TestMergeReplacesOnlyMeasuredSection(t *testing.T) {
	dir := t.TempDir()
	old := writeReport(t, dir, reportEnv(1))
	out := filepath.Join(dir, "BENCHMARKS.md")
	e := reportEnv(2)
	if err := e.report(out, "plots", runMeta{Reps: 3}, []string{"fanout"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if got, want := outsideParts(t, doc, "| fan-out, ", "fanout", "fanout-plots"), outsideParts(t, old, "| fan-out, ", "fanout", "fanout-plots"); got != want {
		t.Errorf("merge changed what is outside §1's parts:\n--- got\n%s\n--- want\n%s", got, want)
	}
	if doc == old || !strings.Contains(doc, "| 1 | 2.000 | 2.000 |") || strings.Contains(doc, "| 1 | 1.000 | 1.000 |") {
		t.Errorf("§1's table not replaced:\n%s", doc)
	}
	if !strings.Contains(doc, "*This section alone was regenerated") || !strings.Contains(doc, "An older table, kept by hand.") {
		t.Errorf("no provenance note, or the hand-kept text lost:\n%s", doc)
	}
	for p, drawn := range map[string]bool{"fanout-cpu.png": true, "fanout-delivered.png": true, "encode.png": false, "loss.png": false} {
		b, err := os.ReadFile(filepath.Join(dir, "plots", p))
		if err != nil {
			t.Fatal(err)
		}
		if old := string(b) == "old "+p; old == drawn {
			t.Errorf("%s: redrawn %v, want %v", p, !old, drawn)
		}
	}
}

// TestMergeKeepsBenchmarksMD merges every section into the repository's
// report: all it has outside that section's parts and headline rows
// (older tables, notes, §7 and §8) must survive.
func TestMergeKeepsBenchmarksMD(t *testing.T) {
	orig, err := os.ReadFile("../../BENCHMARKS.md")
	if err != nil {
		t.Fatal(err)
	}
	e := reportEnv(2)
	for _, s := range e.sections() {
		t.Run(s.bench, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "BENCHMARKS.md")
			if err := os.WriteFile(out, orig, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := e.report(out, "plots", runMeta{Reps: 3}, []string{s.bench}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var gen strings.Builder
			if err := s.write(func(f string, a ...any) { fmt.Fprintf(&gen, f, a...) }, dir, "plots"); err != nil {
				t.Fatal(err)
			}
			prefix := s.rowPrefix
			if prefix == "" {
				prefix = "\x00" // loss has no headline row
			}
			parts := partNames(gen.String())
			if got, want := outsideParts(t, string(b), prefix, parts...), outsideParts(t, string(orig), prefix, parts...); got != want {
				t.Errorf("merge changed what is outside %v:\n--- got\n%s\n--- want\n%s", parts, got, want)
			}
			if string(b) == string(orig) {
				t.Error("nothing merged")
			}
		})
	}
}

func TestMergeRefusesWithoutHeading(t *testing.T) {
	dir := t.TempDir()
	writeReport(t, dir, reportEnv(1))
	out := filepath.Join(dir, "BENCHMARKS.md")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, broken := range map[string]string{
		"no heading": strings.Replace(string(b), "## 1. Fan-out", "## 1. Fanout", 1),
		"no marker":  strings.Replace(string(b), "<!-- lsbench:end fanout-plots -->", "", 1),
		"no table":   strings.Replace(string(b), "## Headline ratios", "## Headlines", 1),
	} {
		if err := os.WriteFile(out, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := reportEnv(2).report(out, "plots", runMeta{}, []string{"fanout"}); err == nil {
			t.Errorf("%s: merged", name)
		}
		if after, err := os.ReadFile(out); err != nil || string(after) != broken {
			t.Errorf("%s: report changed (%v)", name, err)
		}
		if p, err := os.ReadFile(filepath.Join(dir, "plots", "fanout-cpu.png")); err != nil || string(p) != "old fanout-cpu.png" {
			t.Errorf("%s: plot redrawn (%v)", name, err)
		}
	}
}
