// Package rtsp serves a stream of JPEG pictures as RTP/JPEG (RFC 2435) over
// RTSP, to any standard client, on gortsplib. It knows nothing of cameras:
// it is handed JPEG bytes and their capture time.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
	"github.com/lsbroadcast/lsbroadcast/netio/share"
)

// Defaults, after MediaMTX's conventions.
const (
	DefaultPort          = 8554
	DefaultRTPPort       = 8000
	DefaultRTCPPort      = 8001
	DefaultMulticastRTP  = 8002
	DefaultMulticastRTCP = 8003
	// DefaultMulticastRange is administratively scoped (RFC 2365), so it
	// stays on the site.
	DefaultMulticastRange = "239.255.42.0/24"
	DefaultPath           = "/live"

	// MaxPacketSize keeps every RTP packet, header included, under any
	// tunnel's MTU so no IP datagram is ever fragmented.
	MaxPacketSize = 1400
	rtpHeaderSize = 12

	// writeQueuePackets bounds what waits for each reader: two detailed
	// 1080p frames (up to about 500 packets each), never more. The queue
	// holds pointers to packets shared by all readers, so it costs 8 KiB a
	// reader. A reader that falls further behind loses packets; the others
	// don't notice.
	writeQueuePackets = 1024

	jpegClockRate = 90000
)

// Server serves one JPEG stream. Set the fields, call Listen, run Serve
// until its context ends, and call WriteJPEG for each picture meanwhile.
type Server struct {
	Host          string // address to listen on; empty for all
	Port          int    // RTSP (TCP)
	RTPPort       int    // UDP unicast RTP; RTCP is RTPPort+1 unless RTCPPort is set
	RTCPPort      int
	Multicast     string // multicast IP range, e.g. 239.255.42.0/24; empty turns multicast off
	MulticastRTP  int
	MulticastRTCP int
	Path          string // e.g. /live
	Logger        *slog.Logger

	// ChatPort and Instance name the broadcaster's chat and identity in
	// every DESCRIBE answer (ChatHeader, InstanceHeader), so a viewer given
	// only this server's address finds the chat that goes with it. Zero
	// and empty leave the headers out.
	ChatPort int
	Instance string

	// Relay, when set, is offered every picture WriteJPEG sends, with its
	// RTP timestamp, so a relay re-serves the very same stream. Offer
	// must not wait.
	Relay Relay

	// Limits; zero takes the default. An address is an IPv4 address or an
	// IPv6 /64.
	MaxReaders         int // sessions playing, in all (DefaultMaxReaders)
	MaxReadersPerAddr  int // sessions playing from one address (DefaultMaxReadersPerAddr)
	MaxSessionsPerAddr int // sessions, playing or not, from one address (2 × MaxReadersPerAddr)
	MaxConnsPerAddr    int // RTSP connections from one address (2 × MaxReadersPerAddr)
	// GhostTimeout ends a UDP reader whose RTSP connections are closed and
	// who sends no RTCP (DefaultGhostTimeout).
	GhostTimeout time.Duration

	srv     *gortsplib.Server
	stream  *gortsplib.ServerStream
	media   *description.Media
	enc     *rtpmjpeg.Encoder
	writeMu sync.Mutex // serialises the encoder and packet writes
	start   time.Time
	ledger  *ledger
	frames  atomic.Uint64
	drops   rateLog
	refused rateLog
	ghosts  atomic.Uint64
	closed  atomic.Bool
	rtx     retransmitter
}

// Listen opens the listeners. A port in use is reported here, not later.
func (s *Server) Listen() error {
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if s.RTPPort == 0 {
		s.RTPPort = DefaultRTPPort
	}
	if s.RTCPPort == 0 {
		s.RTCPPort = s.RTPPort + 1
	}
	if s.Path == "" {
		s.Path = DefaultPath
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.MaxReaders = cmp(s.MaxReaders, DefaultMaxReaders)
	s.MaxReadersPerAddr = cmp(s.MaxReadersPerAddr, DefaultMaxReadersPerAddr)
	// A reader needs one connection and one session; twice leaves room
	// for a player that reconnects before its old session ended, and for
	// DESCRIBE-only probes.
	s.MaxSessionsPerAddr = cmp(s.MaxSessionsPerAddr, 2*s.MaxReadersPerAddr)
	s.MaxConnsPerAddr = cmp(s.MaxConnsPerAddr, 2*s.MaxReadersPerAddr)
	if s.GhostTimeout == 0 {
		s.GhostTimeout = DefaultGhostTimeout
	}
	s.ledger = newLedger(limits{readers: s.MaxReaders, readersPerAddr: s.MaxReadersPerAddr,
		sessionsPerAddr: s.MaxSessionsPerAddr, connsPerAddr: s.MaxConnsPerAddr, ghostTimeout: s.GhostTimeout})
	s.drops.every, s.refused.every = dropLogEvery, refuseLogEvery
	s.start = time.Now()
	s.srv = &gortsplib.Server{
		Handler:        (*handler)(s),
		RTSPAddress:    net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		UDPRTPAddress:  net.JoinHostPort(s.Host, strconv.Itoa(s.RTPPort)),
		UDPRTCPAddress: net.JoinHostPort(s.Host, strconv.Itoa(s.RTCPPort)),
		WriteQueueSize: writeQueuePackets,
		MaxPacketSize:  MaxPacketSize,
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   5 * time.Second,
		IdleTimeout:    60 * time.Second,
	}
	if s.Multicast != "" {
		s.srv.MulticastIPRange = s.Multicast
		s.srv.MulticastRTPPort = cmp(s.MulticastRTP, DefaultMulticastRTP)
		s.srv.MulticastRTCPPort = cmp(s.MulticastRTCP, DefaultMulticastRTCP)
	}
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("rtsp server on %s: %w", s.srv.RTSPAddress, err)
	}
	forma := &format.MJPEG{}
	s.media = &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	s.stream = &gortsplib.ServerStream{
		Server: s.srv,
		Desc:   &description.Session{Title: "lsbroadcast", Medias: []*description.Media{s.media}},
	}
	if err := s.stream.Initialize(); err != nil {
		s.srv.Close()
		return fmt.Errorf("rtsp stream: %w", err)
	}
	s.rtx.media = s.media
	s.enc = &rtpmjpeg.Encoder{PayloadMaxSize: MaxPacketSize - rtpHeaderSize}
	if err := s.enc.Init(); err != nil {
		s.stream.Close()
		s.srv.Close()
		return fmt.Errorf("rtp/jpeg encoder: %w", err)
	}
	return nil
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// WriteJPEG sends one picture to every reader. It never waits for a reader:
// each has its own bounded queue, so a slow one only loses its own packets.
func (s *Server) WriteJPEG(jpeg []byte, captured time.Time) error {
	if s.closed.Load() {
		return errors.New("rtsp server closed")
	}
	jpeg, err := padTo8(jpeg)
	if err != nil {
		return fmt.Errorf("rtp/jpeg: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	pkts, err := s.enc.Encode(jpeg)
	if err != nil {
		return fmt.Errorf("rtp/jpeg: %w", err)
	}
	ts := uint32(captured.Sub(s.start).Seconds() * jpegClockRate)
	sent := time.Now()
	for _, p := range pkts {
		p.Timestamp = ts
		if err := s.stream.WritePacketRTPWithNTP(s.media, p, captured); err != nil {
			return fmt.Errorf("rtsp write: %w", err)
		}
		s.rtx.keep(p, sent)
	}
	s.frames.Add(1)
	if s.Relay != nil {
		s.Relay.Offer(jpeg, ts, captured)
	}
	return nil
}

// Relay is what the Server needs of a relay publisher (Publisher). The
// picture is not written to after Offer, so it may be kept.
type Relay interface {
	Offer(jpeg []byte, rtpTime uint32, captured time.Time)
}

// Epoch is the wall-clock time of RTP time 0: a frame captured at t has
// RTP time (t-Epoch)×90 kHz, modulo 2³².
func (s *Server) Epoch() time.Time { return s.start }

// URL is the address clients play, with host as they should reach it.
func (s *Server) URL(host string) string {
	return "rtsp://" + net.JoinHostPort(host, strconv.Itoa(s.Port)) + s.Path
}

// Stats are the server's counters.
type Stats struct {
	Readers      int    // sessions playing now
	Frames       uint64 // pictures written
	ReaderDrops  uint64 // times a reader's queue was full and it lost packets
	BytesWritten uint64
	Refused      uint64 // connections, sessions and readers refused by a limit
	Ghosts       uint64 // UDP readers ended for having no connection and sending no RTCP
	Retransmit   RetransmitStats
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{Frames: s.frames.Load(), ReaderDrops: s.drops.events.Load(),
		Refused: s.refused.events.Load(), Ghosts: s.ghosts.Load(), Retransmit: s.rtx.stats()}
	if s.ledger != nil {
		st.Readers = s.ledger.totalReaders()
	}
	if s.stream != nil {
		st.BytesWritten = s.stream.Stats().BytesSent
	}
	return st
}

// Serve serves readers until ctx ends, then disconnects every reader,
// closes the listeners and returns nil; WriteJPEG fails from then on. It
// returns early with an error when the server fails (its listener dies).
// Call it once, after Listen succeeded.
func (s *Server) Serve(ctx context.Context) error {
	failed := make(chan error, 1)
	go func() { failed <- s.srv.Wait() }()
	reaperCtx, stopReaper := context.WithCancel(ctx)
	reaped := make(chan struct{})
	go func() { defer close(reaped); s.reapGhosts(reaperCtx) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
		err = fmt.Errorf("rtsp server on %s: %w", s.srv.RTSPAddress, err)
	}
	stopReaper()
	<-reaped
	s.closed.Store(true)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.stream.Close()
	s.srv.Close()
	if err == nil {
		<-failed
	}
	return err
}

// handler receives gortsplib's callbacks; a separate type keeps them out of
// Server's method set.
type handler Server

func (h *handler) pathOK(path string) bool { return "/"+trimSlash(path) == h.Path }

func trimSlash(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// reapGhosts ends UDP readers nobody listens to any more, until ctx ends.
func (s *Server) reapGhosts(ctx context.Context) {
	tick := time.NewTicker(ghostCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for _, o := range s.ledger.orphans() {
				w := &o.s.watch
				if !w.ended && w.look(o.gone, o.s.ss.Stats().RTCPPacketsReceived, now, s.GhostTimeout) {
					w.ended = true
					s.ghosts.Add(1)
					s.Logger.Info("ending reader: connection closed and no RTCP", "address", o.s.key.String())
					o.s.ss.Close()
				}
			}
		}
	}
}

// refuse logs a refusal, a line a while, and returns its response.
func (h *handler) refuse(r refusal, key netip.Addr, what string) *base.Response {
	if n, ok := h.refused.note(time.Now()); ok {
		h.Logger.Warn("rtsp limit reached, refusing", "what", what, "limit", r.limit,
			"address", key.String(), "refused", n)
	}
	return &base.Response{StatusCode: base.StatusCode(r.status)}
}

// errRefused closes a refused client's connection after its response: a
// client told no has no reason to keep the slot.
var errRefused = errors.New("refused by a limit")

func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	key := share.Key(ctx.Conn.NetConn().RemoteAddr())
	c, closeNow := h.ledger.connOpen(key)
	if closeNow {
		h.refuse(refusal{503, "connections per address (closed unanswered)"}, key, "connection")
		ctx.Conn.Close()
		return
	}
	ctx.Conn.SetUserData(c)
	if c.refused {
		time.AfterFunc(refuseGrace, ctx.Conn.Close)
	}
}

func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	if c, ok := ctx.Conn.UserData().(*conn); ok {
		h.ledger.connClose(c, time.Now())
	}
}

// connRefused answers a connection over its address's share. One closed
// unanswered may still get one request through before it goes: it has
// no ledger entry, and is refused too.
func (h *handler) connRefused(sc *gortsplib.ServerConn) (*conn, *base.Response, bool) {
	c, ok := sc.UserData().(*conn)
	switch {
	case !ok:
		return nil, &base.Response{StatusCode: base.StatusServiceUnavailable}, true
	case c.refused:
		return nil, h.refuse(refusal{503, "connections per address"}, c.key, "connection"), true
	}
	return c, nil, false
}

func (h *handler) OnSessionOpen(ctx *gortsplib.ServerHandlerOnSessionOpenCtx) {
	ctx.Session.SetUserData(h.ledger.sessionOpen(ctx.Session, share.Key(ctx.Conn.NetConn().RemoteAddr())))
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s, ok := ctx.Session.UserData().(*session)
	if !ok {
		return
	}
	if h.ledger.sessionClose(s) {
		h.Logger.Info("reader left", "readers", h.ledger.totalReaders(), "reason", errString(ctx.Error))
	}
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if _, res, refused := h.connRefused(ctx.Conn); refused {
		return res, nil, errRefused
	}
	if !h.pathOK(ctx.Path) {
		return &base.Response{StatusCode: base.StatusNotFound, Header: h.identity()}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK, Header: h.identity()}, h.stream, nil
}

// Headers of a DESCRIBE answer that name the broadcaster. They are headers,
// not SDP attributes: gortsplib rebuilds the description of every DESCRIBE
// from the title, the medias and the FEC groups alone (prepareForDescribe in
// v5.2.0), and RTSP clients ignore headers they don't know.
const (
	ChatHeader     = "X-Lsview-Chat"     // the chat's TCP port
	InstanceHeader = "X-Lsview-Instance" // the broadcaster's instance id
)

// identity is what a DESCRIBE answer says of the broadcaster; it is sent
// for a wrong path too, so an address with the port alone still leads to
// the chat, whose welcome names the path.
func (h *handler) identity() base.Header {
	hd := base.Header{}
	if h.ChatPort > 0 {
		hd[ChatHeader] = base.HeaderValue{strconv.Itoa(h.ChatPort)}
	}
	if h.Instance != "" {
		hd[InstanceHeader] = base.HeaderValue{h.Instance}
	}
	return hd
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c, res, refused := h.connRefused(ctx.Conn)
	if refused {
		return res, nil, errRefused
	}
	s := ctx.Session.UserData().(*session)
	if !s.admitted {
		return h.refuse(refusal{503, "sessions per address"}, s.key, "session"), nil, errRefused
	}
	if !h.pathOK(ctx.Path) {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if r, refused := h.ledger.checkReader(s.key); refused {
		return h.refuse(r, s.key, "reader"), nil, errRefused
	}
	h.ledger.attach(c, s)
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func (h *handler) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	// We only play; nobody publishes to us.
	return &base.Response{StatusCode: base.StatusMethodNotAllowed}, nil
}

func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	c, res, refused := h.connRefused(ctx.Conn)
	if refused {
		return res, errRefused
	}
	s := ctx.Session.UserData().(*session)
	tr := ctx.Session.Transport()
	n, r, refused := h.ledger.play(s, tr != nil && tr.Protocol == gortsplib.ProtocolUDP)
	if refused {
		return h.refuse(r, s.key, "reader"), errRefused
	}
	h.ledger.attach(c, s)
	h.rtx.subscribe(ctx.Session)
	h.Logger.Info("reader started", "remote", ctx.Conn.NetConn().RemoteAddr().String(),
		"transport", transportName(ctx.Session), "readers", n)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	h.ledger.pause(ctx.Session.UserData().(*session))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// dropLogEvery bounds the warnings about slow readers: one a while, with
// the count, never one per packet (64 slow readers drop thousands a second).
const dropLogEvery = 10 * time.Second

func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	if n, ok := h.drops.note(time.Now()); ok {
		h.Logger.Warn("readers too slow, dropping their packets", "error", ctx.Error, "drops", n)
	}
}

func transportName(ss *gortsplib.ServerSession) string {
	if t := ss.Transport(); t != nil {
		return t.Protocol.String()
	}
	return "unknown"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
