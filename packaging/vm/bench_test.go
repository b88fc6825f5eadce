//go:build vmtest

package vm

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procCPU is the CPU time (user+system) of a guest process, from
// /proc/PID/stat, in clock ticks of 10 ms.
func procCPU(t testing.TB, m *machine, pid int) int {
	out, rc := m.sh(fmt.Sprintf("cut -d' ' -f14,15 /proc/%d/stat", pid), 30*time.Second)
	for i := len(out) - 1; i >= 0 && rc == 0; i-- {
		f := strings.Fields(out[i])
		if len(f) == 2 {
			u, err1 := strconv.Atoi(f[0])
			s, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil {
				return u + s
			}
		}
	}
	t.Fatalf("no CPU time for pid %d: %q", pid, out)
	return 0
}

var capturedFPSRe = regexp.MustCompile(`"captured_fps":\s*(\d+)`)

// BenchmarkVsUStreamer compares, in one amd64 VM run, the CPU a frame that
// capture plus JPEG encoding costs: capture/v4l2 (vmcam, which does no more
// than capture, encode and serve) against µStreamer (Debian's ustreamer,
// its CPU encoder), both on vivid's YUYV at 640×480, 1280×720 and
// 1920×1080 with two workers and quality 80. Each runs alone for the same
// window after a warm-up; CPU comes from /proc/PID/stat for both, frames
// from each program's own count (vmcam's, µStreamer's captured_fps from
// /state). Under TCG absolute figures are far above a real machine's; the
// ratio is what to read. Run: make vmbench.
func BenchmarkVsUStreamer(b *testing.B) {
	for range b.N {
		benchOnce(b)
	}
}

func benchOnce(b *testing.B) {
	m := boot(b, "amd64")
	const warm, window = 3 * time.Second, 10 * time.Second
	for _, size := range []string{"640x480", "1280x720", "1920x1080"} {
		w, h, _ := strings.Cut(size, "x")
		// capture/v4l2 through vmcam, counting its frames in the window.
		pid := m.start(fmt.Sprintf("vmcam -port 0 -size %s -fps 30 -format YUYV -quality 80 -seconds %d", size, int((warm + window + 2*time.Second).Seconds())))
		m.sh("sleep "+strconv.Itoa(int(warm.Seconds())), time.Minute)
		c0, t0 := procCPU(b, m, pid), time.Now()
		at := m.mark()
		m.sh("sleep "+strconv.Itoa(int(window.Seconds())), time.Minute)
		c1, el := procCPU(b, m, pid), time.Since(t0)
		line, err := m.since(at, "@@STATS", 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		s := statsRe.FindStringSubmatch(line)
		if s == nil {
			b.Fatalf("vmcam: %q", line)
		}
		fps, _ := strconv.ParseFloat(s[3], 64)
		ours := float64(c1-c0) * 10 / (fps * el.Seconds())

		// µStreamer on the same device.
		pid = m.start(fmt.Sprintf("ustreamer --device /dev/video0 --resolution %sx%s --format YUYV --desired-fps 30 --encoder CPU --workers 2 --quality 80 --host 127.0.0.1 --port 8080 --log-level 0 >/dev/null 2>&1", w, h))
		m.sh("sleep "+strconv.Itoa(int(warm.Seconds())), time.Minute)
		c0, t0 = procCPU(b, m, pid), time.Now()
		m.sh("sleep "+strconv.Itoa(int(window.Seconds())), time.Minute)
		c1, el = procCPU(b, m, pid), time.Since(t0)
		out, _ := m.sh("wget -qO- http://127.0.0.1:8080/state; echo", time.Minute)
		f := capturedFPSRe.FindStringSubmatch(strings.Join(out, ""))
		m.sh(fmt.Sprintf("kill %d; sleep 1", pid), time.Minute)
		if f == nil {
			b.Fatalf("µStreamer /state: %q", out)
		}
		ufps, _ := strconv.ParseFloat(f[1], 64)
		theirs := float64(c1-c0) * 10 / (ufps * el.Seconds())
		b.ReportMetric(ours, "ms-cpu/frame-lsb-"+size)
		b.ReportMetric(theirs, "ms-cpu/frame-ustreamer-"+size)
		b.ReportMetric(ours/theirs, "ratio-"+size)
		b.Logf("%s YUYV: capture/v4l2 %.1f ms CPU a frame at %.1f fps; µStreamer %.1f ms at %.0f fps; ratio %.2f", size, ours, fps, theirs, ufps, ours/theirs)
	}
}
