// Command lsbench measures lsbroadcast and lsview against the tools people
// use today (GStreamer, ffmpeg), each peer beside ours in the same run, and
// writes BENCHMARKS.md with PNG plots. Every figure is a median of several
// repetitions with its minimum and maximum; the machine is shared, so the
// ratios are what to read.
//
//	lsbench --bin bin --out BENCHMARKS.md --plots packaging/bench-plots
//	lsbench --smoke           one short repetition of everything, nothing kept
//	lsbench --only fanout     only §1, its headline rows and its plots replaced
//
// A run with --only short of every benchmark merges into the report that
// --out already holds: only the parts lsbench marks with
// <!-- lsbench:begin X --> and <!-- lsbench:end X --> in the measured
// sections are replaced, so what was written by hand around them stays;
// when a section's heading or markers are missing it refuses and writes
// nothing.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// env is one run's settings and results.
type env struct {
	bin          string // directory holding lsbroadcast, lsbroadcast-cv and lsview
	vmDir        string // packaging/vm's build (VM_DIR), for the V4L2 benchmark
	tmp          string
	reps         int
	warmup       time.Duration
	measure      time.Duration
	quality      int
	readers      []int
	sizes        [][2]int
	losses       []float64
	encodeFrames int
	ffmpegQ      int // ffmpeg -q:v found to match quality
	fan          struct {
		pattern string // multifilesrc pattern of the 720p JPEG loop
		avi     string // the same JPEGs muxed for --source gocv:FILE
		mjpeg   string // the same JPEGs back to back for --source file:PATH
		// long is the same JPEGs in an AVI long enough for a fan-out run:
		// GStreamer can only pace JPEGs that carry timestamps, and
		// without jpegparse (gst-plugins-bad) only avidemux gives them.
		long  string
		bytes int
	}
	res  *results
	log  *slog.Logger
	skip map[string]string // bench → why it was not measured
	// failures are repetitions that could not be measured; strict makes
	// the first one end the run.
	failures []string
	strict   bool
}

func (e *env) logf(format string, a ...any) { e.log.Info(fmt.Sprintf(format, a...)) }

// failed notes a repetition that could not be measured, so one overloaded
// moment on a shared machine costs a sample, not the run; the report lists
// them. It reports true when the run must stop: interrupted, or in a smoke
// run, where any failure means the driver has rotted.
func (e *env) failed(ctx context.Context, err error) bool {
	if ctx.Err() != nil || e.strict {
		return true
	}
	e.log.Warn("repetition not measured", "error", err)
	e.failures = append(e.failures, err.Error())
	return false
}

func main() {
	if spec := os.Getenv(farmEnv); spec != "" {
		os.Exit(runFarm(spec))
	}
	if spec := os.Getenv(encodeEnv); spec != "" {
		os.Exit(runEncoder(spec))
	}
	os.Exit(run())
}

func run() int {
	var (
		bin     = flag.String("bin", "bin", "directory with the built lsbroadcast, lsbroadcast-cv and lsview")
		out     = flag.String("out", "BENCHMARKS.md", "report to write (empty: none)")
		plots   = flag.String("plots", "packaging/bench-plots", "directory for the PNG plots, relative to the report's")
		reps    = flag.Int("reps", 5, "repetitions of every measurement")
		measure = flag.Duration("measure", 4*time.Second, "measurement window of each streaming run")
		only    = flag.String("only", "fanout,encode,latency,loss,readers,v4l2", "benchmarks to run, comma-separated")
		vmDir   = flag.String("vm-dir", "", "packaging/vm's build directory (VM_DIR) for the V4L2 benchmark against µStreamer; empty: not measured")
		smoke   = flag.Bool("smoke", false, "one short repetition of everything, small sizes, report written to a temporary directory and removed")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	e := &env{bin: *bin, vmDir: *vmDir, reps: *reps, warmup: 1500 * time.Millisecond, measure: *measure, quality: 80,
		readers: []int{1, 4, 16, 64}, sizes: [][2]int{{640, 480}, {1280, 720}, {1920, 1080}},
		losses: []float64{0, 0.5, 1, 2, 5}, encodeFrames: 300,
		res: newResults(), log: log, skip: map[string]string{}}
	if *smoke {
		e.reps, e.measure, e.warmup, e.strict = 1, time.Second, time.Second, true
		e.readers, e.sizes, e.losses, e.encodeFrames = []int{2}, [][2]int{{640, 480}}, []float64{0, 5}, 30
	}
	if e.reps < 1 {
		fmt.Fprintln(os.Stderr, "lsbench: --reps must be at least 1")
		return 2
	}
	for _, tool := range []string{"gst-launch-1.0", "ffmpeg", "ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "lsbench: %s not found: run make deps\n", tool)
			return 2
		}
	}
	for _, b := range []string{"lsbroadcast", "lsbroadcast-cv", "lsview"} {
		if _, err := os.Stat(filepath.Join(e.bin, b)); err != nil {
			fmt.Fprintf(os.Stderr, "lsbench: %s not built in %s: run make build\n", b, e.bin)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "lsbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lsbench:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	e.tmp = tmp
	if *smoke {
		// The report and plots are drawn too, so they never rot, then
		// removed with the rest.
		*out = filepath.Join(tmp, "BENCHMARKS.md")
	}

	start, load0 := time.Now(), loadavg()
	if err := e.prepare(); err != nil {
		fmt.Fprintln(os.Stderr, "lsbench:", err)
		return 1
	}
	benches := []struct {
		name string
		run  func(context.Context) error
	}{
		{"fanout", e.fanout}, {"encode", e.encode}, {"latency", e.latency},
		{"loss", e.loss}, {"readers", e.readerBench}, {"v4l2", e.v4l2},
	}
	want := strings.Split(*only, ",")
	var names []string
	for _, b := range benches {
		names = append(names, b.name)
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			fmt.Fprintf(os.Stderr, "lsbench: --only: no benchmark %q\n", w)
			return 2
		}
	}
	for _, b := range benches {
		if !slices.Contains(want, b.name) {
			continue
		}
		e.logf("benchmark %s", b.name)
		if err := b.run(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "lsbench: %s: %v\n", b.name, err)
			return 1
		}
	}
	meta := runMeta{Started: start, Took: time.Since(start), LoadBefore: load0, LoadAfter: loadavg(),
		Reps: e.reps, Measure: e.measure, Command: "make bench-peers"}
	if *out == "" {
		return 0
	}
	merge, err := e.toMerge(*out, want, names)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lsbench:", err)
		return 1
	}
	if err := e.report(*out, *plots, meta, merge); err != nil {
		fmt.Fprintln(os.Stderr, "lsbench:", err)
		return 1
	}
	e.logf("wrote %s in %s", *out, meta.Took.Round(time.Second))
	return 0
}

// toMerge is which sections a partial run (--only short of some of
// names) splices into the report out already holds, so that it
// keeps the rest; nil: write the whole report. A benchmark that was asked
// for but skipped keeps its old section; one that was run and measured
// nothing is an error, not a section of dashes over the old figures.
func (e *env) toMerge(out string, want, names []string) ([]string, error) {
	if !slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(want, n) }) {
		return nil, nil
	}
	if _, err := os.Stat(out); err != nil {
		return nil, nil
	}
	var merge []string
	for _, b := range names {
		if !slices.Contains(want, b) {
			continue
		}
		if why, ok := e.skip[b]; ok {
			e.log.Warn("not measured: its section is kept as it was", "benchmark", b, "why", why)
			continue
		}
		if !e.res.measured(b) {
			return nil, fmt.Errorf("%s measured nothing: %s is left as it was", b, out)
		}
		merge = append(merge, b)
	}
	if len(merge) == 0 {
		return nil, fmt.Errorf("nothing measured to merge: %s is left as it was", out)
	}
	return merge, nil
}

// prepare renders the 720p scene loop the streaming benchmarks send.
func (e *env) prepare() error {
	dir := filepath.Join(e.tmp, "720p")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	s := newScene(1280, 720, 30)
	pat, mean, err := s.writeJPEGs(dir, e.quality)
	if err != nil {
		return err
	}
	e.fan.pattern, e.fan.bytes = pat, mean
	e.fan.avi = filepath.Join(e.tmp, "scene720.avi")
	e.fan.mjpeg = filepath.Join(e.tmp, "scene720.mjpeg")
	e.logf("720p scene: %d frames of %d bytes on average", len(s.frames), mean)
	if err := writeMJPEG(pat, len(s.frames), e.fan.mjpeg); err != nil {
		return err
	}
	// A run: the farm's start, the warm-up, the window, strace's count,
	// and as much again for a loaded machine. The loop is a second.
	e.fan.long = filepath.Join(e.tmp, "scene720-long.avi")
	if err := writeAVI(pat, e.fan.long, 30, int(2*(10*time.Second+e.warmup+e.measure+straceWindow).Seconds())); err != nil {
		return err
	}
	return writeAVI(pat, e.fan.avi, 30, 0)
}

// loadavg is the 1-minute load average.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
