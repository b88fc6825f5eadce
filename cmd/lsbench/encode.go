package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/encode"
)

// encodeEnv makes lsbench encode frames in its own process, so it can be
// pinned to one core like the peers: the value is an encodeSpec in JSON.
const encodeEnv = "LSBENCH_ENCODE"

// encodeSpec is one encoding run of ours.
type encodeSpec struct {
	W, H, Frames, Quality int
	Workers               int // 1: a single Compressor; more: an encode.Pool
}

// encodeResult is what an encoding run reports.
type encodeResult struct {
	Wall, CPU float64 // seconds spent encoding, not making the frames
	Bytes     int64
}

// sceneLoop is how many distinct frames each encoding run cycles through.
const sceneLoop = 10

// runEncoder is the encoding child's main.
func runEncoder(specJSON string) int {
	var spec encodeSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "lsbench encode: bad spec:", err)
		return 2
	}
	s := newScene(spec.W, spec.H, sceneLoop)
	var res encodeResult
	c0, t0 := selfCPU(), time.Now()
	if spec.Workers <= 1 {
		c, err := encode.NewCompressor()
		if err != nil {
			fmt.Fprintln(os.Stderr, "lsbench encode:", err)
			return 1
		}
		defer c.Close()
		for i := range spec.Frames {
			j, err := c.Encode(s.raw(i), spec.Quality)
			if err != nil {
				fmt.Fprintln(os.Stderr, "lsbench encode:", err)
				return 1
			}
			res.Bytes += int64(len(j))
		}
	} else {
		jobs := make(chan encode.Job)
		go func() {
			defer close(jobs)
			for i := range spec.Frames {
				jobs <- encode.Job{Raw: s.raw(i), Seq: uint64(i)}
			}
		}()
		pool := encode.Pool{Workers: spec.Workers, Quality: spec.Quality}
		if err := pool.Run(context.Background(), jobs, func(f capture.Frame) { res.Bytes += int64(len(f.JPEG)) }); err != nil {
			fmt.Fprintln(os.Stderr, "lsbench encode:", err)
			return 1
		}
	}
	res.Wall, res.CPU = time.Since(t0).Seconds(), selfCPU()-c0
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return 0
}

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// encode runs bench (2): YUYV to JPEG at one quality, ours against
// GStreamer's jpegenc and ffmpeg's mjpeg, pinned to one core and free on
// all of them.
func (e *env) encode(ctx context.Context) error {
	dirs := map[[2]int]string{}
	for _, sz := range e.sizes {
		dir := filepath.Join(e.tmp, fmt.Sprintf("raw%dx%d", sz[0], sz[1]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		s := newScene(sz[0], sz[1], sceneLoop)
		if _, err := s.writeRaw(dir); err != nil {
			return err
		}
		all, err := os.Create(filepath.Join(dir, "all.yuyv"))
		if err != nil {
			return err
		}
		for _, f := range s.frames {
			_, _ = all.Write(f)
		}
		if err := all.Close(); err != nil {
			return err
		}
		dirs[sz] = dir
	}
	qscale, err := e.calibrateFFmpeg(ctx, dirs[e.sizes[0]], e.sizes[0])
	if err != nil {
		return err
	}
	e.ffmpegQ = qscale
	for rep := range e.reps {
		for _, sz := range e.sizes {
			param := fmt.Sprintf("%dx%d", sz[0], sz[1])
			// Fewer frames for bigger pictures keep each run near a second.
			frames := max(sceneLoop, e.encodeFrames*640*480/(sz[0]*sz[1]))
			for _, cores := range []string{"1", "all"} {
				for _, sys := range []string{ours, gst, ffmpegName} {
					r, err := e.encodeOnce(ctx, sys, dirs[sz], sz, frames, cores)
					if err != nil {
						return fmt.Errorf("encode %s %s cores=%s: %w", sys, param, cores, err)
					}
					fps := float64(frames) / r.Wall
					s := sample{"fps": fps, "fps_per_cpu": float64(frames) / r.CPU, "bytes_frame": float64(r.Bytes) / float64(frames)}
					e.res.add(key{"encode-" + cores, sys, param}, s)
					e.logf("encode rep %d %s %s cores=%s: %.0f fps, %.0f frames/CPU-s, %.0f B", rep+1, sys, param, cores, fps, s["fps_per_cpu"], s["bytes_frame"])
				}
			}
		}
	}
	return nil
}

const ffmpegName = "ffmpeg"

// pin prefixes argv with taskset to keep it on CPU 0.
func pin(cores string, argv []string) []string {
	if cores == "1" {
		return append([]string{"taskset", "-c", "0"}, argv...)
	}
	return argv
}

var (
	gstEnded    = regexp.MustCompile(`Execution ended after (\d+):(\d+):(\d+)\.(\d+)`)
	ffmpegBench = regexp.MustCompile(`bench: utime=([\d.]+)s stime=([\d.]+)s rtime=([\d.]+)s`)
)

// encodeOnce encodes frames of the scene at sz with one system and returns
// its own account of the time spent encoding (startup excluded).
func (e *env) encodeOnce(ctx context.Context, sys, dir string, sz [2]int, frames int, cores string) (encodeResult, error) {
	var r encodeResult
	switch sys {
	case ours:
		workers := 1
		if cores == "all" {
			workers = runtime.NumCPU()
		}
		self, err := os.Executable()
		if err != nil {
			return r, err
		}
		spec, _ := json.Marshal(encodeSpec{W: sz[0], H: sz[1], Frames: frames, Quality: e.quality, Workers: workers})
		argv := pin(cores, []string{self})
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), encodeEnv+"="+string(spec))
		out, err := cmd.Output()
		if err != nil {
			return r, fmt.Errorf("%w: %s", err, exitText(err))
		}
		return r, json.Unmarshal(out, &r)
	case gst:
		out := filepath.Join(e.tmp, "gst.jpg")
		argv := pin(cores, []string{"gst-launch-1.0",
			"multifilesrc", "location=" + filepath.Join(dir, "f%03d.yuyv"), "loop=true", fmt.Sprintf("num-buffers=%d", frames),
			fmt.Sprintf("caps=video/x-raw,format=YUY2,width=%d,height=%d,framerate=30/1", sz[0], sz[1]),
			"!", "jpegenc", fmt.Sprintf("quality=%d", e.quality), "!", "multifilesink", "location=" + out, "max-files=1"})
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return r, fmt.Errorf("%w: %s", err, tailOf(b))
		}
		m := gstEnded.FindStringSubmatch(string(b))
		if m == nil {
			return r, fmt.Errorf("no execution time in gst-launch output: %s", tailOf(b))
		}
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		s, _ := strconv.ParseFloat(m[3]+"."+m[4], 64)
		r.Wall = float64(h*3600+mi*60) + s
		r.CPU = childCPU(cmd)
		if st, err := os.Stat(out); err == nil {
			r.Bytes = st.Size() * int64(frames)
		}
		return r, nil
	default:
		out := filepath.Join(e.tmp, "ffmpeg.mjpeg")
		threads := "1"
		if cores == "all" {
			threads = "0"
		}
		argv := pin(cores, []string{"ffmpeg", "-nostdin", "-benchmark", "-y", "-stream_loop", "-1",
			"-f", "rawvideo", "-pix_fmt", "yuyv422", "-s", fmt.Sprintf("%dx%d", sz[0], sz[1]), "-framerate", "30",
			"-i", filepath.Join(dir, "all.yuyv"), "-frames:v", fmt.Sprint(frames), "-threads", threads,
			"-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", fmt.Sprint(e.ffmpegQ), "-f", "mjpeg", out})
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			return r, fmt.Errorf("%w: %s", err, tailOf(b))
		}
		m := ffmpegBench.FindStringSubmatch(string(b))
		if m == nil {
			return r, fmt.Errorf("no -benchmark line in ffmpeg output: %s", tailOf(b))
		}
		ut, _ := strconv.ParseFloat(m[1], 64)
		st, _ := strconv.ParseFloat(m[2], 64)
		r.Wall, _ = strconv.ParseFloat(m[3], 64)
		r.CPU = ut + st
		if fi, err := os.Stat(out); err == nil {
			r.Bytes = fi.Size()
		}
		return r, nil
	}
}

// calibrateFFmpeg picks the ffmpeg -q:v whose frames come closest in size
// to ours at e.quality: ffmpeg's mjpeg takes a quantiser scale, not
// libjpeg's 1–100 quality, and equal size on equal content is the fairest
// "same quality" between them.
func (e *env) calibrateFFmpeg(ctx context.Context, dir string, sz [2]int) (int, error) {
	mine, err := e.encodeOnce(ctx, ours, dir, sz, sceneLoop, "all")
	if err != nil {
		return 0, err
	}
	target := float64(mine.Bytes) / sceneLoop
	best, bestDiff := 0, math.Inf(1)
	for q := 2; q <= 10; q++ {
		e.ffmpegQ = q
		r, err := e.encodeOnce(ctx, ffmpegName, dir, sz, sceneLoop, "all")
		if err != nil {
			return 0, err
		}
		if d := math.Abs(float64(r.Bytes)/sceneLoop - target); d < bestDiff {
			best, bestDiff = q, d
		}
	}
	e.logf("ffmpeg -q:v %d matches quality %d best (ours %.0f bytes a frame)", best, e.quality, target)
	return best, nil
}

func childCPU(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

func tailOf(b []byte) string {
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

func exitText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return tailOf(ee.Stderr)
	}
	return ""
}
