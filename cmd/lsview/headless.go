package main

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// runHeadless is lsview --headless: receive and decode as the window
// would, without one, then print the stats as JSON.
func runHeadless(ctx context.Context, o *options, s stream, out io.Writer, log *slog.Logger) error {
	if s.joined != nil {
		s.joined.c.Close() // it named the RTSP URL; headless doesn't chat
	}
	if o.seconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(o.seconds*float64(time.Second)))
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := newReceiver(s.URL, o.transport, log)
	errc := make(chan error, 1)
	go func() { errc <- r.run(ctx) }()

	var shown uint64
	var display samples
	var runErr error
loop:
	for {
		select {
		case runErr = <-errc:
			break loop
		case <-r.fresh:
			if p := r.take(); p != nil {
				display.add(time.Since(p.received))
				p.mat.Close()
				shown++
				if o.frames > 0 && shown >= uint64(o.frames) {
					cancel()
				}
			}
		}
	}
	if runErr != nil {
		return runErr
	}
	return writeStats(out, r.snapshot(shown, &display))
}
