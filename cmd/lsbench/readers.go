package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// readerBench runs bench (6): lsview --headless against ffmpeg reading the
// same lsbroadcast stream over UDP, both decoding every picture (lsview
// with OpenCV, ffmpeg to its null sink): CPU per decoded frame and peak
// RSS, at 720p30 and 1080p30.
func (e *env) readerBench(ctx context.Context) error {
	sizes := []string{"1280x720", "1920x1080"}
	if len(e.sizes) == 1 {
		sizes = sizes[:1]
	}
	for rep := range e.reps {
		for _, size := range sizes {
			if err := e.readersOnce(ctx, size, rep); err != nil && e.failed(ctx, fmt.Errorf("readers %s, rep %d: %w", size, rep+1, err)) {
				return err
			}
		}
	}
	return nil
}

const lsviewName = "lsview --headless"

var ffmpegFrame = regexp.MustCompile(`frame=\s*(\d+)`)

func (e *env) readersOnce(ctx context.Context, size string, rep int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := e.startOurs(ctx, "", "127.0.0.1", "pattern", size)
	if err != nil {
		return err
	}
	defer s.p.stop()
	time.Sleep(e.warmup)
	secs := e.measure.Seconds()
	for _, sys := range []string{lsviewName, ffmpegName} {
		var cmd *exec.Cmd
		if sys == lsviewName {
			cmd = exec.CommandContext(ctx, filepath.Join(e.bin, "lsview"), "--headless", "--seconds", fmt.Sprint(secs),
				"--transport", "udp", "--mdns", "off", "--log-level", "error", s.farm.RTSP)
		} else {
			cmd = exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-rtsp_transport", "udp", "-i", s.farm.RTSP,
				"-t", fmt.Sprint(secs), "-f", "null", "-")
		}
		cmd.WaitDelay = 3 * time.Second
		var buf tailWriter
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			return err
		}
		// Peak RSS from the kernel's high-water mark while it runs: the
		// rusage of wait4 would include lsbench's own memory, inherited
		// across the vfork and exec that started it.
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var peak float64
	poll:
		for {
			if v, err := testenv.MemoryField(cmd.Process.Pid, "VmHWM"); err == nil && v > 0 {
				peak = float64(v) / (1 << 20)
			}
			select {
			case err = <-done:
				break poll
			case <-time.After(100 * time.Millisecond):
			}
		}
		out := buf.bytes()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", sys, err, tailOf(out))
		}
		var frames float64
		if sys == lsviewName {
			var st struct {
				Decoded float64 `json:"decoded"`
			}
			// The stats are the last line; logs, if any, come before.
			lines := regexp.MustCompile(`(?m)^\{.*\}$`).FindAll(out, -1)
			if len(lines) == 0 || json.Unmarshal(lines[len(lines)-1], &st) != nil {
				return fmt.Errorf("lsview printed no stats: %s", tailOf(out))
			}
			frames = st.Decoded
		} else {
			m := ffmpegFrame.FindAllSubmatch(out, -1)
			if len(m) == 0 {
				return fmt.Errorf("ffmpeg printed no frame count: %s", tailOf(out))
			}
			frames, _ = strconv.ParseFloat(string(m[len(m)-1][1]), 64)
		}
		sm := sample{"frames": frames, "cpu_s": childCPU(cmd), "peak_rss_mb": peak}
		if frames > 0 {
			sm["cpu_ms_frame"] = 1000 * sm["cpu_s"] / frames
		}
		e.res.add(key{"readers", sys, size + "p30"}, sm)
		e.logf("readers rep %d %s %s: %.0f frames, %.2f ms CPU/frame, peak %.0f MB", rep+1, sys, size, frames, sm["cpu_ms_frame"], sm["peak_rss_mb"])
	}
	return nil
}

// v4l2 is bench (5): capture plus encode CPU a frame, capture/v4l2 against
// µStreamer, on vivid inside the amd64 VM of packaging/vm, through that
// package's BenchmarkVsUStreamer (one VM boot a repetition, each program
// alone on the device for the same window). Under TCG the absolute figures
// are the emulator's; the ratio is what to read.
func (e *env) v4l2(ctx context.Context) error {
	if e.vmDir == "" {
		e.skip["v4l2"] = "no VM was given (--vm-dir): `make bench` builds packaging/out/vm and passes it"
		return nil
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-tags", "vmtest", "-run", "^$", "-bench", "VsUStreamer",
		"-benchtime", "1x", "-count", strconv.Itoa(e.reps), "-timeout", "60m", "./packaging/vm/")
	cmd.Env = append(os.Environ(), "VM_DIR="+e.vmDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("VM benchmark: %w\n%s", err, out)
	}
	reps := parseVMBench(string(out))
	if len(reps) == 0 {
		return fmt.Errorf("VM benchmark printed no results:\n%s", out)
	}
	for i, rep := range reps {
		for size, cpu := range rep {
			e.res.add(key{"v4l2", ours, size}, sample{"cpu_ms_frame": cpu[0]})
			e.res.add(key{"v4l2", ustreamerName, size}, sample{"cpu_ms_frame": cpu[1]})
			e.logf("v4l2 rep %d %s: ours %.1f ms CPU/frame, µStreamer %.1f", i+1, size, cpu[0], cpu[1])
		}
	}
	return nil
}

const ustreamerName = "µStreamer"

// parseVMBench reads BenchmarkVsUStreamer's result lines: per repetition,
// per size, CPU ms a frame of ours and of µStreamer.
func parseVMBench(out string) []map[string][2]float64 {
	var reps []map[string][2]float64
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "BenchmarkVsUStreamer") {
			continue
		}
		rep := map[string][2]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if size, ok := strings.CutPrefix(f[i+1], "ms-cpu/frame-lsb-"); ok {
				c := rep[size]
				c[0] = v
				rep[size] = c
			} else if size, ok := strings.CutPrefix(f[i+1], "ms-cpu/frame-ustreamer-"); ok {
				c := rep[size]
				c[1] = v
				rep[size] = c
			}
		}
		for size, c := range rep {
			if c[0] <= 0 || c[1] <= 0 {
				delete(rep, size)
			}
		}
		if len(rep) > 0 {
			reps = append(reps, rep)
		}
	}
	return reps
}
