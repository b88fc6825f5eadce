package rtsp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/bluenviron/gortsplib/v5/pkg/sdp"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// The UDP unicast receive path: lsview's own RTSP session and sockets, so
// that every packet is seen as it arrives and a gap is asked for at once
// (see recover.go). gortsplib's Client still plays TCP and multicast.
const (
	// receiverReportEvery is how often a receiver report goes out: gortsplib and
	// MediaMTX servers end a UDP session that sends no RTCP for their
	// read timeout (10 s by default).
	receiverReportEvery = time.Second
	// firstPacketWait is how long auto waits for the first packet over
	// UDP before it falls back to TCP: gortsplib's InitialUDPReadTimeout.
	firstPacketWait = 3 * time.Second
	// maxDatagram is the largest packet read: more than any MTU.
	maxDatagram = 2048
)

// errNoUDP says no packet came over UDP in firstPacketWait, or the server
// refused UDP: auto tries TCP.
var errNoUDP = errors.New("no packets over UDP")

// senderReport is the newest RTCP sender report: the RTP-to-wall-clock
// mapping and what a receiver report echoes.
type senderReport struct {
	ntp     time.Time
	rtpTime uint32
	lsr     uint32 // the middle 32 bits of its NTP time
	at      time.Time
}

// udpSession is one play over UDP unicast.
type udpSession struct {
	c       *Client
	log     *slog.Logger
	rc      *rtspConn
	rtpConn *net.UDPConn
	rtcp    *net.UDPConn
	server  netip.Addr
	rtpFrom uint16         // the server's RTP port; 0: any
	rtcpTo  netip.AddrPort // where our RTCP goes
	ssrc    uint32         // ours, in NACKs and reports
	sr      atomic.Pointer[senderReport]
	hold    *holder
	asm     assembler
	onFrame func(Frame)

	// counters for receiver reports; the receiving goroutine's own.
	mediaSSRC   uint32
	pinned      bool   // mediaSSRC is the one SETUP announced
	cycles      uint32 // sequence number wraps, shifted by 16
	maxSeq      uint16
	baseSeq     uint32
	received    uint32
	expectPrior uint32
	recvPrior   uint32
	jitter      float64
	lastTransit int64
	t0          time.Time // the origin of transit times
	haveTransit bool
}

// runUDP plays c.URL over UDP unicast with the own receive path. It
// returns errNoUDP (wrapped) when auto should fall back to TCP.
func (c *Client) runUDP(ctx context.Context, u *base.URL, log *slog.Logger, onFrame func(Frame)) error {
	timeout := c.ReadTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	rc, err := dialRTSP(ctx, u, timeout)
	if err != nil {
		return fmt.Errorf("rtsp connect %s: %w", u.Host, err)
	}
	defer rc.close()
	// Close the connection when ctx ends, so a handshake blocked on the
	// server returns.
	stopWatch := context.AfterFunc(ctx, rc.close)
	defer stopWatch()

	if _, err := rc.do(base.Options, u, nil); err != nil {
		return fmt.Errorf("rtsp options %s: %w", c.URL, err)
	}
	res, err := rc.do(base.Describe, u, base.Header{"Accept": base.HeaderValue{"application/sdp"}})
	if err != nil {
		return fmt.Errorf("rtsp describe %s: %w", c.URL, err)
	}
	c.described(res.Header)
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(res.Body); err != nil {
		return fmt.Errorf("rtsp describe %s: sdp: %w", c.URL, err)
	}
	var desc description.Session
	if err := desc.Unmarshal(&sd); err != nil {
		return fmt.Errorf("rtsp describe %s: sdp: %w", c.URL, err)
	}
	desc.BaseURL = contentBase(res, u)
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if medi == nil {
		return fmt.Errorf("%s: %w", c.URL, ErrNotJPEG)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		return fmt.Errorf("rtp/jpeg decoder: %w", err)
	}
	mediaURL, err := medi.URL(desc.BaseURL)
	if err != nil {
		return fmt.Errorf("rtsp media url: %w", err)
	}

	s := &udpSession{c: c, log: log, rc: rc, asm: assembler{dec: dec}, onFrame: onFrame, ssrc: randomSSRC(), t0: time.Now()}
	if s.rtpConn, s.rtcp, err = listenPair(cmp(c.UDPReadBufferSize, 1<<20)); err != nil {
		return fmt.Errorf("rtsp udp ports: %w", err)
	}
	defer s.rtpConn.Close()
	defer s.rtcp.Close()
	rtpPort := s.rtpConn.LocalAddr().(*net.UDPAddr).Port
	th := headers.Transport{Protocol: headers.TransportProtocolUDP, Delivery: ptr(headers.TransportDeliveryUnicast),
		ClientPorts: &[2]int{rtpPort, rtpPort + 1}}
	res, err = rc.do(base.Setup, mediaURL, base.Header{"Transport": th.Marshal()})
	if err != nil {
		if unsupportedTransport(err) {
			return fmt.Errorf("rtsp setup %s: %w: %w", c.URL, errNoUDP, err)
		}
		return fmt.Errorf("rtsp setup %s: %w", c.URL, err)
	}
	keepAlive, err := rc.setSession(res)
	if err != nil {
		return fmt.Errorf("rtsp setup %s: %w", c.URL, err)
	}
	var got headers.Transport
	if err := got.Unmarshal(res.Header["Transport"]); err != nil {
		return fmt.Errorf("rtsp setup %s: transport: %w", c.URL, err)
	}
	if got.Protocol != headers.TransportProtocolUDP || (got.Delivery != nil && *got.Delivery != headers.TransportDeliveryUnicast) {
		return fmt.Errorf("rtsp setup %s: server chose another transport: %w", c.URL, errNoUDP)
	}
	peer, ok := netip.AddrFromSlice(rc.nc.RemoteAddr().(*net.TCPAddr).IP)
	if !ok {
		return fmt.Errorf("rtsp setup %s: server address %v", c.URL, rc.nc.RemoteAddr())
	}
	s.server = peer.Unmap()
	if got.Source2 != nil {
		// A server may send from another address than it answers on
		// (RFC 2326 §12.39 source): believe it only if it is an address.
		if a, err := netip.ParseAddr(*got.Source2); err == nil {
			s.server = a.Unmap()
		}
	}
	rtcpPort := rtpPort + 1
	if got.ServerPorts != nil {
		s.rtpFrom = uint16(got.ServerPorts[0])
		rtcpPort = got.ServerPorts[1]
	} else {
		s.rtpFrom = 0
	}
	s.rtcpTo = netip.AddrPortFrom(s.server, uint16(rtcpPort))
	if got.SSRC != nil {
		s.mediaSSRC, s.pinned = *got.SSRC, true
	}
	s.hold = newHolder(s.sendNACK, s.deliver)
	c.holder.Store(s.hold)

	// Punch the NAT and tell the server where we are before it sends.
	s.writeRTCP(&rtcp.ReceiverReport{SSRC: s.ssrc})

	if _, err := rc.do(base.Play, desc.BaseURL, base.Header{"Range": base.HeaderValue{"npt=0.000-"}}); err != nil {
		return fmt.Errorf("rtsp play %s: %w", c.URL, err)
	}
	// From here on ctx ends the play by closing the RTP socket, and the
	// control connection stays open for TEARDOWN.
	stopWatch()
	c.transport.Store("UDP")
	log.Debug("rtsp playing", "url", c.URL, "transport", "UDP", "server", s.server, "rtp_port", s.rtpFrom)

	// The goroutines below end when their sockets close: this function
	// closes them all on return, after TEARDOWN.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctrlErr := make(chan error, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		ctrlErr <- s.readControl()
	}()
	go func() {
		defer wg.Done()
		s.readRTCP()
	}()
	stopKeep := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.keepAlive(u, keepAlive, stopKeep)
	}()
	defer func() {
		close(stopKeep)
		// Best effort: a server gone already can't be told.
		_ = rc.send(base.Teardown, desc.BaseURL)
		rc.close()
		s.rtpConn.Close()
		s.rtcp.Close()
	}()
	stopRead := context.AfterFunc(ctx, func() { s.rtpConn.Close() })
	defer stopRead()
	return s.readRTP(timeout, ctrlErr, c.Transport == TransportAuto)
}

// readRTP is the receive loop: packets, gaps, reports. It returns when
// the socket closes, the control connection ends, or nothing arrives in
// timeout.
func (s *udpSession) readRTP(timeout time.Duration, ctrlErr <-chan error, auto bool) error {
	buf := make([]byte, maxDatagram)
	start := time.Now()
	var last time.Time
	nextReport := start.Add(receiverReportEvery)
	var tickAt time.Time // the holder's next look; zero: none due
	for {
		now := time.Now()
		if tickAt.IsZero() {
			tickAt, _ = s.hold.wake(now)
		}
		wake := nextReport
		if !tickAt.IsZero() && tickAt.Before(wake) {
			wake = tickAt
		}
		quiet := last
		if quiet.IsZero() {
			quiet = start
		}
		limit := timeout
		if auto && last.IsZero() {
			limit = firstPacketWait
		}
		if d := quiet.Add(limit); d.Before(wake) {
			wake = d
		}
		if err := s.rtpConn.SetReadDeadline(wake); err != nil {
			return err
		}
		n, from, err := s.rtpConn.ReadFromUDPAddrPort(buf)
		now = time.Now()
		select {
		case err := <-ctrlErr:
			return fmt.Errorf("rtsp control connection: %w", err)
		default:
		}
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			if now.Sub(quiet) >= limit {
				if last.IsZero() && auto {
					return fmt.Errorf("rtsp play %s: %w in %v", s.c.URL, errNoUDP, limit)
				}
				return fmt.Errorf("rtsp play %s: no packet in %v", s.c.URL, limit)
			}
		default:
			return err
		}
		if err == nil && s.fromServer(from, s.rtpFrom) {
			pkt := &rtp.Packet{}
			if pkt.Unmarshal(append([]byte(nil), buf[:n]...)) == nil {
				if (last.IsZero() && !s.pinned) || pkt.SSRC == s.mediaSSRC {
					last = now
					s.count(pkt, now)
					s.hold.push(pkt, now)
				}
			}
		}
		if !tickAt.IsZero() && !now.Before(tickAt) {
			s.hold.tick(now)
			tickAt = time.Time{}
		}
		if !now.Before(nextReport) {
			s.report(now)
			nextReport = now.Add(receiverReportEvery)
		}
	}
}

// fromServer reports whether a datagram came from the server's address
// and, when it named one, port: anything else is a stranger's.
func (s *udpSession) fromServer(from netip.AddrPort, port uint16) bool {
	return from.Addr().Unmap() == s.server && (port == 0 || from.Port() == port)
}

// deliver takes the in-order packets from the holder.
func (s *udpSession) deliver(pkt *rtp.Packet, now time.Time) {
	c := s.c
	c.payload.Add(uint64(len(pkt.Payload)))
	c.packets.Add(1)
	jpeg, lost := s.asm.push(pkt)
	if lost > 0 {
		c.lostFrames.Add(lost)
	}
	if jpeg == nil {
		return
	}
	f := Frame{JPEG: jpeg, Received: now, RTPTime: pkt.Timestamp}
	if sr := s.sr.Load(); sr != nil {
		f.Captured = sr.ntp.Add(time.Duration(float64(int32(pkt.Timestamp-sr.rtpTime)) / jpegClockRate * float64(time.Second)))
	}
	c.frames.Add(1)
	c.bytes.Add(uint64(len(jpeg)))
	s.onFrame(f)
}

// count keeps RFC 3550 A.1/A.8's reception statistics for the reports.
func (s *udpSession) count(pkt *rtp.Packet, now time.Time) {
	seq := pkt.SequenceNumber
	if s.received == 0 {
		s.mediaSSRC, s.maxSeq, s.baseSeq = pkt.SSRC, seq, uint32(seq)
	} else if d := seq - s.maxSeq; d < 0x8000 {
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	}
	s.received++
	transit := int64(now.Sub(s.t0).Seconds()*jpegClockRate) - int64(pkt.Timestamp)
	if s.haveTransit {
		d := float64(transit - s.lastTransit)
		if d < 0 {
			d = -d
		}
		s.jitter += (d - s.jitter) / 16
	}
	s.lastTransit, s.haveTransit = transit, true
}

// report sends a receiver report: what a gortsplib or MediaMTX server
// needs to keep the session, and the loss figures a server's thinning
// reads.
func (s *udpSession) report(now time.Time) {
	if s.received == 0 {
		s.writeRTCP(&rtcp.ReceiverReport{SSRC: s.ssrc})
		return
	}
	ext := s.cycles + uint32(s.maxSeq)
	expected := ext - s.baseSeq + 1
	lost := int64(expected) - int64(s.received)
	lost = max(min(lost, 0x7fffff), -0x800000)
	expInt, recvInt := expected-s.expectPrior, s.received-s.recvPrior
	s.expectPrior, s.recvPrior = expected, s.received
	var fraction uint8
	if l := int64(expInt) - int64(recvInt); expInt > 0 && l > 0 {
		fraction = uint8(min(l<<8/int64(expInt), 255))
	}
	rep := rtcp.ReceptionReport{SSRC: s.mediaSSRC, FractionLost: fraction, TotalLost: uint32(lost) & 0xffffff,
		LastSequenceNumber: ext, Jitter: uint32(s.jitter)}
	if sr := s.sr.Load(); sr != nil {
		rep.LastSenderReport = sr.lsr
		rep.Delay = uint32(now.Sub(sr.at).Seconds() * 65536)
	}
	s.writeRTCP(&rtcp.ReceiverReport{SSRC: s.ssrc, Reports: []rtcp.ReceptionReport{rep}})
}

func (s *udpSession) sendNACK(seqs []uint16) {
	s.writeRTCP(&rtcp.TransportLayerNack{SenderSSRC: s.ssrc, MediaSSRC: s.mediaSSRC,
		Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)})
}

// writeRTCP sends one RTCP packet to the server. A lost one is answered
// by the next: a NACK's retry, the next report.
func (s *udpSession) writeRTCP(p rtcp.Packet) {
	b, err := p.Marshal()
	if err != nil {
		s.log.Debug("rtcp marshal", "error", err)
		return
	}
	if _, err := s.rtcp.WriteToUDPAddrPort(b, s.rtcpTo); err != nil {
		s.log.Debug("rtcp send", "error", err)
	}
}

// readRTCP takes the server's sender reports until the socket closes.
func (s *udpSession) readRTCP() {
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := s.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !s.fromServer(from, s.rtcpTo.Port()) {
			continue
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		now := time.Now()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				s.sr.Store(&senderReport{ntp: ntp.Decode(sr.NTPTime), rtpTime: sr.RTPTime,
					lsr: uint32(sr.NTPTime >> 16), at: now})
			}
		}
	}
}

// readControl reads the control connection while playing: the answers to
// keep-alives, and its end when the server goes away.
func (s *udpSession) readControl() error {
	if err := s.rc.nc.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	for {
		if _, err := s.rc.conn.Read(); err != nil {
			return err
		}
	}
}

// keepAlive sends OPTIONS at half the session timeout, as gortsplib's
// client does (some cameras answer no GET_PARAMETER).
func (s *udpSession) keepAlive(u *base.URL, timeout time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(timeout / 2)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := s.rc.send(base.Options, u); err != nil {
				return // readControl sees the connection fail
			}
		}
	}
}

// listenPair opens an RTP socket on an even port and its RTCP socket on
// the next one (RFC 3550 §11), both with the given receive buffer.
func listenPair(readBuffer int) (*net.UDPConn, *net.UDPConn, error) {
	var last error
	for range 64 {
		var b [2]byte
		_, _ = rand.Read(b[:])
		port := 10000 + 2*int(binary.BigEndian.Uint16(b[:])%25000)
		a, err := net.ListenUDP("udp", &net.UDPAddr{Port: port})
		if err != nil {
			last = err
			continue
		}
		r, err := net.ListenUDP("udp", &net.UDPAddr{Port: port + 1})
		if err != nil {
			a.Close()
			last = err
			continue
		}
		if err := a.SetReadBuffer(readBuffer); err != nil {
			a.Close()
			r.Close()
			return nil, nil, err
		}
		return a, r, nil
	}
	return nil, nil, fmt.Errorf("no free port pair: %w", last)
}

// contentBase is the URL the media's control attributes are relative
// to: Content-Base, else Content-Location, else the request's.
func contentBase(res *base.Response, u *base.URL) *base.URL {
	for _, h := range []string{"Content-Base", "Content-Location"} {
		if v, ok := res.Header[h]; ok && len(v) == 1 {
			if b, err := base.ParseURL(v[0]); err == nil {
				b.User = u.User
				return b
			}
		}
	}
	return u
}

func randomSSRC() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func ptr[T any](v T) *T { return &v }
