package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// runHeadless is lsview --headless: receive and decode as the window
// would, without one, then print the stats as JSON.
func runHeadless(ctx context.Context, o *options, st viewer.Stream, w io.Writer, log *slog.Logger) error {
	if o.seconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(o.seconds*float64(time.Second)))
		defer cancel()
	}
	p, err := startPlayer(ctx, o, st, log)
	if err != nil {
		return err
	}
	defer p.close()
	// Chat is received too, and counted by the session: monitoring sees it
	// work. Its updates are read only to keep it flowing.
	updates := p.session.Updates()
	for done := false; !done; {
		select {
		case <-p.done:
			done = true
		case _, ok := <-updates:
			if !ok {
				updates = nil
			}
		case <-p.dec.fresh:
			if pic := p.dec.take(); pic != nil {
				p.showed(pic)
				pic.mat.Close()
				if o.frames > 0 && p.shown >= uint64(o.frames) {
					p.cancel()
				}
			}
		}
	}
	if p.err != nil {
		return p.err
	}
	out := p.stats()
	s := p.session.Stats()
	out.ChatMessages, out.Chat = s.ChatMessages, s.Chat
	return writeStats(w, out)
}
