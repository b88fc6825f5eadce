package main

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// BenchmarkReaders runs lsbroadcast on the 1280×720 30 fps test pattern
// with N real readers (ffmpeg over UDP, copying without decoding) and
// reports its resident memory and CPU per frame, rendering and encoding
// included.
func BenchmarkReaders(b *testing.B) {
	testenv.NeedTools(b, "ffmpeg")
	for _, n := range []int{0, 16} {
		b.Run(fmt.Sprintf("readers=%d", n), func(b *testing.B) {
			bc := startBroadcaster(b, "127.0.0.1", nil, "--source", "pattern", "--size", "1280x720", "--fps", "30",
				"--rtsp-max-per-address", "64") // every reader is on loopback
			for range n {
				r := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "udp", "-i", bc.URL, "-c", "copy", "-f", "null", "-")
				if err := r.Start(); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { r.Process.Kill(); r.Wait() })
			}
			pid := bc.Cmd.Process.Pid
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(bc.Stderr.String(), fmt.Sprintf("readers=%d", n)) && n > 0 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			cpu0, err := testenv.CPUTime(pid)
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			for b.Loop() {
				time.Sleep(100 * time.Millisecond)
			}
			frames := time.Since(t0).Seconds() * 30
			cpu1, err1 := testenv.CPUTime(pid)
			rss, err2 := testenv.RSS(pid)
			peak, err3 := testenv.MemoryField(pid, "VmHWM")
			if err := errors.Join(err1, err2, err3); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
			b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MB")
			b.ReportMetric((cpu1-cpu0).Seconds()*1000/frames, "cpu-ms/frame")
		})
	}
}
