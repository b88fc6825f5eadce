package rtsp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// maxRenditions bounds Server.Renditions: each costs two gortsplib
// streams, a sending socket and a writer goroutine, and a ladder of more
// than a few rungs gives a viewer nothing to choose between that the
// next rung down wouldn't.
const maxRenditions = 4

// renditionName is what a rendition may be called: it is a path segment
// and a header value, so nothing that needs escaping in either, and never
// "trackID=…", which gortsplib reads as a SETUP's media.
var renditionName = regexp.MustCompile(`^[a-z0-9-]{1,16}$`)

// checkRenditions validates Server.Renditions.
func checkRenditions(names []string) error {
	if len(names) > maxRenditions {
		return fmt.Errorf("rtsp renditions: %d, at most %d", len(names), maxRenditions)
	}
	seen := map[string]bool{}
	for _, n := range names {
		switch {
		case !renditionName.MatchString(n):
			return fmt.Errorf("rtsp rendition %q: want 1 to 16 of a-z, 0-9 and -", n)
		case n == netio.Full:
			return fmt.Errorf("rtsp rendition %q: the name of the main stream", n)
		case seen[n]:
			return fmt.Errorf("rtsp rendition %q: named twice", n)
		}
		seen[n] = true
	}
	return nil
}

// track is one stream the server serves at one path: the main stream or
// one rendition. Each has all a stream needs to itself (the package
// documentation's two gortsplib streams, an RTP/JPEG packetiser with its own
// SSRC and sequence numbers, a fan-out with its writer, a retransmission
// history), so a rendition's readers, losses and resends never touch
// another's; they share the server's sockets, limits and RTP epoch.
type track struct {
	name  string // netio.Full for the main stream
	path  string
	title string // the SDP's session name (s=)

	stream    *gortsplib.ServerStream // TCP-interleaved and multicast readers: gortsplib sends
	media     *description.Media
	udpStream *gortsplib.ServerStream // unicast UDP readers' sessions: fan sends
	fan       *fanout

	writeMu sync.Mutex // serialises writes: the ring, seq and pkt
	seq     uint16     // the next packet's sequence number
	pkt     rtp.Packet // what gortsplib's stream is handed, reused
	closed  bool       // under writeMu: Serve closed the streams
	frames  atomic.Uint64
	readers atomic.Int64 // sessions playing it now; the ledger keeps it
	// libReaders are the sessions playing it that gortsplib sends to
	// (TCP-interleaved, multicast): while there is none, stream gets only
	// each picture's last packet (see write).
	libReaders atomic.Int64
	rtx        retransmitter
}

// open sets up t's streams, encoder and fan-out on s's started gortsplib
// server and sockets; on failure it closes what it opened.
func (t *track) open(s *Server) error {
	stream, media := newStream(s.srv, t.title)
	udpStream, udpMedia := newStream(s.srv, t.title)
	if err := stream.Initialize(); err != nil {
		return fmt.Errorf("rtsp stream %s: %w", t.path, err)
	}
	if err := udpStream.Initialize(); err != nil {
		stream.Close()
		return fmt.Errorf("rtsp stream %s: %w", t.path, err)
	}
	// The SSRC the SETUP answers of UDP readers announce.
	ssrc := udpStream.Stats().Medias[udpMedia].Formats[udpMedia.Formats[0]].LocalSSRC
	fan, degraded := newFanout(s.rtpConn, s.rtcpConn, ssrc)
	fan.log, fan.noThin, fan.epoch = s.Logger, s.NoThinning, s.start
	if degraded != nil && t.name == netio.Full { // the same reason for every track: say it once
		s.Logger.Info("rtp fan-out sends from the RTSP server's socket, through Go's poller", "reason", degraded)
	}
	t.stream, t.media, t.udpStream, t.fan = stream, media, udpStream, fan
	t.rtx.src = fan
	// A random first number, as RFC 3550 §5.1 asks and gortsplib's encoder did.
	t.seq = uint16(rand.Uint32())
	return nil
}

// newStream is a stream of one M-JPEG video.
func newStream(srv *gortsplib.Server, title string) (*gortsplib.ServerStream, *description.Media) {
	m := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.MJPEG{}}}
	return &gortsplib.ServerStream{Server: srv,
		Desc: &description.Session{Title: title, Medias: []*description.Media{m}}}, m
}

// write sends one picture, captured at captured, to t's readers, with the
// RTP time of the server's epoch start, and returns that RTP time and the
// picture as sent (its size rounded up to 8, see jpeg.go).
func (t *track) write(jpeg []byte, captured, start time.Time) (uint32, []byte, error) {
	jpeg, err := padTo8(jpeg)
	if err != nil {
		return 0, nil, fmt.Errorf("rtp/jpeg: %w", err)
	}
	scan, err := parseJPEG(jpeg)
	if err != nil {
		return 0, nil, fmt.Errorf("rtp/jpeg: %w", err)
	}
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	if t.closed {
		return 0, nil, errClosed
	}
	ts := uint32(captured.Sub(start).Seconds() * jpegClockRate)
	first := t.seq
	fr := t.fan.put(&scan, first, ts, captured, time.Now())
	n := len(fr.ends)
	t.seq += uint16(n)
	// gortsplib's stream allocates and marshals every packet it is given,
	// reader or not: with unicast UDP readers only (the fan-out's), that
	// was the largest cost left at one reader. Given only a picture's last
	// packet, its sender still knows the next sequence number and the
	// RTP time, so the RTP-Info of a TCP reader's PLAY stays exact; that
	// reader is counted before its answer goes, so it gets whole pictures
	// from the next one on. It marshals what it is given before it
	// returns, so the packet may point into the ring.
	from := n - 1
	if t.libReaders.Load() > 0 {
		from = 0
	}
	for i := from; i < n; i++ {
		b := fr.packet(i)
		t.pkt.Header = rtp.Header{Version: 2, PayloadType: rtpJPEGType, Marker: i == n-1,
			SequenceNumber: first + uint16(i), Timestamp: ts}
		t.pkt.Payload = b[rtpHeaderSize:]
		err := t.stream.WritePacketRTPWithNTP(t.media, &t.pkt, captured)
		t.pkt.Payload = nil // the ring's, not to be held past the next put
		if err != nil {
			return 0, nil, fmt.Errorf("rtsp write: %w", err)
		}
	}
	t.frames.Add(1)
	return ts, jpeg, nil
}

var errClosed = errors.New("rtsp server closed")

// close stops t's writes and closes its fan-out and streams; its writer
// must have returned.
func (t *track) close() {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.closed = true
	t.fan.close()
	t.stream.Close()
	t.udpStream.Close()
}
