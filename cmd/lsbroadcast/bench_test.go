package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusKB reads a field such as VmRSS from /proc/PID/status, in KiB.
func statusKB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			v, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return v
		}
	}
	return 0
}

// cpuSeconds is the user+system CPU time of a process so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// BenchmarkReaders runs lsbroadcast on the 1280×720 30 fps test pattern
// with N real readers (ffmpeg over UDP, copying without decoding) and
// reports its resident memory and CPU per frame, rendering and encoding
// included.
func BenchmarkReaders(b *testing.B) {
	need(b, "ffmpeg")
	for _, n := range []int{0, 16} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			bc := startBroadcaster(b, "127.0.0.1", nil, "--source", "pattern", "--size", "1280x720", "--fps", "30")
			for range n {
				r := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "udp", "-i", bc.URL, "-c", "copy", "-f", "null", "-")
				if err := r.Start(); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { r.Process.Kill(); r.Wait() })
			}
			pid := bc.cmd.Process.Pid
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(bc.Log(), fmt.Sprintf("readers=%d", n)) && n > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			cpu0, t0 := cpuSeconds(pid), time.Now()
			for b.Loop() {
				time.Sleep(100 * time.Millisecond)
			}
			frames := time.Since(t0).Seconds() * 30
			b.ReportMetric(statusKB(pid, "VmRSS")/1024, "rss-MB")
			b.ReportMetric(statusKB(pid, "VmHWM")/1024, "peak-rss-MB")
			b.ReportMetric((cpuSeconds(pid)-cpu0)*1000/frames, "cpu-ms/frame")
		})
	}
}
