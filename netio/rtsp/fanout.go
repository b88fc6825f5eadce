package rtsp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/rtpsender"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	// historyFrames is how many packetised frames the fan-out keeps. The
	// writer needs two (the one it sends and the one being written); the
	// rest let it fall a few frames behind without WriteJPEG ever waiting
	// for it, and are the shared history retransmission resends from
	// (nack.go): 16 frames hold historyAge at 30 fps.
	historyFrames = 16

	// historyAge is how long a packet can be asked for again: about half a
	// second, ten round trips of a poor Wi-Fi link, and well past the
	// 64-packet reorder buffer of a gortsplib reader, after which a
	// resent packet is dropped as old anyway.
	historyAge = 500 * time.Millisecond

	// maxBehind is how many frames the writer may have waiting before it
	// skips to the newest: latency over completeness, as the viewer does.
	maxBehind = 2

	// sendBudget bounds how long one batch waits for the server's own
	// send buffer (the uplink, shared by every reader). Nothing a single
	// reader does can make a UDP send wait, so this is only reached when
	// the network can't carry the stream; then the rest of that frame is
	// dropped, for the readers not yet served. Never a deadline a packet.
	sendBudget = 200 * time.Millisecond

	// sendBuffer is the sending socket's buffer (SO_SNDBUF; the kernel
	// caps it at net.core.wmem_max, 208 KiB by default; the .deb raises
	// the cap to 4 MiB, packaging/sysctl). Every reader's packets are charged to it until they
	// leave the machine, also those waiting in a queue that only one
	// reader's path goes through (a qdisc or a Wi-Fi station's queue
	// limited to that viewer's rate): with the default, a slow viewer's
	// queue holds the whole buffer, and every batch waits for it. With
	// room for such queues, the slow path's queue drops its packets, which
	// that reader reports (NACKs, receiver reports) and is thinned for,
	// while the others' sends don't wait.
	sendBuffer = 4 << 20

	// senderReportPeriod is gortsplib's own period (Server.senderReportPeriod
	// in v5.2.0): UDP readers get reports as often as TCP ones.
	senderReportPeriod = 10 * time.Second
)

// udpReader is a unicast UDP reader: where its RTP and RTCP go, and what
// became of them. Retransmission and thinning (the DESIGN's loss row)
// keep their per-reader state here.
type udpReader struct {
	rtp, rtcp *net.UDPAddr
	packets   atomic.Uint64 // RTP packets handed to the kernel
	dropped   atomic.Uint64 // RTP packets lost in this server: send failed, or the frame ran out of time
	bytes     atomic.Uint64 // RTP bytes handed to the kernel: what its resend budget grows from
	thinned   atomic.Uint64 // frames it was not sent, to thin its stream
	thin      thinState
}

// frame is one picture's RTP packets, back to back. Only put writes it,
// under the track's writeMu; the writer and NACK answers read it.
type frame struct {
	mu   sync.RWMutex // put writes, the writer and resends read
	seq  uint64       // the frame's number since the start; 0 is empty
	data []byte
	ends []int // where each packet ends in data
}

// kept is what the ring holds in a slot, for resends to find a packet by
// its sequence number without locking every frame.
type kept struct {
	seq   uint64    // the frame's number; 0 is empty
	first uint16    // its first packet's sequence number
	n     int       // its packets
	at    time.Time // when it was put
}

func (f *frame) packet(i int) []byte {
	start := 0
	if i > 0 {
		start = f.ends[i-1]
	}
	return f.data[start:f.ends[i]]
}

// fanout sends RTP to unicast UDP readers itself, a frame's packets to all
// of them in a few sendmmsg calls, from the server's RTP socket; see the
// package documentation.
type fanout struct {
	out    batcher      // sends from gortsplib's RTP port
	rtcp   *net.UDPConn // gortsplib's RTCP listener
	ssrc   uint32
	sender *rtpsender.Sender

	readers atomic.Pointer[[]*udpReader] // replaced whole on every change
	addMu   sync.Mutex                   // serialises replacements

	mu      sync.Mutex // guards written and index
	ring    [historyFrames]frame
	index   [historyFrames]kept
	written uint64 // the newest frame's seq
	wake    chan struct{}
	total   atomic.Uint64 // RTP bytes ever put: what a resend budget grows from

	skipped atomic.Uint64 // frames the writer skipped for being behind
	bytes   atomic.Uint64
	dropped atomic.Uint64 // all readers' drops, for Stats
	thinned atomic.Uint64 // frames not sent to a reader, all readers' (thin.go)

	// noThin sends every reader every frame whatever becomes of it: to
	// compare with thinning. Set before the writer runs.
	noThin bool
	// epoch is the window clock every reader's thinning verdicts fall on
	// (thinState.boundary): the server's, so every track's readers share
	// it.
	epoch   time.Time
	log     *slog.Logger
	stepLog rateLog // readers stepping down and up

	// The writer's own, reused for every frame so that sending allocates
	// nothing.
	hdrs, bodies [][]byte // a message's per-reader header (nil: none) and shared packet or payload
	hdrBuf       []byte   // the headers, rtpHeaderSize each
	dsts         []*net.UDPAddr
	picked       []*udpReader // the readers that get this frame
	drops, sizes []uint64     // per picked reader, this frame
}

// newFanout sends from conn; degraded says why it sends through Go's
// poller from conn itself rather than from a socket beside it.
func newFanout(conn, rtcpConn *net.UDPConn, ssrc uint32) (f *fanout, degraded error) {
	var out batcher
	out, degraded = newBatchConn(conn, sendBudget)
	f = &fanout{out: out, rtcp: rtcpConn, ssrc: ssrc, wake: make(chan struct{}, 1), log: slog.Default()}
	f.stepLog.every = thinLogEvery
	f.readers.Store(&[]*udpReader{})
	f.sender = &rtpsender.Sender{ClockRate: jpegClockRate, Period: senderReportPeriod,
		WritePacketRTCP: f.report}
	f.sender.Initialize()
	return f, degraded
}

// close stops the sender reports and closes the sending socket; the
// writer must have returned.
func (f *fanout) close() {
	f.sender.Close()
	f.out.close()
}

// add starts sending to r; adding it twice changes nothing.
func (f *fanout) add(r *udpReader) {
	f.addMu.Lock()
	defer f.addMu.Unlock()
	old := *f.readers.Load()
	if slices.Contains(old, r) {
		return
	}
	next := make([]*udpReader, 0, len(old)+1)
	next = append(append(next, old...), r)
	f.readers.Store(&next)
}

// remove stops sending to r; a frame being sent may still reach it.
func (f *fanout) remove(r *udpReader) {
	f.addMu.Lock()
	defer f.addMu.Unlock()
	old := *f.readers.Load()
	next := make([]*udpReader, 0, len(old))
	for _, o := range old {
		if o != r {
			next = append(next, o)
		}
	}
	f.readers.Store(&next)
}

// count is the number of readers now.
func (f *fanout) count() int { return len(*f.readers.Load()) }

// put packetises s as the frame after the newest, its packets numbered
// from seq with RTP time ts, for the writer, and feeds the sender reports
// with them, as gortsplib's stream does for its own readers: same
// timestamps, same capture times, so the RTP↔NTP mapping is today's. It
// never waits for the writer. The frame it returns holds until the
// next put; its caller, under the track's writeMu, may read it.
func (f *fanout) put(s *jpegScan, seq uint16, ts uint32, captured, now time.Time) *frame {
	f.mu.Lock()
	n := f.written + 1
	fr := &f.ring[n%historyFrames]
	f.index[n%historyFrames] = kept{}
	f.mu.Unlock()

	fr.mu.Lock()
	fr.seq = n
	fr.data, fr.ends = packetize(fr.data[:0], fr.ends[:0], s, seq, ts, f.ssrc)
	fr.mu.Unlock()
	// The sender reports count what readers are sent: packets and payload
	// bytes, with the capture time of the RTP time.
	var p rtp.Packet
	p.Timestamp, p.SSRC = ts, f.ssrc
	for i := range fr.ends {
		p.SequenceNumber, p.Payload = seq+uint16(i), fr.packet(i)[rtpHeaderSize:]
		f.sender.ProcessPacket(&p, captured, true)
	}
	f.total.Add(uint64(len(fr.data)))

	f.mu.Lock()
	f.written = n
	f.index[n%historyFrames] = kept{seq: n, first: seq, n: len(fr.ends), at: now}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return fr
}

// resendable calls fn with the packet numbered seq in the stream's own
// numbering, if the ring still holds it and it was put within historyAge
// of now, and says whether it did. fn must not keep the packet.
func (f *fanout) resendable(seq uint16, now time.Time, fn func(pkt []byte)) bool {
	f.mu.Lock()
	var k kept
	for _, c := range f.index {
		if c.seq != 0 && seq-c.first < uint16(c.n) {
			k = c
			break
		}
	}
	f.mu.Unlock()
	if k.seq == 0 || now.Sub(k.at) > historyAge {
		return false
	}
	fr := &f.ring[k.seq%historyFrames]
	fr.mu.RLock()
	defer fr.mu.RUnlock()
	if fr.seq != k.seq { // put over since
		return false
	}
	fn(fr.packet(int(seq - k.first)))
	return true
}

// run is the writer: it sends each new frame to every reader until done
// closes.
func (f *fanout) run(done <-chan struct{}) {
	var sent uint64
	for {
		select {
		case <-done:
			return
		case <-f.wake:
		}
		for {
			f.mu.Lock()
			newest := f.written
			f.mu.Unlock()
			if sent >= newest {
				break
			}
			if newest-sent > maxBehind {
				f.skipped.Add(newest - 1 - sent)
				sent = newest - 1
			}
			sent++
			f.send(&f.ring[sent%historyFrames], sent)
		}
	}
}

// send sends frame number seq to every reader that takes it (thin.go),
// reader by reader, in batches of as many messages as one sendmmsg takes.
// A reader gets its frame as one burst: its thread is woken once a frame,
// where packet by packet across readers would wake every reader for nearly
// every packet, and wake-ups, not copies, are most of what a datagram
// costs on a small machine (GStreamer's multiudpsink orders its batches
// the same way). A burst of a frame fits any reader's socket buffer that
// holds a frame at all. Message k is packet k%P to picked reader k/P, P
// packets. The first reader served turns with the frame: when the uplink
// can't carry a frame, the readers served last lose it, and that must not
// always be the same ones, or they would be thinned for the others' sake.
func (f *fanout) send(fr *frame, seq uint64) {
	readers := *f.readers.Load()
	if len(readers) == 0 {
		return
	}
	fr.mu.RLock()
	defer fr.mu.RUnlock()
	if fr.seq != seq || len(fr.ends) == 0 {
		return // overwritten while we were behind; counted as skipped next time
	}
	np := len(fr.ends)
	first := binary.BigEndian.Uint16(fr.data[2:4])
	picked := f.pick(readers, seq, time.Now())
	n := np * len(picked)
	if cap(f.bodies) < n {
		f.hdrs, f.bodies, f.dsts = make([][]byte, n), make([][]byte, n), make([]*net.UDPAddr, n)
		f.hdrBuf = make([]byte, n*rtpHeaderSize)
	}
	if cap(f.drops) < len(picked) {
		f.drops, f.sizes = make([]uint64, len(picked)), make([]uint64, len(picked))
	}
	hdrs, bodies, dsts := f.hdrs[:n], f.bodies[:n], f.dsts[:n]
	drops, sizes := f.drops[:len(picked)], f.sizes[:len(picked)]
	clear(drops)
	k := 0
	for j, r := range picked {
		sizes[j] = uint64(len(fr.data))
		base := r.thin.base(first)
		r.thin.numbered(first, np)
		for i := range np {
			p := fr.packet(i)
			hdrs[k], bodies[k], dsts[k] = nil, p, r.rtp
			if base != first {
				// The reader's own numbering: a copy of the header
				// with its number, and the shared payload.
				h := f.hdrBuf[k*rtpHeaderSize : (k+1)*rtpHeaderSize]
				copy(h, p[:rtpHeaderSize])
				binary.BigEndian.PutUint16(h[2:4], base+uint16(i))
				hdrs[k], bodies[k] = h, p[rtpHeaderSize:]
			}
			k++
		}
	}
	for k = 0; k < n; {
		sent, failed, err := f.out.writeBatch(hdrs[k:], bodies[k:], dsts[k:])
		k += sent
		lost := k
		switch {
		case err == nil:
			continue
		case errors.Is(err, errBudget):
			// The uplink can't carry the frame: the readers not yet
			// served lose the rest of it.
			k = n
		default:
			// An error of one destination (no route, a firewall's EPERM):
			// its reader loses this message's packets, the others go on.
			k += failed
		}
		for j := lost; j < k; j++ {
			drops[j/np]++
			sizes[j/np] -= uint64(len(hdrs[j]) + len(bodies[j]))
		}
	}
	var dropped, bytes uint64
	for j, r := range picked {
		r.packets.Add(uint64(np) - drops[j])
		r.dropped.Add(drops[j])
		r.bytes.Add(sizes[j])
		r.thin.sent(np, drops[j] == uint64(np))
		dropped += drops[j]
		bytes += sizes[j]
	}
	f.dropped.Add(dropped)
	f.bytes.Add(bytes)
	if why := f.out.noGSO(); why != nil {
		f.log.Info("rtp fan-out sends a datagram a packet, without UDP GSO", "reason", why)
	}
	clear(dsts) // drop the references to readers that may leave
	clear(bodies)
	clear(hdrs)
	clear(picked)
}

// pick runs each reader's thinning policy and returns the readers that
// get this frame, the first served turning with seq.
func (f *fanout) pick(readers []*udpReader, seq uint64, now time.Time) []*udpReader {
	picked := f.picked[:0]
	nr := len(readers)
	var thinned uint64
	var group thinGroup
	if !f.noThin {
		group = groupOf(readers)
	}
	for j := range nr {
		r := readers[(j+int(seq%uint64(nr)))%nr]
		if f.noThin {
			picked = append(picked, r)
			continue
		}
		if r.thin.epoch.IsZero() {
			// New to the fan-out: it joins at the share of the readers
			// already here, not above them (joinShare).
			if r.thin.join(group.joinShare()) {
				f.logStep(r, 0, 0, now)
			}
			r.thin.epoch = f.epoch
		}
		if step, loss := r.thin.look(now, r.packets.Load(), r.dropped.Load(), group.mean); step != 0 {
			f.logStep(r, step, loss, now)
		}
		if !r.thin.take() {
			r.thinned.Add(1)
			thinned++
			continue
		}
		picked = append(picked, r)
	}
	f.thinned.Add(thinned)
	f.picked = picked
	return picked
}

// logStep says that r stepped down (step -1) or up (+1), or joined
// thinned readers at their share (0), a line a while.
func (f *fanout) logStep(r *udpReader, step int, loss float64, now time.Time) {
	n, ok := f.stepLog.note(now)
	if !ok {
		return
	}
	share := fmt.Sprintf("%d/%d", r.thin.share(), thinSteps)
	switch {
	case step == 0:
		f.log.Info("reader joins thinned readers at their share: fewer frames", "address", r.rtp.String(),
			"share", share, "steps", n)
		return
	case step > 0:
		f.log.Info("reader thinned less: more frames", "address", r.rtp.String(), "share", share,
			"loss", fmt.Sprintf("%.3f", loss), "steps", n)
	default:
		f.log.Info("reader thinned: fewer frames", "address", r.rtp.String(), "share", share,
			"loss", fmt.Sprintf("%.3f", loss), "steps", n)
	}
}

// report sends a sender report to every reader's RTCP port; the
// rtpsender's goroutine calls it.
func (f *fanout) report(pkt rtcp.Packet) {
	b, err := pkt.Marshal()
	if err != nil {
		return
	}
	readers := *f.readers.Load()
	f.rtcp.SetWriteDeadline(time.Now().Add(sendBudget))
	for _, r := range readers {
		f.rtcp.WriteTo(b, r.rtcp) //nolint:errcheck // a lost report is like a lost packet; the next one comes
	}
}
