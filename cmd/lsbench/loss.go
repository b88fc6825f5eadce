package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/netlab"
)

// loss runs bench (4): the share of complete 720p30 frames delivered
// through random packet loss, lsbroadcast against GStreamer, both sending
// the same JPEG loop in packets of at most 1400 bytes; and lsbroadcast
// again, read by lsview's receiver, which asks for lost packets again.
func (e *env) loss(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root for network namespaces")
	}
	np, err := netlab.New("lsbench")
	if err != nil {
		return err
	}
	defer np.Remove()
	for rep := range e.reps {
		for _, sys := range []string{ours, oursNACK, gst} {
			if err := e.lossOnce(ctx, np, sys, rep); err != nil && e.failed(ctx, fmt.Errorf("loss %s, rep %d: %w", sys, rep+1, err)) {
				return err
			}
		}
	}
	return nil
}

func (e *env) lossOnce(ctx context.Context, np *netlab.Pair, sys string, rep int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := np.SetLoss(0); err != nil {
		return err
	}
	var (
		s   *server
		f   *farm
		err error
	)
	if sys == ours || sys == oursNACK {
		if s, err = e.startOurs(ctx, np.A, np.IPA, "gocv:"+e.fan.avi, "1280x720"); err != nil {
			return err
		}
		defer s.p.stop()
		spec := s.farm
		spec.N = 1
		if sys == oursNACK {
			spec = farmSpec{RTSP: spec.RTSP, N: 1, NACK: true}
		}
		if f, err = startFarm(ctx, np.B, spec); err != nil {
			return err
		}
	} else {
		const port = 5004
		if f, err = startFarm(ctx, np.B, farmSpec{Host: np.IPB, Port: port, N: 1}); err != nil {
			return err
		}
		if s, err = e.startGst(ctx, np.A, np.IPB, port, 1); err != nil {
			f.close()
			return err
		}
		defer s.p.stop()
	}
	defer f.close()
	if err := e.flowing(s, f); err != nil {
		return err
	}
	time.Sleep(e.warmup)
	for _, pct := range e.losses {
		if err := np.SetLoss(pct); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := f.mark(); err != nil {
			return err
		}
		t0 := time.Now()
		time.Sleep(e.measure)
		c, err := f.mark()
		if err != nil {
			return err
		}
		expected := 30 * time.Since(t0).Seconds()
		got := float64(c.Frames[0])
		sm := sample{"delivered": min(1, got/expected), "bytes_frame": float64(c.Bytes) / max(1, got)}
		e.res.add(key{"loss", sys, fmt.Sprint(pct)}, sm)
		e.logf("loss rep %d %s %.1f%%: delivered %.3f", rep+1, sys, pct, sm["delivered"])
	}
	return nil
}
