package viewer

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
)

// Directory is the live set of discovered streams. An _rtsp._tcp entry of
// one of our broadcasters (same instance id) is folded into its
// _lsview._tcp entry, so each camera is listed once. Not safe for
// concurrent use: one goroutine applies events and lists.
type Directory struct {
	entries map[string]mdns.Entry
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory { return &Directory{entries: map[string]mdns.Entry{}} }

// Apply takes one browse event.
func (d *Directory) Apply(ev mdns.Event) {
	if ev.Kind == mdns.Gone {
		delete(d.entries, ev.Entry.Key())
		return
	}
	d.entries[ev.Entry.Key()] = ev.Entry
}

// Streams lists what is there now, by name.
func (d *Directory) Streams() []Stream {
	ours := map[string]bool{}
	for _, e := range d.entries {
		if e.Type == mdns.LsviewType && e.TXT[mdns.KeyID] != "" {
			ours[e.TXT[mdns.KeyID]] = true
		}
	}
	var out []Stream
	for _, e := range d.entries {
		if e.Type == mdns.RTSPType && ours[e.TXT[mdns.KeyID]] {
			continue
		}
		if len(e.Addrs) == 0 {
			continue
		}
		out = append(out, FromEntry(e))
	}
	slices.SortFunc(out, func(a, b Stream) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(string(a.Kind), string(b.Kind)))
	})
	return out
}

// Discover browses with b for wait and returns what it found, or stops
// early when done (if not nil) says the list so far is enough.
func Discover(ctx context.Context, b *mdns.Browser, wait time.Duration, done func([]Stream) bool) ([]Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	dir := NewDirectory()
	err := b.Run(ctx, func(ev mdns.Event) {
		dir.Apply(ev)
		if done != nil && done(dir.Streams()) {
			cancel()
		}
	})
	return dir.Streams(), err
}
