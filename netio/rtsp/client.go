package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"
)

// Transport is how a Client asks for RTP to travel.
type Transport int

// Transports a Client can ask for.
const (
	// TransportAuto tries UDP first and falls back to TCP when the
	// server refuses UDP or no packet arrives in 3 s, as gortsplib (and
	// VLC) do.
	TransportAuto Transport = iota
	TransportUDP
	TransportTCP
	TransportMulticast
)

var transportNames = map[Transport]string{
	TransportAuto: "auto", TransportUDP: "udp", TransportTCP: "tcp", TransportMulticast: "multicast",
}

// String returns the name ParseTransport accepts.
func (t Transport) String() string { return transportNames[t] }

// ParseTransport reads auto, udp, tcp or multicast.
func ParseTransport(s string) (Transport, error) {
	for t, n := range transportNames {
		if strings.EqualFold(s, n) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown transport %q: want auto, udp, tcp or multicast", s)
}

// ErrNotJPEG says the stream carries no RTP/JPEG video, so lsview can't show it.
var ErrNotJPEG = errors.New("stream has no RTP/JPEG (M-JPEG) video")

// Frame is one complete JPEG picture as received.
type Frame struct {
	JPEG     []byte
	Received time.Time // when its last packet arrived
	// Captured is the sender's capture time, from RTCP sender reports;
	// zero until the first report arrives (gortsplib servers send one
	// every 10 s).
	Captured time.Time
	RTPTime  uint32
}

// ClientStats are a Client's counters since Run began.
type ClientStats struct {
	Frames      uint64 // complete pictures delivered
	LostFrames  uint64 // pictures known to be lost (a lower bound: see Client)
	LostPackets uint64 // RTP packets given up as missing
	Bytes       uint64 // JPEG bytes delivered
	Payload     uint64 // RTP payload bytes received, whole pictures or not: the link's throughput
	Packets     uint64 // RTP packets received, resends included
	Transport   string // UDP, UDP-multicast or TCP once playing
	Recover     RecoverStats
}

// Client receives one RTP/JPEG stream. Set the fields, then Run.
//
// A picture is counted lost when some but not all of its packets arrive,
// or when a packet gap swallows it whole (counted once per gap, so the
// figure is a lower bound).
type Client struct {
	URL       string // rtsp://host:port/path
	Transport Transport
	// ReadTimeout bounds every wait for the server, including for packets
	// while playing; 0 means 10 s (gortsplib's).
	ReadTimeout time.Duration
	// UDPReadBufferSize is the socket receive buffer for UDP transports;
	// 0 means 1 MiB, room for a few 1080p pictures (the kernel caps it at
	// net.core.rmem_max).
	UDPReadBufferSize int
	// NoNACK turns off asking for lost packets (see recover.go), which
	// is on over UDP unicast: to compare with and without it, and for a
	// server that would misread NACKs. Without it UDP plays through
	// gortsplib's client, as any plain client does; with it through the
	// client's own UDP path (udp.go).
	NoNACK bool
	// Described, if set, is called with the DESCRIBE answer's headers
	// before the stream is set up: an lsbroadcast names its chat and its
	// quality ladder there (ChatHeader). Keys are as the server sent
	// them.
	Described func(header map[string][]string)
	Logger    *slog.Logger

	frames      atomic.Uint64
	lostFrames  atomic.Uint64
	lostPackets atomic.Uint64
	bytes       atomic.Uint64
	payload     atomic.Uint64
	packets     atomic.Uint64
	transport   atomic.Value // string
	holder      atomic.Pointer[holder]
}

// Stats returns the counters; safe to call while Run runs.
func (c *Client) Stats() ClientStats {
	st := ClientStats{Frames: c.frames.Load(), LostFrames: c.lostFrames.Load(),
		LostPackets: c.lostPackets.Load(), Bytes: c.bytes.Load(), Payload: c.payload.Load(),
		Packets: c.packets.Load()}
	st.Transport, _ = c.transport.Load().(string)
	if h := c.holder.Load(); h != nil {
		st.Recover = h.stats()
		st.LostPackets += st.Recover.GaveUp
	}
	return st
}

// Run connects, plays, and calls onFrame with each complete picture until
// ctx ends (nil error) or the stream fails. onFrame runs on the receiving
// goroutine and must return quickly: hand the frame on, don't decode it
// there. The frame's JPEG is its own; onFrame may keep it.
func (c *Client) Run(ctx context.Context, onFrame func(Frame)) error {
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	u, err := base.ParseURL(c.URL)
	if err != nil {
		return fmt.Errorf("rtsp url %q: %w", c.URL, err)
	}
	// The own UDP path speaks plain RTSP only; rtsps (TLS, SRTP) stays
	// with gortsplib.
	if !c.NoNACK && u.Scheme == "rtsp" && (c.Transport == TransportUDP || c.Transport == TransportAuto) {
		err := c.runUDP(ctx, u, log, onFrame)
		if c.Transport != TransportAuto || !errors.Is(err, errNoUDP) || ctx.Err() != nil {
			return c.fail(ctx, err)
		}
		log.Info("rtsp transport switched", "reason", err)
		return c.runGortsplib(ctx, u, log, TransportTCP, onFrame)
	}
	return c.runGortsplib(ctx, u, log, c.Transport, onFrame)
}

// runGortsplib plays with gortsplib's Client: TCP, multicast, and UDP
// when NACKs are off (then it gets what any plain client gets).
func (c *Client) runGortsplib(ctx context.Context, u *base.URL, log *slog.Logger, tr Transport, onFrame func(Frame)) error {
	gc := &gortsplib.Client{
		Scheme:            u.Scheme,
		Host:              u.Host,
		ReadTimeout:       c.ReadTimeout,
		UDPReadBufferSize: cmp(c.UDPReadBufferSize, 1<<20),
		OnPacketsLost: func(n uint64) {
			c.lostPackets.Add(n)
		},
		OnDecodeError: func(err error) {
			log.Debug("rtsp decode error", "error", err)
		},
		OnTransportSwitch: func(err error) {
			log.Info("rtsp transport switched", "reason", err)
		},
	}
	if p, ok := protocol(tr); ok {
		gc.Protocol = &p
	}
	if err := gc.Start(); err != nil {
		return fmt.Errorf("rtsp connect %s: %w", u.Host, err)
	}
	// Close on ctx end from a goroutine this function owns and waits for.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() {
		close(stop)
		gc.Close()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			gc.Close()
		case <-stop:
		}
	}()

	desc, res, err := gc.Describe(u)
	if err != nil {
		return c.fail(ctx, fmt.Errorf("rtsp describe %s: %w", c.URL, err))
	}
	if res != nil {
		c.described(res.Header)
	}
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return fmt.Errorf("%s: %w", c.URL, ErrNotJPEG)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return fmt.Errorf("rtp/jpeg decoder: %w", err)
	}
	if _, err := gc.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return c.fail(ctx, fmt.Errorf("rtsp setup %s: %w", c.URL, err))
	}
	a := assembler{dec: dec}
	gc.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		c.payload.Add(uint64(len(pkt.Payload)))
		c.packets.Add(1)
		jpeg, lost := a.push(pkt)
		if lost > 0 {
			c.lostFrames.Add(lost)
		}
		if jpeg == nil {
			return
		}
		f := Frame{JPEG: jpeg, Received: time.Now(), RTPTime: pkt.Timestamp}
		if ntp, ok := gc.PacketNTP(medi, pkt); ok {
			f.Captured = ntp
		}
		c.frames.Add(1)
		c.bytes.Add(uint64(len(jpeg)))
		onFrame(f)
	})
	if _, err := gc.Play(nil); err != nil {
		return c.fail(ctx, fmt.Errorf("rtsp play %s: %w", c.URL, err))
	}
	if t := gc.Transport(); t != nil && t.Session != nil {
		c.transport.Store(t.Session.Protocol.String())
	}
	log.Debug("rtsp playing", "url", c.URL, "transport", c.Stats().Transport)
	return c.fail(ctx, gc.Wait())
}

// described hands the DESCRIBE answer's headers to Described, if set.
func (c *Client) described(hd base.Header) {
	if c.Described == nil {
		return
	}
	h := make(map[string][]string, len(hd))
	for k, v := range hd {
		h[k] = v
	}
	c.Described(h)
}

// fail turns the error of a client closed because ctx ended into nil.
func (c *Client) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func protocol(tr Transport) (gortsplib.Protocol, bool) {
	switch tr {
	case TransportUDP:
		return gortsplib.ProtocolUDP, true
	case TransportTCP:
		return gortsplib.ProtocolTCP, true
	case TransportMulticast:
		return gortsplib.ProtocolUDPMulticast, true
	}
	return 0, false
}

// assembler joins packets into pictures and notices lost ones. It runs on
// one receiving goroutine (gortsplib's, or the UDP path's), so it needs no
// lock.
type assembler struct {
	dec     *rtpmjpeg.Decoder
	started bool   // a packet has arrived
	ts      uint32 // RTP time of the picture being assembled
	done    bool   // that picture was delivered
	seq     uint16 // last sequence number seen
}

// push takes one packet and returns a complete picture, if this packet
// finished one, and how many pictures it showed to be lost.
func (a *assembler) push(pkt *rtp.Packet) (jpeg []byte, lost uint64) {
	gap := a.started && pkt.SequenceNumber != a.seq+1
	if !a.started || pkt.Timestamp != a.ts {
		switch {
		case a.started && !a.done:
			lost++ // the previous picture never completed
		case gap && startsPicture(pkt):
			// finished, then packets vanished before this picture's
			// first: a whole picture went missing.
			lost++
		}
		a.ts, a.done = pkt.Timestamp, false
	}
	a.started, a.seq = true, pkt.SequenceNumber
	if a.done {
		return nil, lost // stray packet of a picture already shown
	}
	img, err := a.dec.Decode(pkt)
	if err != nil {
		return nil, lost
	}
	a.done = true
	return img, lost
}

// startsPicture reports whether pkt carries the start of a picture: its
// RFC 2435 fragment offset (bytes 1-3 of the payload) is zero.
func startsPicture(pkt *rtp.Packet) bool {
	p := pkt.Payload
	return len(p) >= 4 && p[1] == 0 && p[2] == 0 && p[3] == 0
}
