//go:build vmtest

package vm

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// arches are the VMs to boot: VM_ARCHES, default both.
func arches() []string {
	if a := os.Getenv("VM_ARCHES"); a != "" {
		return strings.Fields(a)
	}
	return []string{"amd64", "arm64"}
}

// results collects the figures for the report, written to VM_DIR.
type results struct {
	mu    sync.Mutex
	lines []string
}

func (r *results) add(t *testing.T, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
}

func TestVM(t *testing.T) {
	res := &results{}
	t.Cleanup(func() {
		if dir := os.Getenv("VM_DIR"); dir != "" {
			os.WriteFile(filepath.Join(dir, "results.txt"), []byte(strings.Join(res.lines, "\n")+"\n"), 0o644)
		}
	})
	for _, arch := range arches() {
		t.Run(arch, func(t *testing.T) {
			m := boot(t, arch)
			res.add(t, "%s boot: %.1f s to @@READY (qemu TCG)", arch, m.boot.Seconds())
			t.Run("enumerate", func(t *testing.T) { testEnumerate(t, m) })
			t.Run("bad-input", func(t *testing.T) { testBadInput(t, m) })
			t.Run("controls", func(t *testing.T) { testControls(t, m, res) })
			t.Run("capture", func(t *testing.T) { testCapture(t, m, res) })
			t.Run("rtsp-hotplug", func(t *testing.T) { testHotplug(t, m, res) })
			t.Run("lsbroadcast", func(t *testing.T) { testLsbroadcast(t, m, res) })
			if arch == "amd64" {
				t.Run("mjpeg-pass-through", func(t *testing.T) { testPassThrough(t, m, res) })
				t.Run("settings", func(t *testing.T) { testSettings(t, m, res) })
			}
		})
	}
}

// testEnumerate: of vivid's nodes (capture, output, VBI, metadata…) only
// the capture node is listed, with the card name.
func testEnumerate(t *testing.T, m *machine) {
	out, rc := m.sh("ls /dev/video*; vmcam -list", 60*time.Second)
	var listed []string
	for _, l := range out {
		if i := strings.Index(l, "@@DEVICE "); i >= 0 {
			listed = append(listed, l[i:])
		}
	}
	if rc != 0 || len(listed) != 1 || !strings.HasPrefix(listed[0], "@@DEVICE /dev/video0 usable=true card=\"vivid\"") {
		t.Fatalf("status %d, listed %q; want only /dev/video0, usable, card vivid; output:\n%s", rc, listed, strings.Join(out, "\n"))
	}
}

// testBadInput: a node that cannot capture, a file that is no device and an
// impossible format each fail with status 2 and one clear line.
func testBadInput(t *testing.T, m *machine) {
	for _, tc := range []struct{ args, says string }{
		{"-device /dev/video1", "not a video capture device"},
		{"-device /dev/null", "not a video capture device"},
		{"-device /dev/video9", "no such device"},
		{"-device /dev/video0 -format H264", "no pixel format lsbroadcast can stream"},
	} {
		out, rc := m.sh("vmcam -port 0 -seconds 1 "+tc.args, 60*time.Second)
		all := strings.Join(out, "\n")
		if rc != 2 || !strings.Contains(all, tc.says) {
			t.Errorf("vmcam %s: status %d, output:\n%s\nwant status 2 saying %q", tc.args, rc, all, tc.says)
		}
	}
}

// testControls runs capture/v4l2's own test of the camera controls on
// vivid (TestVividControls, built as v4l2.test by build.sh) and reports
// its figures.
func testControls(t *testing.T, m *machine, res *results) {
	out, rc := m.sh("v4l2.test -test.v -test.count=1 -test.run '^TestVividControls$'", 300*time.Second)
	all := strings.Join(out, "\n")
	if rc != 0 || !strings.Contains(all, "--- PASS: TestVividControls") {
		t.Fatalf("v4l2.test on vivid: status %d, output:\n%s", rc, all)
	}
	for _, l := range out {
		for _, tag := range []string{"@@IDENTITY ", "@@LUMA ", "@@CONTROLS ", "@@SIZES ", "@@INACTIVE ", "@@ROUNDTRIP ", "@@REFUSED "} {
			if i := strings.Index(l, tag); i >= 0 {
				res.add(t, "%s vivid controls: %s", m.arch, l[i+2:])
			}
		}
	}
}

var (
	statsRe  = regexp.MustCompile(`@@STATS frames=(\d+) seconds=([\d.]+) fps=([\d.]+) cpu_ms=(\d+)`)
	openedRe = regexp.MustCompile(`@@OPENED (.*) (\S+) (\d+x\d+) fps=(\d+)`)
	answerRe = regexp.MustCompile(`^(\d+|\d+:[0-9a-f]{8}|@@END)$`)
)

// capture runs vmcam for some seconds without a server and returns the
// granted format and size and its counters.
func capture(t *testing.T, m *machine, args string, seconds int) (format, size string, frames int, fps float64, cpuMS int) {
	t.Helper()
	out, rc := m.sh(fmt.Sprintf("vmcam -port 0 -seconds %d %s", seconds, args), time.Duration(seconds+90)*time.Second)
	all := strings.Join(out, "\n")
	o, s := openedRe.FindStringSubmatch(all), statsRe.FindStringSubmatch(all)
	if rc != 0 || o == nil || s == nil {
		t.Fatalf("vmcam %s: status %d, output:\n%s", args, rc, all)
	}
	frames, _ = strconv.Atoi(s[1])
	fps, _ = strconv.ParseFloat(s[3], 64)
	cpuMS, _ = strconv.Atoi(s[4])
	return o[2], o[3], frames, fps, cpuMS
}

// testCapture: vivid at 640×480 and 1280×720 in each raw layout the
// encoder converts, asked for 30 fps; frames must flow at the granted size.
func testCapture(t *testing.T, m *machine, res *results) {
	for _, tc := range []struct{ size, format string }{
		{"640x480", ""}, {"1280x720", ""}, {"640x480", "YUYV"}, {"640x480", "NV12"}, {"640x480", "UYVY"}, {"640x480", "RGB3"},
	} {
		args := "-fps 30 -size " + tc.size
		if tc.format != "" {
			args += " -format " + tc.format
		}
		format, size, frames, fps, cpuMS := capture(t, m, args, 5)
		if size != tc.size || (tc.format != "" && format != tc.format) {
			t.Errorf("%s: granted %s %s", args, format, size)
		}
		if frames < 3 {
			t.Errorf("%s: only %d frames in 5 s", args, frames)
		}
		perFrame := 0.0
		if frames > 0 {
			perFrame = float64(cpuMS) / float64(frames)
		}
		res.add(t, "%s vivid %s %s: %d frames in 5 s, %.1f fps, %.1f ms CPU a frame (capture+encode, TCG)", m.arch, size, format, frames, fps, perFrame)
	}
}

// reader plays the guest's stream from the host and records when each
// frame arrived and its size.
type reader struct {
	mu     sync.Mutex
	times  []time.Time
	bad    int
	sizeOK int
}

func (r *reader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times)
}

func (r *reader) last() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.times) == 0 {
		return time.Time{}
	}
	return r.times[len(r.times)-1]
}

// waitFrames waits until the reader has n more frames than now.
func (r *reader) waitFrames(n int, timeout time.Duration) (time.Duration, bool) {
	start, want := time.Now(), r.count()+n
	for time.Since(start) < timeout {
		if r.count() >= want {
			return time.Since(start), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start), false
}

// testHotplug: the stream reaches an RTSP reader on the host; unbinding
// vivid (the kernel's view of an unplug) ends the capture with "device
// gone"; binding it again brings frames back without a restart.
func testHotplug(t *testing.T, m *machine, res *results) {
	at := m.mark()
	pid := m.start("vmcam -size 640x480 -fps 30")
	defer m.sh(fmt.Sprintf("kill %d; sleep 1", pid), 30*time.Second)
	if _, err := m.since(at, "@@OPENED", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &reader{}
	c := &rtsp.Client{URL: fmt.Sprintf("rtsp://127.0.0.1:%d/live", m.port), Transport: rtsp.TransportTCP, ReadTimeout: 60 * time.Second}
	clientDone := make(chan error, 1)
	go func() {
		clientDone <- c.Run(ctx, func(f rtsp.Frame) {
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.JPEG))
			r.mu.Lock()
			defer r.mu.Unlock()
			r.times = append(r.times, f.Received)
			if err != nil {
				r.bad++
			} else if cfg.Width == 640 && cfg.Height == 480 {
				r.sizeOK++
			}
		})
	}()
	defer func() { cancel(); <-clientDone }()
	if _, ok := r.waitFrames(10, 60*time.Second); !ok {
		t.Fatalf("the host's RTSP reader got %d frames in 60 s", r.count())
	}
	t0, n0 := time.Now(), r.count()
	time.Sleep(3 * time.Second)
	rate := float64(r.count()-n0) / time.Since(t0).Seconds()
	res.add(t, "%s RTSP reader on the host (TCP via hostfwd): %.1f fps at 640x480", m.arch, rate)

	// A second program cannot take the camera while it streams.
	out, rc := m.sh("vmcam -port 0 -seconds 1 -size 640x480", 60*time.Second)
	if all := strings.Join(out, "\n"); rc != 2 || !strings.Contains(all, "device busy") {
		t.Errorf("second capture of a busy camera: status %d, output:\n%s\nwant status 2 and \"device busy\"", rc, all)
	}

	unplug, at := time.Now(), m.mark()
	m.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind", 30*time.Second)
	line, err := m.since(at, "@@LOST", 30*time.Second)
	if err != nil || !strings.Contains(line, "device gone") {
		t.Fatalf("after unplug: %q, %v; want @@LOST ... device gone", line, err)
	}
	lost := time.Since(unplug)
	time.Sleep(time.Second)
	stopped := r.count()
	time.Sleep(time.Second)
	if r.count() != stopped {
		t.Errorf("frames kept coming after the unplug")
	}

	replug := time.Now()
	m.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/bind", 30*time.Second)
	_, ok := r.waitFrames(5, 60*time.Second)
	if !ok {
		t.Fatalf("no frames within 60 s of the replug")
	}
	res.add(t, "%s unplug (vivid unbind): capture ended with \"device gone\" after %.2f s; replug (bind): frames at the host reader after %.2f s",
		m.arch, lost.Seconds(), time.Since(replug).Seconds())
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad > 0 || r.sizeOK != len(r.times) {
		t.Errorf("of %d frames, %d did not decode and %d were 640x480", len(r.times), r.bad, r.sizeOK)
	}
}

// play reads the guest's RTSP stream from the host over TCP (qemu forwards
// only TCP), calling onFrame with each picture, until the returned stop.
func play(t *testing.T, m *machine, onFrame func(rtsp.Frame)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	c := &rtsp.Client{URL: fmt.Sprintf("rtsp://127.0.0.1:%d/live", m.port), Transport: rtsp.TransportTCP, ReadTimeout: 60 * time.Second}
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, onFrame) }()
	return func() { cancel(); <-done }
}

// phases follows what a reader sees: camera pictures, or the NO SIGNAL
// slate (a test pattern, whose strip decodes), and when each phase began.
type phases struct {
	mu     sync.Mutex
	names  []string
	starts []time.Time
	frames map[string]int
	bad    int
}

func (p *phases) add(f rtsp.Frame) {
	name := "camera"
	img, err := jpeg.Decode(bytes.NewReader(f.JPEG))
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.bad++
		return
	}
	if y, ok := img.(*image.YCbCr); ok && y.YStride == y.Rect.Dx() {
		if _, _, slate := pattern.Read(y.Y, y.Rect.Dx(), y.Rect.Dy()); slate {
			name = "slate"
		}
	}
	if p.frames == nil {
		p.frames = map[string]int{}
	}
	p.frames[name]++
	if len(p.names) == 0 || p.names[len(p.names)-1] != name {
		p.names = append(p.names, name)
		p.starts = append(p.starts, f.Received)
	}
}

// waitPhase waits until the reader is in phase name for n frames since
// now, and returns when that phase began.
func (p *phases) waitPhase(name string, n int, timeout time.Duration) (time.Time, bool) {
	p.mu.Lock()
	base := p.frames[name]
	p.mu.Unlock()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		p.mu.Lock()
		cur, names, frames := "", p.names, p.frames[name]
		var start time.Time
		if len(names) > 0 {
			cur, start = names[len(names)-1], p.starts[len(names)-1]
		}
		p.mu.Unlock()
		if cur == name && frames >= base+n {
			return start, true
		}
	}
	return time.Time{}, false
}

// testLsbroadcast runs the shipped lsbroadcast binary on vivid: its stream
// reaches the host; unplugging shows the NO SIGNAL slate on the same
// stream; replugging brings the camera back without a restart. A node that
// cannot capture is refused with status 2 and one line.
func testLsbroadcast(t *testing.T, m *machine, res *results) {
	out, rc := m.sh("lsbroadcast --source v4l2:/dev/video1 --mdns off --state-dir /tmp/lsb-bad", 60*time.Second)
	if all := strings.Join(out, "\n"); rc != 2 || !strings.Contains(all, "not a video capture device") {
		t.Errorf("lsbroadcast on an output node: status %d, output:\n%s\nwant status 2 saying \"not a video capture device\"", rc, all)
	}

	// vivid grants 320×180 when asked for 320×240: a height RTP/JPEG
	// carries only rounded up to a multiple of 8.
	at := m.mark()
	pid := m.start("lsbroadcast --source v4l2:/dev/video0 --size 320x240 --fps 5 --mdns off --listen 0.0.0.0 --state-dir /tmp/lsb-small")
	if _, err := m.since(at, "v4l2 camera opened", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sizes := map[string]int{}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		stop := play(t, m, func(f rtsp.Frame) {
			size := "undecodable"
			if img, err := jpeg.Decode(bytes.NewReader(f.JPEG)); err == nil {
				size = fmt.Sprintf("%dx%d", img.Bounds().Dx(), img.Bounds().Dy())
			}
			mu.Lock()
			sizes[size]++
			mu.Unlock()
		})
		time.Sleep(5 * time.Second)
		stop()
		mu.Lock()
		n := sizes["320x184"]
		mu.Unlock()
		if n >= 5 {
			break
		}
	}
	m.sh(fmt.Sprintf("kill %d; sleep 1", pid), 30*time.Second)
	mu.Lock()
	if sizes["320x184"] < 5 || len(sizes) != 1 {
		t.Errorf("lsbroadcast --size 320x240 on vivid (granted 320x180): frames by size %v, want only 320x184", sizes)
	}
	res.add(t, "%s lsbroadcast on vivid granting 320x180: %v frames by decoded size", m.arch, sizes)
	mu.Unlock()

	at = m.mark()
	pid = m.start("lsbroadcast --source v4l2:/dev/video0 --size 640x480 --fps 30 --mdns off --listen 0.0.0.0 --state-dir /tmp/lsb")
	defer m.sh(fmt.Sprintf("kill %d; sleep 1", pid), 30*time.Second)
	if _, err := m.since(at, "v4l2 camera opened", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	p := &phases{}
	var stop func()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		// The RTSP port opens a moment after the camera.
		stop = play(t, m, p.add)
		if _, ok := p.waitPhase("camera", 10, 10*time.Second); ok || time.Now().After(deadline) {
			break
		}
		stop()
	}
	defer stop()
	if _, ok := p.waitPhase("camera", 10, time.Second); !ok {
		t.Fatalf("no camera frames from lsbroadcast; phases %v", p.names)
	}
	unplug := time.Now()
	m.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind", 30*time.Second)
	slateAt, ok := p.waitPhase("slate", 3, 30*time.Second)
	if !ok {
		t.Fatalf("no NO SIGNAL slate within 30 s of the unplug; phases %v", p.names)
	}
	replug := time.Now()
	m.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/bind", 30*time.Second)
	backAt, ok := p.waitPhase("camera", 5, 60*time.Second)
	if !ok {
		t.Fatalf("camera frames did not return within 60 s of the replug; phases %v", p.names)
	}
	res.add(t, "%s lsbroadcast: unplug → slate at the host reader after %.2f s; replug → camera frames after %.2f s",
		m.arch, slateAt.Sub(unplug).Seconds(), backAt.Sub(replug).Seconds())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad > 0 {
		t.Errorf("%d frames did not decode", p.bad)
	}
}

// testPassThrough: v4l2loopback, fed MJPEG by vmcam -feed, is a real V4L2
// device offering MJPEG; the capture passes every frame through byte for
// byte (each captured frame's CRC-32 is one of the fed frames'). The
// feeder writes at 10 fps so the reader is never a ring of buffers behind:
// v4l2loopback's writer overwrites buffers its readers still hold.
func testPassThrough(t *testing.T, m *machine, res *results) {
	pid := m.start("vmcam -feed /dev/video8 -size 640x480 -fps 10 -seconds 40 -hashes /tmp/fed")
	defer m.sh(fmt.Sprintf("kill %d 2>/dev/null; sleep 1", pid), 30*time.Second)
	// Until the feeder writes, the node is an output node.
	m.sh("for i in $(seq 150); do [ -s /tmp/fed ] && break; sleep 0.2; done", 60*time.Second)
	format, size, frames, fps, cpuMS := capture(t, m, "-device /dev/video8 -hashes /tmp/got", 8)
	if format != "MJPG" || size != "640x480" {
		t.Fatalf("loopback granted %s %s, want MJPG 640x480", format, size)
	}
	if frames < 10 {
		t.Fatalf("only %d MJPEG frames captured in 8 s", frames)
	}
	// A new reader's first buffer from v4l2loopback 0.12 was seen to hold
	// bytes no writer wrote (about one run in two, never later frames): the
	// comparison starts at the second frame.
	out, _ := m.sh("wc -l < /tmp/got; tail -n +2 /tmp/got | grep -n -v -x -F -f /tmp/fed; echo \"@@\"\"END\"", 60*time.Second)
	var lines []string
	for _, l := range out {
		// The console echoes (and wraps) the command: keep only answers.
		if l = strings.TrimSpace(l); answerRe.MatchString(l) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || lines[0] != strconv.Itoa(frames) || lines[1] != "@@END" {
		t.Fatalf("captured %d frames; want that many hashes, all among those fed; got (count, then line:hash of each never fed): %q", frames, lines)
	}
	res.add(t, "%s v4l2loopback MJPEG 640x480 pass-through: %d frames in 8 s (%.1f fps), every frame after the first byte-equal to one fed; %.2f ms CPU a frame (TCG)",
		m.arch, frames, fps, float64(cpuMS)/float64(frames))
}
