package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// BenchmarkFirstFrame: from the moment a stream is chosen to its first
// decoded picture (first_frame_ms), and to lsview's exit with one frame.
func BenchmarkFirstFrame(b *testing.B) {
	br := testenv.StartBroadcaster(b, "1280x720", 30, nil)
	var first float64
	var wall time.Duration
	for b.Loop() {
		t0 := time.Now()
		st, _ := headless(b, "--frames", "1", br.URL())
		wall += time.Since(t0)
		first += st.FirstFrameMS
	}
	b.ReportMetric(first/float64(b.N), "first-frame-ms")
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "exec-to-exit-ms")
}

// BenchmarkHeadless1080p30CPU: lsview's CPU, in cores, while it receives
// and decodes 1080p at 30 fps for 10 s, beside the broadcaster's own in
// the same run.
func BenchmarkHeadless1080p30CPU(b *testing.B) {
	br := testenv.StartBroadcaster(b, "1920x1080", 30, nil)
	bin, _ := binaries(b)
	var viewCores, sendCores, fps float64
	for b.Loop() {
		const secs = 10
		sent0, t0 := testenv.TreeCPUTime(br.Cmd.Process.Pid), time.Now()
		p := testenv.Start(b, exec.Command(bin, "--headless", "--seconds", strconv.Itoa(secs), br.URL()))
		p.Wait(b, 60*time.Second)
		wall := time.Since(t0).Seconds()
		sendCores += (testenv.TreeCPUTime(br.Cmd.Process.Pid) - sent0).Seconds() / wall
		ps := p.Cmd.ProcessState
		viewCores += (ps.UserTime() + ps.SystemTime()).Seconds() / wall
		var st stats
		if err := json.Unmarshal([]byte(p.Stdout.String()), &st); err != nil {
			b.Fatal(err)
		}
		fps += st.FPS
	}
	n := float64(b.N)
	b.ReportMetric(viewCores/n, "lsview-cores")
	b.ReportMetric(sendCores/n, "lsbroadcast-cores")
	b.ReportMetric(viewCores/sendCores, "lsview/lsbroadcast")
	b.ReportMetric(fps/n, "fps")
}

// BenchmarkWindowLatency: the window under Xvfb showing 1080p30 in a
// 1280x720 canvas for 10 s: received-to-shown latency and lsview's CPU.
func BenchmarkWindowLatency(b *testing.B) {
	x := startXvfb(b)
	br := testenv.StartBroadcaster(b, "1920x1080", 30, nil)
	bin, _ := binaries(b)
	var p50, p99, cores, fps float64
	for b.Loop() {
		t0 := time.Now()
		p := testenv.Start(b, x.command(bin, "--stats", br.URL()))
		id := x.window(b, "lsview", 20*time.Second)
		time.Sleep(10 * time.Second)
		x.command("xdotool", "key", "--window", id, "Escape").Run()
		p.Wait(b, 20*time.Second)
		wall := time.Since(t0).Seconds()
		var st stats
		if err := json.Unmarshal([]byte(p.Stdout.String()), &st); err != nil {
			b.Fatalf("%v: %q", err, p.Stdout.String())
		}
		p50 += st.Display.P50
		p99 += st.Display.P99
		fps += st.FPS
		ps := p.Cmd.ProcessState
		cores += (ps.UserTime() + ps.SystemTime()).Seconds() / wall
	}
	n := float64(b.N)
	b.ReportMetric(p50/n, "shown-p50-ms")
	b.ReportMetric(p99/n, "shown-p99-ms")
	b.ReportMetric(fps/n, "fps")
	b.ReportMetric(cores/n, "lsview-cores")
}

// BenchmarkWindowVsFFmpeg: the window's CPU per frame shown, whole
// process from exec (OpenCV's and Qt's start-up included), under Xvfb,
// against `ffmpeg -i URL -f null -` decoding the same stream for as long
// in the same run; at 720p30 and 1080p30, over 4 s and 16 s.
func BenchmarkWindowVsFFmpeg(b *testing.B) {
	testenv.NeedTools(b, "ffmpeg")
	x := startXvfb(b)
	bin, _ := binaries(b)
	for _, size := range []string{"1280x720", "1920x1080"} {
		br := testenv.StartBroadcaster(b, size, 30, nil)
		for _, secs := range []int{4, 16} {
			b.Run(fmt.Sprintf("%s/%ds", size, secs), func(b *testing.B) {
				var win, ff, p50, p99 float64
				for b.Loop() {
					p := testenv.Start(b, x.command(bin, "--stats", "--transport", "udp", br.ChatAddr()))
					id := x.window(b, "lsview", 20*time.Second)
					time.Sleep(time.Duration(secs) * time.Second)
					cpu, err := testenv.CPUTime(p.Cmd.Process.Pid)
					if err != nil {
						b.Fatal(err)
					}
					x.command("xdotool", "key", "--window", id, "Escape").Run()
					p.Wait(b, 20*time.Second)
					var st stats
					if err := json.Unmarshal([]byte(p.Stdout.String()), &st); err != nil || st.Shown == 0 {
						b.Fatalf("%v: %q", err, p.Stdout.String())
					}
					win += cpu.Seconds() * 1000 / float64(st.Shown)
					p50 += st.Display.P50
					p99 += st.Display.P99

					f := testenv.Start(b, exec.Command("ffmpeg", "-nostdin", "-rtsp_transport", "udp", "-i", br.URL(),
						"-t", strconv.Itoa(secs), "-f", "null", "-"))
					f.Wait(b, time.Duration(secs+30)*time.Second)
					m := ffmpegFrames.FindAllStringSubmatch(f.Stderr.String(), -1)
					if len(m) == 0 {
						b.Fatalf("ffmpeg printed no frame count: %s", f.Stderr.String())
					}
					frames, _ := strconv.Atoi(m[len(m)-1][1])
					ps := f.Cmd.ProcessState
					ff += (ps.UserTime() + ps.SystemTime()).Seconds() * 1000 / float64(frames)
				}
				n := float64(b.N)
				b.ReportMetric(win/n, "window-ms/frame")
				b.ReportMetric(ff/n, "ffmpeg-ms/frame")
				b.ReportMetric(win/ff, "window/ffmpeg")
				b.ReportMetric(p50/n, "shown-p50-ms")
				b.ReportMetric(p99/n, "shown-p99-ms")
			})
		}
	}
}

var ffmpegFrames = regexp.MustCompile(`frame=\s*(\d+)`)
