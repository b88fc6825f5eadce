// Package rtsp serves a stream of JPEG pictures as RTP/JPEG (RFC 2435) over
// RTSP, to any standard client, on gortsplib. It knows nothing of cameras:
// it is handed JPEG bytes and their capture time.
//
// # The quality ladder
//
// Besides the main stream at Path, the server serves the renditions named
// in Server.Renditions (smaller versions of the same picture, made by the
// caller) at Path+"/"+name, each written with WriteRendition. Each path is
// a track (track.go) with everything described below to itself: two
// gortsplib streams, a packetiser (its own SSRC and sequence numbers), a
// fan-out with its writer goroutine, a retransmission history. So a
// reader of one rendition is a reader like any other, its losses and
// resends touch no other track, and a standard client plays any path. The
// tracks share the server's sockets, its limits (a reader counts against
// the totals and its address's share whatever it plays) and the RTP epoch:
// a picture captured at t has the same RTP time on every track, so a
// viewer moving between renditions keeps its clock. Readers(name) counts
// a track's playing sessions, so the caller makes a rendition only while
// somebody watches it. Every DESCRIBE answer, on any path, lists the
// renditions in the X-Lsview-Renditions header (RenditionsHeader), and
// each track's SDP session name says which it is ("lsbroadcast half").
//
// # The fan-out
//
// gortsplib (v5.2.0) keeps RTSP signalling, sessions, RTCP reception,
// TCP-interleaved and multicast readers. Unicast UDP RTP is sent here,
// because gortsplib's way costs each reader one sendto a packet, through a
// per-session queue that allocates a closure a packet and sets a write
// deadline before every send: at 64 readers of 720p30, some 130 000
// system calls a second.
//
// Two gortsplib streams carry a track's picture. The first gets every packet
// through WritePacketRTPWithNTP while it has readers gortsplib sends to
// (TCP, multicast), and only each picture's last packet otherwise, which
// keeps its RTP-Info exact at a fraction of the cost. Under gortsplib, the
// RTSP connections (Server's Listen hook) drop a picture whole for a TCP
// reader that is more than staleAfter behind, where gortsplib's full
// queue would drop single packets and leave every picture broken
// (tcpstale.go). The second is never written: OnSetup hands it to unicast
// UDP sessions, so gortsplib sets them up, answers their PLAY, times them
// out, takes their receiver reports (which the ghost reaper watches) and
// tears them down, and sends them nothing. What it would send, fanout
// sends:
//
//   - Where: the ports of the SETUP's Transport header, at the address of
//     the connection that set it up, as gortsplib would (udpDestination).
//     OnPlay adds the reader; PAUSE, TEARDOWN and the session's end (a
//     timeout, the ghost reaper) remove it, so a reader that leaves gets no
//     packet after the frame being sent.
//   - From: gortsplib's RTP port, the server_port the SETUP answer named,
//     which NATs and firewalls that filter by source expect. Server's
//     ListenPacket is gortsplib's hook for opening its listeners; ours opens
//     them as net.ListenPacket would, keeps the unicast RTP and RTCP ones,
//     and on Linux marks the RTP one SO_REUSEPORT. Each track's fan-out
//     then binds a socket of its own to the same address and port
//     (batch_linux.go): a blocking one, outside Go's network poller,
//     because a datagram sent from a polled socket wakes the poller when
//     its memory is freed, a thread wake-up a datagram, which was most of
//     the cost at 64 readers. A one-instruction BPF program on the port's
//     SO_REUSEPORT group steers every datagram arriving at the port to
//     gortsplib's socket, so gortsplib reads as before and the fan-outs'
//     sockets receive nothing.
//     Elsewhere (batch_other.go) the fan-out sends from gortsplib's socket
//     itself. Sender reports go from gortsplib's RTCP socket.
//   - How: WriteJPEG (WriteRendition) packetises a picture once, straight
//     into its track's ring of historyFrames reusable buffers (rtpjpeg.go:
//     no allocation a packet; the ring is also the retransmission
//     history), and wakes the track's writer goroutine (owned by Serve).
//     The writer builds one
//     message a packet a reader, reader by reader (a reader's thread is
//     woken once a frame, not once a packet, as GStreamer's multiudpsink
//     orders them), and hands them to sendmmsg, up to 1024 a call: 64
//     readers of a 100-packet frame is 7 system calls. On Linux the
//     sending socket has UDP GSO (UDP_SEGMENT, 1400 bytes: every packet
//     but a picture's last is that size), so a run of up to 46 of one
//     reader's packets goes as one message, the kernel's stack walked once
//     for it (batch_linux.go); a kernel that refuses it gets a packet a
//     message, for good, said once in the log. Nothing is
//     allocated per packet; messages, addresses and buffers are reused. A
//     reader with a sequence space of its own (below) gets each packet as
//     two iovecs, its 12-byte RTP header and the shared rest.
//   - Isolation: a unicast UDP send never waits for its receiver. A reader
//     whose socket is full, or that vanished (the ICMP error is not
//     reported on an unconnected socket), loses its packets in the network
//     or in its own kernel; the others don't notice. The only thing a send
//     can wait for is this server's own send buffer, the uplink, which every
//     reader shares: a batch waits for it at most sendBudget (SO_SNDTIMEO,
//     set once), never a deadline a packet; past it the readers not yet
//     served lose the rest of that frame. A send that fails for one
//     destination (no route, a firewall) costs that reader that packet, and
//     the batch goes on. Each reader counts its packets and drops. A writer
//     more than maxBehind frames behind skips to the newest, for all. The
//     sending socket's buffer (sendBuffer) has room for a queue only one
//     reader's path goes through (a qdisc, a Wi-Fi station's queue), so a
//     slow viewer's queue drops its own packets rather than filling the
//     buffer every send waits for.
//   - Sender reports: gortsplib's stream would send none for the second
//     stream (no packet went through it), so fanout runs gortsplib's own
//     rtpsender with the same packets, capture times and period as the
//     first stream's, and sends its reports to each reader's RTCP port from
//     the RTCP socket, with the SSRC the SETUP answer announced. The
//     RTP↔NTP mapping is therefore the one gortsplib gave before.
//
// Still different from before: a unicast UDP reader's PLAY answer carries
// RTP-Info with the URL only (gortsplib takes the sequence number and
// timestamp from the stream's sender, which sees no packet); ffmpeg,
// GStreamer and gortsplib's client, tested here, start from the first
// packet they get.
//
// Retransmission and per-reader thinning (issue 14, the DESIGN's loss row)
// live beside each track's writer: nack.go resends from the track's history
// of recent packets to the reader that asked; thin.go decides, a reader a
// frame in send, whether it gets the frame, from what its RTCP (NACKs,
// receiver reports) and its send drops say, and gives each reader a
// sequence space of its own, so that a frame it skips leaves no gap.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"

	"github.com/lsbroadcast/lsbroadcast/netio"
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

// Server serves one JPEG stream and its renditions. Set the fields, call
// Listen, run Serve until its context ends, and meanwhile call WriteJPEG
// for each picture, and WriteRendition for each of a rendition's (from
// any goroutine: each track has its own lock).
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
	// NoThinning sends every unicast UDP reader every frame however it
	// fares (see thin.go): to compare with thinning.
	NoThinning bool

	// Renditions are the names of the smaller versions of the picture
	// served besides the main stream (its quality ladder, netio.Half,
	// netio.Quarter), each at Path+"/"+name and written with
	// WriteRendition: 1 to 16 of a-z, 0-9 and -, unique, not netio.Full,
	// at most 4.
	Renditions []string

	srv      *gortsplib.Server
	main     *track            // the stream at Path
	tracks   []*track          // main first, then the renditions in order
	byName   map[string]*track // the renditions; read-only once Listen is done
	listened chan struct{}     // closed when Listen is done with the above
	rtpConn  *net.UDPConn      // gortsplib's RTP and RTCP listeners, which every fan-out sends from
	rtcpConn *net.UDPConn
	// udpViaLibrary sends unicast UDP through gortsplib's per-reader
	// queues as before the fan-out; only BenchmarkFanout sets it, to
	// compare the two.
	udpViaLibrary bool

	start   time.Time // the RTP epoch of every track
	ledger  *ledger
	drops   rateLog
	refused rateLog
	ghosts  atomic.Uint64
	closed  atomic.Bool
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
	if err := checkRenditions(s.Renditions); err != nil {
		return err
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
		ListenPacket:   s.listenPacket,
		Listen:         s.listen,
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
	// gortsplib serves from Start on, but the streams need it started:
	// every connection waits in OnConnOpen until they are ready.
	s.listened = make(chan struct{})
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("rtsp server on %s: %w", s.srv.RTSPAddress, err)
	}
	err := s.openStreams()
	close(s.listened)
	if err != nil {
		s.srv.Close()
		return err
	}
	return nil
}

// openStreams sets up the tracks Listen serves once gortsplib is started;
// on failure it closes what it opened, but not the server.
func (s *Server) openStreams() error {
	if s.rtpConn == nil || s.rtcpConn == nil {
		return errors.New("rtsp server: gortsplib opened its UDP listeners without ListenPacket")
	}
	// Paths as trackAt compares them: one leading slash, none trailing.
	base := "/" + trimSlash(s.Path)
	tracks := []*track{{name: netio.Full, path: base, title: "lsbroadcast"}}
	for _, n := range s.Renditions {
		tracks = append(tracks, &track{name: n, path: strings.TrimSuffix(base, "/") + "/" + n, title: "lsbroadcast " + n})
	}
	for i, t := range tracks {
		if err := t.open(s); err != nil {
			for _, o := range tracks[:i] {
				o.close()
			}
			return err
		}
	}
	s.main, s.tracks, s.byName = tracks[0], tracks, map[string]*track{}
	for _, t := range tracks[1:] {
		s.byName[t.name] = t
	}
	return nil
}

// listen opens gortsplib's RTSP listener, whose connections drop stale
// pictures whole for TCP-interleaved readers (see tcpstale.go).
func (s *Server) listen(network, address string) (net.Listener, error) {
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	return &staleListener{Listener: l, epoch: s.start, now: time.Now}, nil
}

// listenPacket opens gortsplib's UDP listeners and keeps its unicast RTP
// and RTCP sockets, so the fan-out sends from the very ports SETUP
// announced (see the package documentation).
func (s *Server) listenPacket(network, address string) (net.PacketConn, error) {
	lc := listenConfig(address == s.srv.UDPRTPAddress)
	pc, err := lc.ListenPacket(context.Background(), network, address)
	if err != nil {
		return nil, err
	}
	if c, ok := pc.(*net.UDPConn); ok {
		switch address {
		case s.srv.UDPRTPAddress:
			s.rtpConn = c
		case s.srv.UDPRTCPAddress:
			s.rtcpConn = c
		}
	}
	return pc, nil
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// WriteJPEG sends one picture to every reader of the main stream. It never
// waits for a reader: each has its own bounded queue, so a slow one only
// loses its own packets.
func (s *Server) WriteJPEG(jpeg []byte, captured time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	ts, sent, err := s.main.write(jpeg, captured, s.start)
	if err != nil {
		return err
	}
	if s.Relay != nil {
		s.Relay.Offer(sent, ts, captured)
	}
	return nil
}

// WriteRendition sends one picture to the readers of the rendition name,
// as WriteJPEG does for the main stream; its RTP time is the same as the
// main stream's for the same capture time, so a viewer that moves between
// renditions keeps its clock. A name not in Renditions is an error. The
// relay gets the main stream only.
func (s *Server) WriteRendition(name string, jpeg []byte, captured time.Time) error {
	t, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("rtsp: no rendition %q", name)
	}
	if s.closed.Load() {
		return errClosed
	}
	_, _, err := t.write(jpeg, captured, s.start)
	return err
}

// Readers is the number of sessions playing the rendition name now; ""
// and netio.Full name the main stream, an unknown name has none. It is an
// atomic load: cheap enough to ask once a frame, to encode a rendition
// only while somebody watches it.
func (s *Server) Readers(name string) int {
	t := s.main
	if name != "" && name != netio.Full {
		t = s.byName[name]
	}
	if t == nil {
		return 0
	}
	return int(t.readers.Load())
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

// Stats are the server's counters, over the main stream and every
// rendition alike unless they say otherwise.
type Stats struct {
	Readers      int    // sessions playing now
	Frames       uint64 // pictures written to the main stream
	ReaderDrops  uint64 // times a TCP or multicast reader's queue was full and it lost packets
	UDPDrops     uint64 // RTP packets unicast UDP readers lost in this server (their sends failed or ran out of time)
	UDPSkipped   uint64 // frames the UDP writers skipped, all readers of a track alike, for being behind
	Thinned      uint64 // frames not sent to a unicast UDP reader to thin its stream, one a reader a frame
	BytesWritten uint64
	Refused      uint64 // connections, sessions and readers refused by a limit
	Ghosts       uint64 // UDP readers ended for having no connection and sending no RTCP
	Retransmit   RetransmitStats
	// ByRendition is the sessions playing each rendition now, by name;
	// nil without Renditions. Readers counts them too.
	ByRendition map[string]int
}

// add sums two tracks' counters.
func (a RetransmitStats) add(b RetransmitStats) RetransmitStats {
	return RetransmitStats{NACKs: a.NACKs + b.NACKs, Resent: a.Resent + b.Resent, ResentBytes: a.ResentBytes + b.ResentBytes,
		Gone: a.Gone + b.Gone, Budget: a.Budget + b.Budget, Excess: a.Excess + b.Excess,
		NotReader: a.NotReader + b.NotReader, QueueFull: a.QueueFull + b.QueueFull}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{ReaderDrops: s.drops.events.Load(), Refused: s.refused.events.Load(), Ghosts: s.ghosts.Load()}
	if s.ledger != nil {
		st.Readers = s.ledger.totalReaders()
	}
	if s.main != nil {
		st.Frames = s.main.frames.Load()
	}
	for _, t := range s.tracks {
		st.BytesWritten += t.stream.Stats().BytesSent + t.fan.bytes.Load()
		st.UDPDrops += t.fan.dropped.Load()
		st.UDPSkipped += t.fan.skipped.Load()
		st.Thinned += t.fan.thinned.Load()
		st.Retransmit = st.Retransmit.add(t.rtx.stats())
		if t.name != netio.Full {
			if st.ByRendition == nil {
				st.ByRendition = map[string]int{}
			}
			st.ByRendition[t.name] = int(t.readers.Load())
		}
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
	stopWriters := make(chan struct{})
	var writers sync.WaitGroup
	for _, t := range s.tracks {
		writers.Go(func() { t.fan.run(stopWriters) })
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
		err = fmt.Errorf("rtsp server on %s: %w", s.srv.RTSPAddress, err)
	}
	stopReaper()
	<-reaped
	s.closed.Store(true)
	close(stopWriters)
	writers.Wait()
	for _, t := range s.tracks {
		t.close()
	}
	s.srv.Close()
	if err == nil {
		<-failed
	}
	return err
}

// handler receives gortsplib's callbacks; a separate type keeps them out of
// Server's method set.
type handler Server

// trackAt is the track served at path, or nil.
func (h *handler) trackAt(path string) *track {
	path = "/" + trimSlash(path)
	for _, t := range h.tracks {
		if t.path == path {
			return t
		}
	}
	return nil
}

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
	<-h.listened
	if h.main == nil { // Listen failed and closes the server
		ctx.Conn.Close()
		return
	}
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
	h.stopSending(s)
	if h.ledger.sessionClose(s) {
		args := []any{"path", s.track.path, "readers", h.ledger.totalReaders(), "reason", errString(ctx.Error)}
		if r := s.reader; r != nil {
			args = append(args, "packets", r.packets.Load(), "dropped", r.dropped.Load(), "thinned", r.thinned.Load())
		}
		h.Logger.Info("reader left", args...)
	}
}

// stopSending stops the fan-out sending to s, if it did.
func (h *handler) stopSending(s *session) {
	if s.reader != nil {
		s.track.fan.remove(s.reader)
	}
}

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if _, res, refused := h.connRefused(ctx.Conn); refused {
		return res, nil, errRefused
	}
	t := h.trackAt(ctx.Path)
	if t == nil {
		return &base.Response{StatusCode: base.StatusNotFound, Header: h.identity()}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK, Header: h.identity()}, t.stream, nil
}

// Headers of a DESCRIBE answer that name the broadcaster. They are headers,
// not SDP attributes: gortsplib rebuilds the description of every DESCRIBE
// from the title, the medias and the FEC groups alone (prepareForDescribe in
// v5.2.0), and RTSP clients ignore headers they don't know.
const (
	ChatHeader     = "X-Lsview-Chat"     // the chat's TCP port
	InstanceHeader = "X-Lsview-Instance" // the broadcaster's instance id
	// RenditionsHeader lists the renditions as name=path, comma
	// separated, e.g. "half=/live/half, quarter=/live/quarter"; absent
	// without renditions.
	RenditionsHeader = "X-Lsview-Renditions"
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
	if len(h.tracks) > 1 {
		var b strings.Builder
		for i, t := range h.tracks[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(t.name + "=" + t.path)
		}
		hd[RenditionsHeader] = base.HeaderValue{b.String()}
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
	t := h.trackAt(ctx.Path)
	if t == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	if r, refused := h.ledger.checkReader(s.key); refused {
		return h.refuse(r, s.key, "reader"), nil, errRefused
	}
	h.ledger.attach(c, s)
	// gortsplib refuses a second SETUP of the session on another path, so
	// a session's track is set once.
	s.track = t
	if ctx.Transport.Protocol != gortsplib.ProtocolUDP || h.udpViaLibrary {
		return &base.Response{StatusCode: base.StatusOK}, t.stream, nil
	}
	r, err := udpDestination(ctx)
	if err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil, err
	}
	s.reader = r
	return &base.Response{StatusCode: base.StatusOK}, t.udpStream, nil
}

// udpDestination is where a unicast UDP reader's packets go: the ports of
// the transport gortsplib chose (the first UDP unicast one offered with
// the profile it took, as its pickFirstSupportedTransport does in v5.2.0),
// at the address of the connection that set it up, as gortsplib sends.
func udpDestination(ctx *gortsplib.ServerHandlerOnSetupCtx) (*udpReader, error) {
	var ths headers.Transports
	if err := ths.Unmarshal(ctx.Request.Header["Transport"]); err != nil {
		return nil, fmt.Errorf("transport header: %w", err)
	}
	for _, th := range ths {
		if th.Protocol != headers.TransportProtocolUDP || th.ClientPorts == nil ||
			th.Profile != ctx.Transport.Profile ||
			(th.Delivery != nil && *th.Delivery != headers.TransportDeliveryUnicast) {
			continue
		}
		ta, ok := ctx.Conn.NetConn().RemoteAddr().(*net.TCPAddr)
		if !ok {
			return nil, errors.New("unicast UDP over a tunnel")
		}
		return &udpReader{
			rtp:  &net.UDPAddr{IP: ta.IP, Zone: ta.Zone, Port: th.ClientPorts[0]},
			rtcp: &net.UDPAddr{IP: ta.IP, Zone: ta.Zone, Port: th.ClientPorts[1]},
		}, nil
	}
	return nil, errors.New("no unicast UDP transport with client ports")
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
	if s.reader != nil {
		s.track.fan.add(s.reader)
	}
	s.track.rtx.subscribe(ctx.Session, s.reader)
	h.Logger.Info("reader started", "remote", ctx.Conn.NetConn().RemoteAddr().String(),
		"path", s.track.path, "transport", transportName(ctx.Session), "readers", n)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnPause(ctx *gortsplib.ServerHandlerOnPauseCtx) (*base.Response, error) {
	s := ctx.Session.UserData().(*session)
	h.stopSending(s)
	h.ledger.pause(s)
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
