package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// patternLoop is how many distinct numbered frames the latency run cycles
// through: two seconds, far longer than any latency, so a frame number
// names one sending.
const patternLoop = 60

// patternFrames renders numbered 720p test-pattern frames: the receiver
// reads the number back from the picture, whoever packetised it.
func (e *env) patternFrames(ctx context.Context) ([]capture.Frame, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []capture.Frame
	src := &pattern.Source{Size: capture.Size{W: 1280, H: 720}, FPS: 1000, Quality: e.quality, Workers: 1}
	err := src.Run(ctx, func(f capture.Frame) {
		if len(out) < patternLoop {
			out = append(out, f)
		}
		if len(out) == patternLoop {
			cancel()
		}
	})
	if len(out) < patternLoop {
		return nil, errors.Join(errors.New("pattern source stopped early"), err)
	}
	return out, nil
}

// latency runs bench (3): from the moment a JPEG is handed to the sender
// to the moment the reader holds the complete frame, ours (netio/rtsp,
// the server inside lsbroadcast) against GStreamer (fdsrc !
// multipartdemux ! rtpjpegpay ! udpsink). The same Go receiver reads both, in its own
// process, so only the senders differ.
func (e *env) latency(ctx context.Context) error {
	frames, err := e.patternFrames(ctx)
	if err != nil {
		return err
	}
	for rep := range e.reps {
		for _, sys := range []string{ours, gst} {
			s, err := e.latencyOnce(ctx, sys, frames)
			if err != nil {
				if e.failed(ctx, fmt.Errorf("latency %s, rep %d: %w", sys, rep+1, err)) {
					return err
				}
				continue
			}
			e.res.add(key{"latency", sys, "720p30"}, s)
			e.logf("latency rep %d %s: p50 %.2f ms p99 %.2f ms, matched %.3f", rep+1, sys, s["p50_ms"], s["p99_ms"], s["matched"])
		}
	}
	return nil
}

func (e *env) latencyOnce(ctx context.Context, sys string, frames []capture.Frame) (sample, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	port, err := testenv.FreeUDPRun("127.0.0.1", 4)
	if err != nil {
		return nil, err
	}
	var (
		send func([]byte) error
		f    *farm
	)
	if sys == ours {
		srv := &rtsp.Server{Host: "127.0.0.1", Port: port, RTPPort: port + 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if err := srv.Listen(); err != nil {
			return nil, err
		}
		srvCtx, stopSrv := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(srvCtx) }()
		defer func() { stopSrv(); <-served }()
		send = func(j []byte) error { return srv.WriteJPEG(j, time.Now()) }
		if f, err = startFarm(ctx, "", farmSpec{RTSP: srv.URL("127.0.0.1"), N: 1, Record: true}); err != nil {
			return nil, err
		}
	} else {
		if f, err = startFarm(ctx, "", farmSpec{Host: "127.0.0.1", Port: port, N: 1, Record: true}); err != nil {
			return nil, err
		}
		// Frames go in as multipart parts with their length, so the demuxer
		// hands each on as soon as its last byte is in, as an appsrc would;
		// a parser that looks for the next frame's start would add a frame
		// interval. Timestamps from fdsrc give each frame its own RTP
		// time, as a camera's would. capssetter gives the payloader the fixed caps it wants.
		cmd := exec.CommandContext(ctx, "gst-launch-1.0", "-q", "fdsrc", "fd=0", "do-timestamp=true", "!", "multipartdemux", "boundary=lsb", "single-stream=true",
			"!", "capssetter", "caps=image/jpeg,width=1280,height=720,framerate=30/1", "!", "rtpjpegpay", "mtu=1400", "!", "udpsink", "host=127.0.0.1", fmt.Sprintf("port=%d", port), "sync=false", "async=false")
		cmd.WaitDelay = 3 * time.Second
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		tail := &tailWriter{}
		cmd.Stderr = tail
		if err := cmd.Start(); err != nil {
			f.close()
			return nil, err
		}
		defer func() { in.Close(); _ = cmd.Wait() }()
		send = func(j []byte) error {
			part := fmt.Appendf(nil, "--lsb\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(j))
			part = append(append(part, j...), "\r\n"...)
			if _, err := in.Write(part); err != nil {
				return fmt.Errorf("gst-launch: %w: %s", err, tail)
			}
			return nil
		}
	}
	// Send for warm-up plus the window, at 30 fps, noting when each
	// numbered frame was handed over.
	sent := map[uint32][]time.Time{}
	// Frames of the warm-up (readers joining, caches filling) are sent but
	// not timed.
	warm := int(e.warmup / (time.Second / 30))
	total := warm + int(e.measure/(time.Second/30))
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for i := range total {
		<-tick.C
		fr := frames[i%len(frames)]
		now := time.Now()
		if err := send(fr.JPEG); err != nil {
			f.close()
			return nil, err
		}
		if i >= warm {
			sent[uint32(fr.Seq)] = append(sent[uint32(fr.Seq)], now)
		}
	}
	time.Sleep(300 * time.Millisecond)
	var lat []float64
	for _, line := range f.close() {
		seq, at, ok := parseRecord(line)
		if !ok {
			continue
		}
		// The latest sending of that number before it arrived.
		var best time.Time
		for _, t := range sent[seq] {
			if !t.After(at) && t.After(best) {
				best = t
			}
		}
		if !best.IsZero() {
			lat = append(lat, float64(at.Sub(best).Microseconds())/1000)
		}
	}
	if len(lat) == 0 {
		return nil, errors.New("no frame arrived")
	}
	slices.Sort(lat)
	return sample{
		"p50_ms":  lat[len(lat)/2],
		"p99_ms":  lat[min(len(lat)-1, len(lat)*99/100)],
		"matched": float64(len(lat)) / float64(total-warm),
	}, nil
}
