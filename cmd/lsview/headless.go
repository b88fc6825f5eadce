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

	// Chat is received too, and counted: monitoring sees it work.
	var updates <-chan chatUpdate
	chatStatus := ""
	if s.Kind == "lsview" && s.Chat != "" {
		h, err := hello(o)
		if err != nil {
			return err
		}
		session := newChatSession(s.Chat, h, s.joined, log)
		done := make(chan struct{})
		go func() {
			defer close(done)
			session.run(ctx)
		}()
		defer func() { cancel(); <-done }()
		updates = session.updates
	} else if s.joined != nil {
		s.joined.c.Close()
	}
	var chatMessages uint64

	var shown uint64
	var display samples
	var runErr error
loop:
	for {
		select {
		case runErr = <-errc:
			break loop
		case u := <-updates:
			for _, l := range u.lines {
				if !l.note {
					chatMessages++
				}
			}
			if u.status != "" {
				chatStatus = u.status
			}
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
	st := r.snapshot(shown, &display)
	st.ChatMessages, st.Chat = chatMessages, chatStatus
	return writeStats(out, st)
}
