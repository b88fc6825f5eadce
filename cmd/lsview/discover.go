package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
)

// chatProtocol is the chat protocol version this lsview speaks; a
// broadcaster announcing another is refused with a clear message rather
// than misunderstood.
const chatProtocol = chat.Version

// stream is one broadcaster, or a plain RTSP camera, as discovery shows it.
type stream struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`           // "lsview", or "rtsp" for video only
	Chat    string `json:"chat,omitempty"` // host:port of the chat service
	URL     string `json:"rtsp"`
	Size    string `json:"size,omitempty"`
	FPS     int    `json:"fps,omitempty"`
	Codec   string `json:"codec,omitempty"`
	Viewers int    `json:"viewers"`
	Proto   int    `json:"proto,omitempty"`
	ID      string `json:"id,omitempty"`

	joined *joined // set when finding the stream already joined its chat
}

func streamOf(e mdns.Entry) stream {
	s := stream{Name: e.Instance, URL: e.RTSPURL(), ID: e.TXT[mdns.KeyID]}
	if e.Type == mdns.RTSPType {
		s.Kind = "rtsp"
		return s
	}
	s.Kind, s.Chat = "lsview", e.Addr()
	s.Size, s.FPS, s.Codec = e.TXT[mdns.KeySize], e.Int(mdns.KeyFPS), e.TXT[mdns.KeyCodec]
	s.Viewers, s.Proto = e.Int(mdns.KeyViewers), e.Int(mdns.KeyProto)
	return s
}

// usable says why lsview can't play s, or nil.
func (s stream) usable() error {
	if s.Kind != "lsview" {
		return nil
	}
	if s.Proto != chatProtocol {
		return fmt.Errorf("%q speaks protocol version %d; this lsview speaks %d: install matching versions", s.Name, s.Proto, chatProtocol)
	}
	if s.Codec != "" && !strings.EqualFold(s.Codec, "jpeg") {
		return fmt.Errorf("%q sends %s video; lsview shows JPEG only", s.Name, s.Codec)
	}
	return nil
}

// directory is the live set of discovered streams. An _rtsp._tcp entry
// of one of our broadcasters (same instance id) is folded into its
// _lsview._tcp entry, so each camera is listed once.
type directory struct {
	entries map[string]mdns.Entry
}

func newDirectory() *directory { return &directory{entries: map[string]mdns.Entry{}} }

func (d *directory) apply(ev mdns.Event) {
	if ev.Kind == mdns.Gone {
		delete(d.entries, ev.Entry.Key())
		return
	}
	d.entries[ev.Entry.Key()] = ev.Entry
}

func (d *directory) streams() []stream {
	ours := map[string]bool{}
	for _, e := range d.entries {
		if e.Type == mdns.LsviewType && e.TXT[mdns.KeyID] != "" {
			ours[e.TXT[mdns.KeyID]] = true
		}
	}
	var out []stream
	for _, e := range d.entries {
		if e.Type == mdns.RTSPType && ours[e.TXT[mdns.KeyID]] {
			continue
		}
		if len(e.Addrs) == 0 {
			continue
		}
		out = append(out, streamOf(e))
	}
	slices.SortFunc(out, func(a, b stream) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), strings.Compare(a.Kind, b.Kind))
	})
	return out
}

// discover browses for d and returns what it found, or stops early when
// done says so.
func discover(ctx context.Context, ifs mdns.Interfaces, d time.Duration, log *slog.Logger, done func([]stream) bool) ([]stream, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	dir := newDirectory()
	b := &mdns.Browser{Interfaces: ifs, Logger: log}
	err := b.Run(ctx, func(ev mdns.Event) {
		dir.apply(ev)
		if done != nil && done(dir.streams()) {
			cancel()
		}
	})
	return dir.streams(), err
}

// nothingFound explains where we looked and how to connect without discovery.
func nothingFound(ifs mdns.Interfaces, d time.Duration) error {
	return fmt.Errorf("no broadcaster found %s", lookedWhere(ifs, d))
}

// lookedWhere names the interfaces searched and how to connect directly.
func lookedWhere(ifs mdns.Interfaces, d time.Duration) string {
	where := "on no interface (--mdns off)"
	if list, err := ifs.Resolve(); err == nil && len(list) > 0 {
		n := make([]string, len(list))
		for i, ifi := range list {
			n[i] = ifi.Name
		}
		where = "on " + strings.Join(n, ", ")
	}
	return fmt.Sprintf("%s within %v. Where multicast is blocked, connect directly: "+
		"lsview HOST[:PORT] or lsview rtsp://HOST:%d%s", where, d, defaultRTSPPort, defaultRTSPPath)
}

// runList is lsview --list [--json].
func runList(ctx context.Context, o *options, out io.Writer, log *slog.Logger) error {
	found, err := discover(ctx, o.mdns, o.wait, log, nil)
	if err != nil {
		return err
	}
	if o.json {
		if found == nil {
			found = []stream{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(found); err != nil {
			return err
		}
	} else if len(found) > 0 {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tSIZE\tFPS\tVIEWERS\tCHAT\tRTSP")
		for _, s := range found {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, dash(s.Size), dashInt(s.FPS, s.Kind),
				dashInt(s.Viewers, s.Kind), dash(s.Chat), s.URL)
		}
		tw.Flush()
	}
	if len(found) == 0 {
		return nothingFound(o.mdns, o.wait)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dashInt(n int, kind string) string {
	if kind != "lsview" {
		return "-"
	}
	return strconv.Itoa(n)
}

// resolve turns the target into a stream to play.
func resolve(ctx context.Context, o *options, log *slog.Logger) (stream, error) {
	t := o.target
	switch t.kind {
	case byURL:
		return stream{Name: t.host, Kind: "rtsp", URL: t.url}, nil
	case byHost:
		return hostStream(ctx, o, t.host, t.port, log), nil
	case byName:
		match := func(s stream) bool { return strings.EqualFold(s.Name, t.name) }
		found, err := discover(ctx, o.mdns, o.wait, log, func(ss []stream) bool { return slices.ContainsFunc(ss, match) })
		if err != nil {
			return stream{}, err
		}
		if i := slices.IndexFunc(found, match); i >= 0 {
			return found[i], found[i].usable()
		}
		// Not announced: perhaps a host name after all.
		if _, err := net.DefaultResolver.LookupHost(ctx, t.name); err == nil {
			return hostStream(ctx, o, t.name, defaultChatPort, log), nil
		}
		names := make([]string, len(found))
		for i, s := range found {
			names[i] = strconv.Quote(s.Name)
		}
		msg := fmt.Sprintf("no broadcaster named %q", t.name)
		if len(names) > 0 {
			msg += " (found: " + strings.Join(names, ", ") + ")"
		}
		return stream{}, fmt.Errorf("%s %s", msg, lookedWhere(o.mdns, o.wait))
	}
	return stream{}, errors.New("no target")
}

// hostStream is a broadcaster reached by address. Its chat welcome names
// the RTSP port and path; without a chat service there, the defaults are
// tried. The joined chat connection is kept for the window.
func hostStream(ctx context.Context, o *options, host string, chatPort int, log *slog.Logger) stream {
	s := stream{Name: host, Kind: "lsview",
		Chat:  net.JoinHostPort(host, strconv.Itoa(chatPort)),
		URL:   "rtsp://" + net.JoinHostPort(host, strconv.Itoa(defaultRTSPPort)) + defaultRTSPPath,
		Proto: chatProtocol}
	h, err := hello(o)
	if err != nil {
		return s
	}
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, w, err := chat.Dial(dctx, s.Chat, h)
	if err != nil {
		log.Info("no chat welcome; trying the default RTSP address", "chat", s.Chat, "error", err)
		return s
	}
	if w.Stream != nil && w.Stream.RTSPPort > 0 {
		path := w.Stream.RTSPPath
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		s.URL = "rtsp://" + net.JoinHostPort(host, strconv.Itoa(w.Stream.RTSPPort)) + path
		if w.Stream.Name != "" {
			s.Name = w.Stream.Name
		}
	}
	s.joined = &joined{c: c, welcome: w}
	return s
}

// joined is a chat connection made while finding the stream, handed to
// the window so it doesn't join twice.
type joined struct {
	c       *chat.Client
	welcome *chat.Msg
}

// firstUsable waits for the first stream lsview can play.
func firstUsable(ctx context.Context, o *options, log *slog.Logger) (stream, error) {
	ok := func(s stream) bool { return s.usable() == nil }
	found, err := discover(ctx, o.mdns, o.wait, log, func(ss []stream) bool { return slices.ContainsFunc(ss, ok) })
	if err != nil {
		return stream{}, err
	}
	if i := slices.IndexFunc(found, ok); i >= 0 {
		return found[i], nil
	}
	if len(found) > 0 {
		return stream{}, found[0].usable()
	}
	return stream{}, nothingFound(o.mdns, o.wait)
}
