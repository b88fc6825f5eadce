package main

import (
	"context"
	"image"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// runHeadless is lsview --headless: receive and decode every picture
// without a window (to grey, small: see decoder), then print the stats as
// JSON.
func runHeadless(ctx context.Context, o *options, st viewer.Stream, w io.Writer, log *slog.Logger) error {
	if o.seconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(o.seconds*float64(time.Second)))
		defer cancel()
	}
	p, err := startPlayer(ctx, o, st, true, log)
	if err != nil {
		return err
	}
	defer p.close()
	// Chat is received too, and counted by the session: monitoring sees it
	// work, and sees the host's current announcements.
	updates := p.session.Updates()
	var ann announcements
	var size image.Point // the stream's, from the newest picture
	for done := false; !done; {
		select {
		case <-p.done:
			done = true
		case up, ok := <-updates:
			if !ok {
				updates = nil
				continue
			}
			ann.apply(up)
		case <-p.dec.fresh:
			if pic := p.dec.take(); pic != nil {
				size = pic.full
				p.showed(pic)
				p.dec.recycle(pic.mat)
				if o.frames > 0 && p.shown >= uint64(o.frames) {
					p.cancel()
				}
			}
		}
	}
	if p.err != nil {
		return p.err
	}
	out := headlessStats{stats: p.stats(), Announcements: ann.list(), Controls: map[string]int64{}, Width: size.X, Height: size.Y}
	for _, c := range p.session.Controls() {
		if c.Kind != "button" { // a button has no value to report
			out.Controls[c.Key] = c.Value
		}
	}
	s := p.session.Stats()
	out.ChatMessages, out.Chat = s.ChatMessages, s.Chat
	return encodeJSON(w, out, false)
}

// headlessStats is what --headless prints: the stats, the host's
// announcements current at the end, the broadcaster's settings (key to
// value; empty when it has none or speaks chat protocol 1) and the size of
// the newest picture.
type headlessStats struct {
	stats
	Announcements []announcement   `json:"announcements"`
	Controls      map[string]int64 `json:"controls"`
	Width         int              `json:"width"`
	Height        int              `json:"height"`
}

// announcement is one of the host's current announcements, as --headless
// prints it.
type announcement struct {
	ID   uint64 `json:"id"`
	Text string `json:"text"`
	From string `json:"from,omitempty"` // who posted or last edited it, if this viewer saw it
}

// announcements follows the chat's current set from its updates.
type announcements struct {
	text map[uint64]string
	from map[uint64]string
}

func (a *announcements) apply(up viewer.ChatUpdate) {
	if a.from == nil {
		a.from = map[uint64]string{}
	}
	for _, l := range up.Lines {
		if l.Announcement != 0 {
			a.from[l.Announcement] = l.Name
		}
	}
	if up.Announcements != nil {
		a.text = maps.Clone(up.Announcements)
	}
}

// list is the current set by id, oldest first; empty, not null, when
// there is none, so a reader can tell "none" from an older lsview.
func (a *announcements) list() []announcement {
	out := []announcement{}
	for _, id := range slices.Sorted(maps.Keys(a.text)) {
		out = append(out, announcement{ID: id, Text: a.text[id], From: a.from[id]})
	}
	return out
}
