package rtsp

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/rtpsender"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"golang.org/x/net/ipv4"
)

const (
	// historyFrames is how many marshalled frames the fan-out keeps. The
	// writer needs two (the one it sends and the one being written);
	// the rest let it fall a few frames behind without WriteJPEG ever
	// waiting for it, and are the shared history that retransmission
	// will resend from.
	historyFrames = 8

	// maxBehind is how many frames the writer may have waiting before it
	// skips to the newest: latency over completeness, as the viewer does.
	maxBehind = 2

	// frameBudget bounds how long the writer waits for the server's own
	// send buffer (the uplink, shared by every reader) while sending one
	// frame. Nothing a single reader does can make a UDP send wait, so
	// this is only reached when the network can't carry the stream; then
	// the rest of that frame is dropped, for the readers not yet served.
	frameBudget = 500 * time.Millisecond

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
}

// frame is one picture's RTP packets, marshalled back to back.
type frame struct {
	mu   sync.RWMutex // WriteJPEG writes, the writer reads
	seq  uint64       // the frame's number since the start; 0 is empty
	data []byte
	ends []int // where each packet ends in data
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
	conn   *net.UDPConn // gortsplib's RTP listener
	rtcp   *net.UDPConn // gortsplib's RTCP listener
	batch  *ipv4.PacketConn
	ssrc   uint32
	sender *rtpsender.Sender

	readers atomic.Pointer[[]*udpReader] // replaced whole on every change
	addMu   sync.Mutex                   // serialises replacements

	mu      sync.Mutex // guards written and the ring's order
	ring    [historyFrames]frame
	written uint64 // the newest frame's seq
	wake    chan struct{}

	skipped atomic.Uint64 // frames the writer skipped for being behind
	bytes   atomic.Uint64
	dropped atomic.Uint64 // all readers' drops, for Stats

	// The writer's own, reused for every frame so that sending allocates
	// nothing.
	msgs  []ipv4.Message
	bufs  [][]byte
	drops []uint64 // per reader, this frame
}

func newFanout(conn, rtcpConn *net.UDPConn, ssrc uint32) *fanout {
	f := &fanout{conn: conn, rtcp: rtcpConn, batch: ipv4.NewPacketConn(conn), ssrc: ssrc,
		wake: make(chan struct{}, 1)}
	f.readers.Store(&[]*udpReader{})
	f.sender = &rtpsender.Sender{ClockRate: jpegClockRate, Period: senderReportPeriod,
		WritePacketRTCP: f.report}
	f.sender.Initialize()
	return f
}

// close stops the sender reports.
func (f *fanout) close() { f.sender.Close() }

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

// put stores a frame's packets for the writer and feeds the sender
// reports with them, as gortsplib's stream does for its own readers: same
// timestamps, same capture times, so the RTP↔NTP mapping is today's. It
// never waits for the writer unless that is historyFrames behind.
func (f *fanout) put(pkts []*rtp.Packet, captured time.Time) error {
	f.mu.Lock()
	seq := f.written + 1
	fr := &f.ring[seq%historyFrames]
	f.mu.Unlock()

	fr.mu.Lock()
	fr.seq, fr.data, fr.ends = seq, fr.data[:0], fr.ends[:0]
	for _, p := range pkts {
		p.SSRC = f.ssrc
		n := p.MarshalSize()
		start := len(fr.data)
		if cap(fr.data)-start < n {
			fr.data = append(fr.data, make([]byte, n)...)[:start]
		}
		m, err := p.MarshalTo(fr.data[start : start+n])
		if err != nil {
			fr.seq = 0
			fr.mu.Unlock()
			return fmt.Errorf("marshal rtp: %w", err)
		}
		fr.data = fr.data[:start+m]
		fr.ends = append(fr.ends, len(fr.data))
		f.sender.ProcessPacket(p, captured, true)
	}
	fr.mu.Unlock()

	f.mu.Lock()
	f.written = seq
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
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

// send sends frame number seq to every reader: packet by packet, each to
// all readers in turn, so a reader's burst is spread over the whole
// frame's sending time (gentler on its socket buffer), in batches of as
// many messages as one sendmmsg takes. Message k is packet k/R to reader
// k%R, R readers.
func (f *fanout) send(fr *frame, seq uint64) {
	readers := *f.readers.Load()
	if len(readers) == 0 {
		return
	}
	fr.mu.RLock()
	defer fr.mu.RUnlock()
	if fr.seq != seq {
		return // overwritten while we were behind; counted as skipped next time
	}
	nr := len(readers)
	n := len(fr.ends) * nr
	if cap(f.msgs) < n {
		f.msgs, f.bufs = make([]ipv4.Message, n), make([][]byte, n)
	}
	if cap(f.drops) < nr {
		f.drops = make([]uint64, nr)
	}
	msgs, bufs, drops := f.msgs[:n], f.bufs[:n], f.drops[:nr]
	clear(drops)
	k := 0
	for i := range fr.ends {
		p := fr.packet(i)
		for _, r := range readers {
			bufs[k] = p
			msgs[k] = ipv4.Message{Buffers: bufs[k : k+1], Addr: r.rtp}
			k++
		}
	}
	bytes := uint64(len(fr.data) * nr)
	// One deadline for the frame, not one a packet. A deadline changes
	// no socket option: Go's poller keeps it.
	f.conn.SetWriteDeadline(time.Now().Add(frameBudget))
	for k = 0; k < n; {
		sent, err := f.batch.WriteBatch(msgs[k:], 0)
		k += sent
		lost := k
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed):
			// The uplink can't carry the frame, or we are closing: the
			// readers not yet served lose the rest of it.
			k = n
		default:
			// An error of one destination (no route, a firewall's EPERM):
			// its reader loses this packet, the others go on.
			k++
		}
		for j := lost; j < k; j++ {
			drops[j%nr]++
			bytes -= uint64(len(bufs[j]))
		}
	}
	var dropped uint64
	for j, r := range readers {
		r.packets.Add(uint64(len(fr.ends)) - drops[j])
		r.dropped.Add(drops[j])
		dropped += drops[j]
	}
	f.dropped.Add(dropped)
	f.bytes.Add(bytes)
	clear(msgs) // drop the references to readers that may leave
}

// report sends a sender report to every reader's RTCP port; the
// rtpsender's goroutine calls it.
func (f *fanout) report(pkt rtcp.Packet) {
	b, err := pkt.Marshal()
	if err != nil {
		return
	}
	readers := *f.readers.Load()
	f.rtcp.SetWriteDeadline(time.Now().Add(frameBudget))
	for _, r := range readers {
		f.rtcp.WriteTo(b, r.rtcp) //nolint:errcheck // a lost report is like a lost packet; the next one comes
	}
}
