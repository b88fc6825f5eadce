package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

const (
	ours = "lsbroadcast"
	gst  = "GStreamer"
	// oursNACK is ours read by lsview's receiver, which asks for lost
	// packets again (the loss benchmark only).
	oursNACK = "lsbroadcast+NACK"
)

// server is a running stream sender and the farm spec that reads it.
type server struct {
	p    *proc
	farm farmSpec // N still to be set
}

// startOurs runs bin/lsbroadcast on host (inside ns when set) serving
// source at size, 30 fps.
func (e *env) startOurs(ctx context.Context, ns, host, source, size string) (*server, error) {
	base, err := testenv.FreeUDPRun("127.0.0.1", 4)
	if err != nil {
		return nil, err
	}
	chat, err := testenv.FreeUDPRun("127.0.0.1", 2)
	if err != nil {
		return nil, err
	}
	p, err := startProc(ctx, ns, filepath.Join(e.bin, "lsbroadcast"),
		"--source", source, "--size", size, "--fps", "30", "--quality", fmt.Sprint(e.quality),
		"--listen", host, "--rtsp-port", fmt.Sprint(base), "--rtp-port", fmt.Sprint(base+2),
		"--chat-port", fmt.Sprint(chat), "--multicast", "off", "--mdns", "off", "--http-port", "off",
		// Every reader of the farm comes from one address.
		"--rtsp-max-readers", "256", "--rtsp-max-per-address", "256",
		"--state-dir", filepath.Join(e.tmp, fmt.Sprintf("state-%d", base)), "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(host, fmt.Sprint(base))
	// The port opens before the first frame; the farm's warm-up covers the
	// rest. Dialling into a namespace needs to be in it, so there we wait on
	// the farm's own retries instead.
	if ns == "" {
		if err := testenv.DialWait(addr, 60*time.Second); err != nil {
			p.stop()
			return nil, fmt.Errorf("lsbroadcast: %w: %s", err, p.tail)
		}
	} else {
		time.Sleep(2 * time.Second)
	}
	return &server{p: p, farm: farmSpec{RTSP: "rtsp://" + addr + "/live"}}, nil
}

// gstClients lists n receivers at host:port… for multiudpsink.
func gstClients(host string, port, n int) string {
	var c []string
	for i := range n {
		c = append(c, fmt.Sprintf("%s:%d", host, port+i))
	}
	return strings.Join(c, ",")
}

// startGst runs GStreamer doing the same work as lsbroadcast on the same
// frames when lsbroadcast transcodes them (the loss benchmark's --source
// gocv:FILE): decode each JPEG of the loop, encode it again at the same
// quality, packetise to RTP/JPEG in packets of the same size and send it to
// every receiver, paced at 30 fps by the sink's clock.
func (e *env) startGst(ctx context.Context, ns, host string, port, n int) (*server, error) {
	return e.startGstPipeline(ctx, ns, host, port, n,
		"multifilesrc", "location="+e.fan.pattern, "loop=true", "caps=image/jpeg,framerate=30/1",
		"!", "jpegdec", "!", "jpegenc", fmt.Sprintf("quality=%d", e.quality))
}

// startGstAsIs runs GStreamer doing the same work as lsbroadcast's file
// source: each JPEG of the loop as it is, packetised and sent the same
// way. multifilesrc gives JPEGs without timestamps, which rtpjpegpay can't
// stamp and multiudpsink can't pace, and jpegparse, which would stamp
// them, is in gst-plugins-bad; avidemux only reads the same JPEGs out of
// an AVI with their times.
func (e *env) startGstAsIs(ctx context.Context, ns, host string, port, n int) (*server, error) {
	return e.startGstPipeline(ctx, ns, host, port, n, "filesrc", "location="+e.fan.long, "!", "avidemux")
}

// startGstPipeline runs source, then rtpjpegpay and multiudpsink.
func (e *env) startGstPipeline(ctx context.Context, ns, host string, port, n int, source ...string) (*server, error) {
	argv := append([]string{"gst-launch-1.0", "-q"}, source...)
	argv = append(argv, "!", "rtpjpegpay", "mtu=1400",
		"!", "multiudpsink", "clients="+gstClients(host, port, n), "sync=true")
	p, err := startProc(ctx, ns, argv...)
	if err != nil {
		return nil, err
	}
	return &server{p: p}, nil
}

// window measures the sender for e.window after a warm-up and returns CPU
// seconds, wall time and the farm's counts over the same stretch.
func (e *env) window(s *server, f *farm) (sample, error) {
	if err := e.flowing(s, f); err != nil {
		return nil, err
	}
	time.Sleep(e.warmup)
	if _, err := f.mark(); err != nil {
		return nil, err
	}
	pid := s.p.cmd.Process.Pid
	c0, t0 := testenv.TreeCPUTime(pid).Seconds(), time.Now()
	time.Sleep(e.measure)
	c1, t1 := testenv.TreeCPUTime(pid).Seconds(), time.Now()
	counts, err := f.mark()
	if err != nil {
		return nil, err
	}
	var frames int64
	for _, v := range counts.Frames {
		frames += v
	}
	n := float64(len(counts.Frames))
	wall := t1.Sub(t0).Seconds()
	expected := 30 * wall * n
	cpu := c1 - c0
	out := sample{
		"cpu_s":       cpu,
		"cpu_pct":     100 * cpu / wall,
		"rss_mb":      float64(testenv.TreeRSS(pid)) / (1 << 20),
		"delivered":   min(1, float64(frames)/expected),
		"frames":      float64(frames),
		"bytes_frame": float64(counts.Bytes) / max(1, float64(frames)),
	}
	if frames > 0 {
		out["cpu_ms_frame_reader"] = 1000 * cpu / float64(frames)
	}
	return out, nil
}

// flowing waits until frames reach the readers: on a loaded machine
// lsbroadcast's OpenCV helper can take seconds to load, and a window opened
// before would measure its start, not the stream. One reader with a frame
// shows the sender is streaming; readers still without one after the
// warm-up are part of what the window measures.
func (e *env) flowing(s *server, f *farm) error {
	for deadline := time.Now().Add(60 * time.Second); ; {
		c, err := f.mark()
		if err != nil {
			return err
		}
		for _, n := range c.Frames {
			if n > 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no frame at any reader within 60 s: %s", s.p.tail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// fanout runs bench (1) for every reader count, systems interleaved in
// each repetition so both see the same load.
func (e *env) fanout(ctx context.Context) error {
	for rep := range e.reps {
		for _, n := range e.readers {
			for _, sys := range []string{ours, gst} {
				s, err := e.fanoutOnce(ctx, sys, n)
				if err != nil {
					if e.failed(ctx, fmt.Errorf("fan-out %s, %d readers, rep %d: %w", sys, n, rep+1, err)) {
						return err
					}
					continue
				}
				e.res.add(key{"fanout", sys, fmt.Sprint(n)}, s)
				e.logf("fan-out rep %d %s readers=%d: %.2f ms/frame/reader, delivered %.3f, %.0f MB",
					rep+1, sys, n, s["cpu_ms_frame_reader"], s["delivered"], s["rss_mb"])
			}
		}
	}
	return nil
}

func (e *env) fanoutOnce(ctx context.Context, sys string, n int) (sample, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		s   *server
		f   *farm
		err error
	)
	if sys == ours {
		if s, err = e.startOurs(ctx, "", "127.0.0.1", "file:"+e.fan.mjpeg, "1280x720"); err != nil {
			return nil, err
		}
		defer s.p.stop()
		port, err := testenv.FreeUDPRun("127.0.0.1", 2*n)
		if err != nil {
			return nil, err
		}
		spec := s.farm
		spec.N, spec.Host, spec.Port = n, "127.0.0.1", port
		if f, err = startFarm(ctx, "", spec); err != nil {
			return nil, err
		}
	} else {
		port, err := testenv.FreeUDPRun("127.0.0.1", n)
		if err != nil {
			return nil, err
		}
		if f, err = startFarm(ctx, "", farmSpec{Host: "127.0.0.1", Port: port, N: n}); err != nil {
			return nil, err
		}
		if s, err = e.startGstAsIs(ctx, "", "127.0.0.1", port, n); err != nil {
			f.close()
			return nil, err
		}
		defer s.p.stop()
	}
	defer f.close()
	out, err := e.window(s, f)
	if err != nil {
		return nil, err
	}
	if calls, secs, err := syscalls(ctx, s.p.cmd.Process.Pid); err == nil {
		out["syscalls_frame"] = float64(calls) / (30 * secs)
	} else {
		e.log.Warn("system calls not counted", "error", err)
	}
	return out, nil
}

// straceWindow is how long strace counts a sender's system calls, after
// the CPU window: tracing slows what it traces, so never during it.
const straceWindow = 3 * time.Second

// syscalls counts the system calls of pid and all its threads over
// straceWindow with strace -c, and returns them with the seconds counted.
func syscalls(ctx context.Context, pid int) (int64, float64, error) {
	if _, err := exec.LookPath("strace"); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, straceWindow+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "strace", "-c", "-f", "-p", fmt.Sprint(pid))
	var out bytes.Buffer
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	time.Sleep(straceWindow)
	cmd.Process.Signal(os.Interrupt)
	secs := time.Since(t0).Seconds()
	if err := cmd.Wait(); err != nil && ctx.Err() != nil {
		return 0, 0, err
	}
	return parseStraceTotal(out.String(), secs)
}

// parseStraceTotal reads the calls column of strace -c's total line.
func parseStraceTotal(table string, secs float64) (int64, float64, error) {
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[len(f)-1] == "total" {
			n, err := strconv.ParseInt(f[3], 10, 64)
			return n, secs, err
		}
	}
	return 0, 0, fmt.Errorf("no total in strace's output: %q", table)
}
