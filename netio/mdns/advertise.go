package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grandcat/zeroconf"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// Service types and the domain we announce in.
const (
	LsviewType = "_lsview._tcp"
	RTSPType   = "_rtsp._tcp"
	HTTPType   = "_http._tcp" // the web viewer, for any Bonjour or Avahi browser
	domain     = "local."
)

// TXT keys of the _lsview._tcp record (and id, path on _rtsp._tcp), each
// carrying a field of netio.Stream. Keys stay at most 9 bytes as RFC 6763
// section 6.4 asks.
const (
	KeyProto    = "proto"    // chat protocol version
	KeyRTSPPort = "rtspport" // RTSP port
	KeyRTSPPath = "rtsppath" // RTSP path, e.g. /live
	KeySize     = "size"     // WxH
	KeyFPS      = "fps"
	KeyCodec    = "codec" // jpeg
	KeyViewers  = "viewers"
	KeyID       = "id"       // instance id, stable across restarts
	KeyPath     = "path"     // on _rtsp._tcp and _http._tcp, as other announcers use
	KeyHTTPPort = "httpport" // the web viewer's port, when there is one
	KeyRelay    = "relay"    // where a relay re-serves the stream, when there is one
	KeyLadder   = "ladder"   // the renditions: half:640x360,quarter:320x180 (see ladder.go)
)

func validate(s netio.Stream) error {
	switch {
	case strings.TrimSpace(s.Name) == "":
		return errors.New("service name is empty")
	case len(s.Name) > 63:
		return fmt.Errorf("service name %q is longer than 63 bytes (DNS label limit)", s.Name)
	case s.ChatPort <= 0 || s.ChatPort > 65535:
		return fmt.Errorf("chat port %d out of range", s.ChatPort)
	case s.RTSPPort <= 0 || s.RTSPPort > 65535:
		return fmt.Errorf("rtsp port %d out of range", s.RTSPPort)
	case s.HTTPPort < 0 || s.HTTPPort > 65535:
		return fmt.Errorf("http port %d out of range", s.HTTPPort)
	}
	return nil
}

// lsviewTXT is the TXT record of _lsview._tcp.
func lsviewTXT(s netio.Stream) []string {
	txt := []string{
		KeyProto + "=" + strconv.Itoa(s.Proto),
		KeyRTSPPort + "=" + strconv.Itoa(s.RTSPPort),
		KeyRTSPPath + "=" + s.RTSPPath,
		KeyCodec + "=" + s.Codec,
		KeyViewers + "=" + strconv.Itoa(s.Viewers),
		KeyID + "=" + s.Instance,
	}
	if size := s.Size(); size != "" {
		txt = append(txt, KeySize+"="+size)
	}
	if s.FPS > 0 {
		txt = append(txt, KeyFPS+"="+strconv.Itoa(s.FPS))
	}
	if s.HTTPPort > 0 {
		txt = append(txt, KeyHTTPPort+"="+strconv.Itoa(s.HTTPPort))
	}
	// A TXT string holds 255 bytes; a relay URL longer than that is
	// left to the chat welcome.
	if s.RelayURL != "" && len(KeyRelay)+1+len(s.RelayURL) <= 255 {
		txt = append(txt, KeyRelay+"="+s.RelayURL)
	}
	if ladder := ladderTXT(s); ladder != "" {
		txt = append(txt, KeyLadder+"="+ladder)
	}
	return txt
}

func rtspTXT(s netio.Stream) []string {
	return []string{KeyPath + "=" + s.RTSPPath, KeyID + "=" + s.Instance}
}

// httpTXT is the TXT record of _http._tcp: the page is at the root (the
// DNS-SD convention for _http._tcp, RFC 6763 appendix, path=).
func httpTXT(s netio.Stream) []string {
	return []string{KeyPath + "=/", KeyID + "=" + s.Instance}
}

// followEvery is how often Serve asks Stream what to announce; a TXT
// record is re-sent only when it changed.
const followEvery = time.Second

// Advertiser announces one broadcaster, as _lsview._tcp and _rtsp._tcp,
// and _http._tcp when it has a web viewer (Stream's HTTPPort), on the
// interfaces Interfaces selects (none when Interfaces.Off). Set the
// fields, call Listen, then Serve until its context ends.
//
// The records name their own host, <name>-<id>.local, with the selected
// interfaces' addresses, so they never contend with the machine's own
// hostname that avahi-daemon may publish beside us.
type Advertiser struct {
	Interfaces Interfaces
	// Stream says what to announce. Its name, ports and instance are
	// announced once, by Listen; Serve follows the rest (viewers, picture
	// size, …) as it changes.
	Stream func() netio.Stream
	Logger *slog.Logger

	announced    netio.Stream
	lsview, rtsp *zeroconf.Server // nil when Interfaces.Off
	http         *zeroconf.Server // nil also without a web viewer
}

// Listen registers both services and starts answering for them. A bad
// interface or a stream that can't be announced is reported here.
func (a *Advertiser) Listen() error {
	if a.Logger == nil {
		a.Logger = slog.Default()
	}
	if a.Interfaces.Off {
		return nil
	}
	s := a.Stream()
	if err := validate(s); err != nil {
		return fmt.Errorf("mdns advertise: %w", err)
	}
	list, err := a.Interfaces.Resolve()
	if err != nil {
		return fmt.Errorf("mdns advertise: %w", err)
	}
	ips := addresses(list)
	if len(ips) == 0 {
		return fmt.Errorf("mdns advertise: interfaces %s have no address", names(list))
	}
	host := hostLabel(s)
	lsview, err := zeroconf.RegisterProxy(s.Name, LsviewType, domain, s.ChatPort, host, ips, lsviewTXT(s), list)
	if err != nil {
		return fmt.Errorf("mdns advertise %s on %s: %w", LsviewType, names(list), err)
	}
	rtsp, err := zeroconf.RegisterProxy(s.Name, RTSPType, domain, s.RTSPPort, host, ips, rtspTXT(s), list)
	if err != nil {
		lsview.Shutdown()
		return fmt.Errorf("mdns advertise %s on %s: %w", RTSPType, names(list), err)
	}
	var http *zeroconf.Server
	if s.HTTPPort > 0 {
		http, err = zeroconf.RegisterProxy(s.Name, HTTPType, domain, s.HTTPPort, host, ips, httpTXT(s), list)
		if err != nil {
			lsview.Shutdown()
			rtsp.Shutdown()
			return fmt.Errorf("mdns advertise %s on %s: %w", HTTPType, names(list), err)
		}
	}
	a.announced, a.lsview, a.rtsp, a.http = s, lsview, rtsp, http
	a.Logger.Info("mdns announcing", "name", s.Name, "host", host+".local", "interfaces", names(list), "addresses", ips)
	return nil
}

// Serve keeps the announcement current until ctx ends, then sends goodbye
// packets, so browsers drop us at once, and returns nil. Call it once,
// after Listen succeeded.
func (a *Advertiser) Serve(ctx context.Context) error {
	if a.lsview == nil {
		<-ctx.Done()
		return nil
	}
	defer a.goodbye()
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.update(a.Stream())
		}
	}
}

// update re-announces a TXT record when what it says changed, e.g. the
// viewer count or the picture size. Ports and name stay as announced.
func (a *Advertiser) update(s netio.Stream) {
	old := a.announced
	s.Name, s.ChatPort, s.RTSPPort, s.HTTPPort, s.Instance = old.Name, old.ChatPort, old.RTSPPort, old.HTTPPort, old.Instance
	a.announced = s
	if !slices.Equal(lsviewTXT(old), lsviewTXT(s)) {
		a.lsview.SetText(lsviewTXT(s))
	}
	if !slices.Equal(rtspTXT(old), rtspTXT(s)) {
		a.rtsp.SetText(rtspTXT(s))
	}
}

func (a *Advertiser) goodbye() {
	// zeroconf's Shutdown multicasts every record with TTL 0 (the goodbye).
	a.lsview.Shutdown()
	a.rtsp.Shutdown()
	if a.http != nil {
		a.http.Shutdown()
	}
	a.Logger.Info("mdns goodbye sent", "name", a.announced.Name)
}

// hostLabel makes the DNS label of our own host record from the service:
// its name reduced to letters, digits and hyphens, and the instance id.
func hostLabel(s netio.Stream) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s.Name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
		if b.Len() >= 40 {
			break
		}
	}
	label := strings.Trim(b.String(), "-")
	if label == "" {
		label = "lsbroadcast"
	}
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(s.Instance))
	if len(id) > 8 {
		id = id[:8]
	}
	if id != "" {
		label += "-" + id
	}
	return label
}

// addresses are the interfaces' IPv4 and routable IPv6 addresses. IPv6
// link-local ones are left out: they need a zone a TXT-less A/AAAA can't carry.
func addresses(ifs []net.Interface) []string {
	var out []string
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.IsLinkLocalUnicast() || n.IP.IsLoopback() {
				continue
			}
			out = append(out, n.IP.String())
		}
	}
	return out
}
