package main

import (
	"context"
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

	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// listing is one stream as lsview --list --json prints it; scripts rely
// on these keys.
type listing struct {
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
	Page    string `json:"page,omitempty"` // the web viewer, http://host:port/
}

func listingOf(s viewer.Stream) listing {
	return listing{Name: s.Name, Kind: string(s.Kind), Chat: s.Chat, URL: s.URL, Size: s.Size(), FPS: s.FPS,
		Codec: s.Codec, Viewers: s.Viewers, Proto: s.Proto, ID: s.Instance, Page: s.PageURL()}
}

// discover browses for d and returns what it found, or stops early when
// done says so.
func discover(ctx context.Context, ifs mdns.Interfaces, d time.Duration, log *slog.Logger, done func([]viewer.Stream) bool) ([]viewer.Stream, error) {
	return viewer.Discover(ctx, &mdns.Browser{Interfaces: ifs, Logger: log}, d, done)
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
	list := make([]listing, len(found))
	for i, s := range found {
		list[i] = listingOf(s)
	}
	if o.json {
		if err := encodeJSON(out, list, true); err != nil {
			return err
		}
	} else if len(list) > 0 {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tSIZE\tFPS\tVIEWERS\tCHAT\tRTSP\tPAGE")
		for _, s := range list {
			t := textsafe.Terminal
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t(s.Name), t(s.Kind), t(dash(s.Size)), dashInt(s.FPS, s.Kind),
				dashInt(s.Viewers, s.Kind), t(dash(s.Chat)), t(s.URL), t(dash(s.Page)))
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
	if kind != string(viewer.KindLsview) {
		return "-"
	}
	return strconv.Itoa(n)
}

// resolve turns the target into a stream to play.
func resolve(ctx context.Context, o *options, log *slog.Logger) (viewer.Stream, error) {
	t := o.target
	switch t.kind {
	case byURL:
		return viewer.ResolveURL(ctx, t.url)
	case byHost:
		port := t.port
		if t.bare {
			port = 0
		}
		return viewer.ResolveHost(ctx, t.host, port)
	case byName:
		match := func(s viewer.Stream) bool { return strings.EqualFold(s.Name, t.name) }
		found, err := discover(ctx, o.mdns, o.wait, log, func(ss []viewer.Stream) bool { return slices.ContainsFunc(ss, match) })
		if err != nil {
			return viewer.Stream{}, err
		}
		if i := slices.IndexFunc(found, match); i >= 0 {
			return found[i], found[i].Usable()
		}
		// Not announced: perhaps a host name after all.
		if _, err := net.DefaultResolver.LookupHost(ctx, t.name); err == nil {
			return viewer.ResolveHost(ctx, t.name, 0)
		}
		names := make([]string, len(found))
		for i, s := range found {
			names[i] = strconv.Quote(s.Name)
		}
		msg := fmt.Sprintf("no broadcaster named %q", t.name)
		if len(names) > 0 {
			msg += " (found: " + strings.Join(names, ", ") + ")"
		}
		return viewer.Stream{}, fmt.Errorf("%s %s", msg, lookedWhere(o.mdns, o.wait))
	}
	return viewer.Stream{}, errors.New("no target")
}

// firstUsable waits for the first stream lsview can play.
func firstUsable(ctx context.Context, o *options, log *slog.Logger) (viewer.Stream, error) {
	ok := func(s viewer.Stream) bool { return s.Usable() == nil }
	found, err := discover(ctx, o.mdns, o.wait, log, func(ss []viewer.Stream) bool { return slices.ContainsFunc(ss, ok) })
	if err != nil {
		return viewer.Stream{}, err
	}
	if i := slices.IndexFunc(found, ok); i >= 0 {
		return found[i], nil
	}
	if len(found) > 0 {
		return viewer.Stream{}, found[0].Usable()
	}
	return viewer.Stream{}, nothingFound(o.mdns, o.wait)
}
