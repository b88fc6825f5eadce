package mdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/grandcat/zeroconf"
)

// Service types and the domain we announce in.
const (
	LsviewType = "_lsview._tcp"
	RTSPType   = "_rtsp._tcp"
	domain     = "local."
)

// TXT keys of the _lsview._tcp record (and id, path on _rtsp._tcp). Keys
// stay at most 9 bytes as RFC 6763 section 6.4 asks.
const (
	KeyProto    = "proto"    // chat protocol version
	KeyRTSPPort = "rtspport" // RTSP port
	KeyRTSPPath = "rtsppath" // RTSP path, e.g. /live
	KeySize     = "size"     // WxH
	KeyFPS      = "fps"
	KeyCodec    = "codec" // jpeg
	KeyViewers  = "viewers"
	KeyID       = "id"   // instance id, stable across restarts
	KeyPath     = "path" // on _rtsp._tcp, as other RTSP announcers use
)

// Service describes one broadcaster as announced.
type Service struct {
	Name       string // instance name people see in pickers, e.g. "Kitchen camera"
	InstanceID string
	ChatPort   int
	Proto      int // chat protocol version
	RTSPPort   int
	RTSPPath   string
	Width      int
	Height     int
	FPS        int
	Codec      string
	Viewers    int
}

func (s Service) validate() error {
	switch {
	case strings.TrimSpace(s.Name) == "":
		return errors.New("service name is empty")
	case len(s.Name) > 63:
		return fmt.Errorf("service name %q is longer than 63 bytes (DNS label limit)", s.Name)
	case s.ChatPort <= 0 || s.ChatPort > 65535:
		return fmt.Errorf("chat port %d out of range", s.ChatPort)
	case s.RTSPPort <= 0 || s.RTSPPort > 65535:
		return fmt.Errorf("rtsp port %d out of range", s.RTSPPort)
	}
	return nil
}

// lsviewTXT is the TXT record of _lsview._tcp.
func (s Service) lsviewTXT() []string {
	txt := []string{
		KeyProto + "=" + strconv.Itoa(s.Proto),
		KeyRTSPPort + "=" + strconv.Itoa(s.RTSPPort),
		KeyRTSPPath + "=" + s.RTSPPath,
		KeyCodec + "=" + s.Codec,
		KeyViewers + "=" + strconv.Itoa(s.Viewers),
		KeyID + "=" + s.InstanceID,
	}
	if s.Width > 0 && s.Height > 0 {
		txt = append(txt, KeySize+"="+strconv.Itoa(s.Width)+"x"+strconv.Itoa(s.Height))
	}
	if s.FPS > 0 {
		txt = append(txt, KeyFPS+"="+strconv.Itoa(s.FPS))
	}
	return txt
}

func (s Service) rtspTXT() []string {
	return []string{KeyPath + "=" + s.RTSPPath, KeyID + "=" + s.InstanceID}
}

// Advertiser keeps a broadcaster announced until Close or its context ends.
type Advertiser struct {
	log    *slog.Logger
	mu     sync.Mutex
	svc    Service
	lsview *zeroconf.Server
	rtsp   *zeroconf.Server
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// Advertise announces svc on the interfaces ifs selects, as _lsview._tcp
// and _rtsp._tcp, until ctx ends or Close is called; either sends goodbye
// packets so browsers drop it at once. With ifs.Off it announces nothing
// and returns an Advertiser whose methods do nothing.
//
// The records name their own host, <name>-<id>.local, with the selected
// interfaces' addresses, so they never contend with the machine's own
// hostname that avahi-daemon may publish beside us.
func Advertise(ctx context.Context, ifs Interfaces, svc Service, log *slog.Logger) (*Advertiser, error) {
	if log == nil {
		log = slog.Default()
	}
	a := &Advertiser{log: log, svc: svc, stop: make(chan struct{}), done: make(chan struct{})}
	if ifs.Off {
		a.closed = true
		close(a.done)
		return a, nil
	}
	if err := svc.validate(); err != nil {
		return nil, fmt.Errorf("mdns advertise: %w", err)
	}
	list, err := ifs.Resolve()
	if err != nil {
		return nil, fmt.Errorf("mdns advertise: %w", err)
	}
	ips := addresses(list)
	if len(ips) == 0 {
		return nil, fmt.Errorf("mdns advertise: interfaces %s have no address", names(list))
	}
	host := hostLabel(svc)
	a.lsview, err = zeroconf.RegisterProxy(svc.Name, LsviewType, domain, svc.ChatPort, host, ips, svc.lsviewTXT(), list)
	if err != nil {
		return nil, fmt.Errorf("mdns advertise %s on %s: %w", LsviewType, names(list), err)
	}
	a.rtsp, err = zeroconf.RegisterProxy(svc.Name, RTSPType, domain, svc.RTSPPort, host, ips, svc.rtspTXT(), list)
	if err != nil {
		a.lsview.Shutdown()
		return nil, fmt.Errorf("mdns advertise %s on %s: %w", RTSPType, names(list), err)
	}
	log.Info("mdns announcing", "name", svc.Name, "host", host+".local", "interfaces", names(list), "addresses", ips)
	go func() {
		defer close(a.done)
		select {
		case <-ctx.Done():
		case <-a.stop:
		}
		a.shutdown()
	}()
	return a, nil
}

// Update re-announces the TXT record when what it says changed, e.g. the
// viewer count or the picture size. Ports and name stay as announced.
func (a *Advertiser) Update(svc Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	old := a.svc
	svc.Name, svc.ChatPort, svc.RTSPPort, svc.InstanceID = old.Name, old.ChatPort, old.RTSPPort, old.InstanceID
	a.svc = svc
	if !equal(old.lsviewTXT(), svc.lsviewTXT()) {
		a.lsview.SetText(svc.lsviewTXT())
	}
	if !equal(old.rtspTXT(), svc.rtspTXT()) {
		a.rtsp.SetText(svc.rtspTXT())
	}
}

// SetViewers re-announces with a new viewer count.
func (a *Advertiser) SetViewers(n int) {
	a.mu.Lock()
	svc := a.svc
	a.mu.Unlock()
	svc.Viewers = n
	a.Update(svc)
}

// Close sends goodbye packets and stops answering. It returns when done.
func (a *Advertiser) Close() {
	a.mu.Lock()
	if !a.closed {
		select {
		case <-a.stop:
		default:
			close(a.stop)
		}
	}
	a.mu.Unlock()
	<-a.done
}

func (a *Advertiser) shutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	// zeroconf's Shutdown multicasts every record with TTL 0 (the goodbye).
	a.lsview.Shutdown()
	a.rtsp.Shutdown()
	a.log.Info("mdns goodbye sent", "name", a.svc.Name)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// hostLabel makes the DNS label of our own host record from the service:
// its name reduced to letters, digits and hyphens, and the instance id.
func hostLabel(s Service) string {
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
	}, strings.ToLower(s.InstanceID))
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
