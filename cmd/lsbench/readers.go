package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
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
			if v := statusMB(cmd.Process.Pid, "VmHWM"); v > 0 {
				peak = v
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

// v4l2 is bench (5), µStreamer against us on vivid inside the VM. It is
// not measured by this driver: see the reason recorded for the report.
func (e *env) v4l2(context.Context) error {
	e.skip["v4l2"] = "the VM harness (packaging/vm) boots under TCG emulation on this host, where CPU per frame measures the emulator, not the camera path; vivid needs a kernel module this container cannot load"
	return nil
}
