package rtsp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Loss recovery on the reader's side: ask the server for a missing packet
// with a generic NACK (see nack.go for the server's side).
//
// Where a gap is seen. gortsplib v5.2.0 reads each UDP socket itself and
// asserts that Client.ListenPacket returns a *net.UDPConn
// (client_udp_listener.go), so packets can't be watched as they arrive;
// its receiver (pkg/rtpreceiver) puts them in order and holds everything
// behind a gap until the gap fills or 64 newer packets have come, then
// gives the missing ones up. Seen from OnPacketRTP, a gap is a stall: the
// in-order packets stop while bytes that reached the socket (gortsplib
// counts them as they come) are not handed on: the receiver holds them
// behind a missing packet. A pause inside a picture (the last packet had
// no marker) longer than stallMid is taken for one too, for a loss at a
// picture's tail that nothing follows yet. The watcher then asks for the
// next sequence number, the first missing one for sure; when it arrives
// the receiver releases what it held up to the next gap, which stalls in
// turn. A picture with k
// scattered losses costs k rounds of stall + round trip, well inside the
// 64-packet hold at the loss rates worth recovering (2 % of 60 packets is
// about one loss a picture).
//
// How long it waits. The receiver's 64-packet hold bounds any wait: a
// resent packet that comes after the hold flushed is dropped as old. At
// 40–100 packets a 720p picture that is about one frame interval, at
// 1080p less; the watcher gives up on a packet a frame interval plus the
// round trip after its first NACK, so it stops asking about when the
// receiver stops waiting. It asks once, and again once if the packet is
// still missing a round trip (plus a tick) later, since the resend can be
// lost too.
//
// Round trip. Measured from the NACK to the packet's delivery, smoothed as
// TCP does (RFC 6298, α = 1/8), only from NACKs for packets known missing
// (not a picture maybe not yet sent) answered without a retry (Karn's
// rule): RTCP would give the server the
// round trip (LSR/DLSR of our receiver reports), not us, and
// gortsplib's client exposes no extended report that would. Between
// pictures the watcher sleeps until the next is near (3/4 of the measured
// frame interval): each look reads gortsplib's Stats, and a wake-up every
// 2 ms cost lsview half as much CPU again as all its receiving and
// decoding.
const (
	// recoverTick is how often the watcher looks for a stall while a
	// picture arrives; idleLook before the first packet.
	recoverTick = 2 * time.Millisecond
	idleLook    = 10 * time.Millisecond
	// stallMid is how long the packets of one picture may pause before a
	// pause is a gap: they leave the server back to back, so even a
	// 20 Mbit/s link spaces them by under a millisecond.
	stallMid = 3 * time.Millisecond
	// initialRTT and initialFrame stand in until measured.
	initialRTT   = 10 * time.Millisecond
	initialFrame = time.Second / 30
	// heldBytes of arrivals not handed on mean a packet is held: more
	// than an RTCP sender report (28 bytes, and its SDES), less than any
	// RTP/JPEG packet but a picture's last.
	heldBytes = 200
	// heldQuiet: arrivals counted but not yet handed on for this long
	// are held, not on their way through gortsplib's reading goroutine.
	heldQuiet = time.Millisecond
)

// RecoverStats count a Client's requests for lost packets.
type RecoverStats struct {
	NACKs     uint64        // NACKs sent, retries included
	Recovered uint64        // packets asked for that then arrived
	GaveUp    uint64        // packets asked for that never did
	RTT       time.Duration // smoothed NACK-to-packet time; 0 until measured
}

// gapWatcher notices stalls in the in-order packets and asks for the
// missing one. delivered runs on gortsplib's reading goroutine, tick on
// the watcher's; mu serialises them.
type gapWatcher struct {
	send func(seq uint16, mediaSSRC uint32) // sends a generic NACK for seq
	// arrived is the bytes that reached the socket so far (RTP and RTCP);
	// nil when unknown, then a picture that is later than a frame
	// interval is taken to have lost its first packet.
	arrived func() uint64
	// delivered is the bytes handed on; offset is what arrived and will
	// never be handed on (RTCP, duplicates), learnt at picture ends, so
	// arrived - delivered - offset is what the receiver holds.
	deliveredBytes uint64
	offset         int64
	lastExcess     int64
	offsetSet      bool

	mu        sync.Mutex
	started   bool
	last      uint16 // sequence number of the last delivered packet
	ssrc      uint32
	lastMark  bool      // it ended a picture
	lastAt    time.Time // when it was delivered
	frameEnd  time.Time // when the last picture ended
	frame     time.Duration
	srtt      time.Duration
	measured  bool
	pending   bool // a NACK awaits its packet
	pendSeq   uint16
	pendFirst time.Time // first NACK for pendSeq
	pendLast  time.Time // latest NACK for pendSeq
	retried   bool
	sure      bool   // the packet is known missing, not maybe unsent: a round trip sample is sound
	gaveUp    bool   // pendSeq was given up: don't ask again
	gaveUpSeq uint16 // which

	nacks, recovered, gaveUpN atomic.Uint64
	rtt                       atomic.Int64
}

func newGapWatcher(send func(seq uint16, ssrc uint32), arrived func() uint64) *gapWatcher {
	return &gapWatcher{send: send, arrived: arrived, frame: initialFrame, srtt: initialRTT}
}

func (w *gapWatcher) stats() RecoverStats {
	return RecoverStats{NACKs: w.nacks.Load(), Recovered: w.recovered.Load(), GaveUp: w.gaveUpN.Load(),
		RTT: time.Duration(w.rtt.Load())}
}

// delivered notes a packet gortsplib's receiver handed on, in order.
func (w *gapWatcher) delivered(pkt *rtp.Packet, now time.Time) {
	var arrived uint64
	if pkt.Marker && w.arrived != nil {
		arrived = w.arrived()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deliveredBytes += uint64(pkt.MarshalSize())
	if pkt.Marker && w.arrived != nil {
		w.learnOffset(arrived)
	}
	seq := pkt.SequenceNumber
	if w.pending && int16(seq-w.pendSeq) >= 0 {
		if seq == w.pendSeq {
			w.recovered.Add(1)
			if w.sure && !w.retried {
				w.sample(now.Sub(w.pendFirst))
			}
		}
		w.pending = false
	}
	if pkt.Marker {
		if !w.frameEnd.IsZero() {
			if d := now.Sub(w.frameEnd); d > 0 && d < time.Second {
				w.frame += (d - w.frame) / 8
			}
		}
		w.frameEnd = now
	}
	w.started, w.last, w.ssrc, w.lastMark, w.lastAt = true, seq, pkt.SSRC, pkt.Marker, now
}

// learnOffset updates offset at a picture's end. Bytes held then (the
// next picture's, behind a gap) make the excess look larger for a while,
// so a larger excess is believed only when two picture ends agree; a
// smaller one at once.
func (w *gapWatcher) learnOffset(arrived uint64) {
	excess := int64(arrived - w.deliveredBytes)
	if !w.offsetSet || excess < w.offset || excess == w.lastExcess {
		w.offset, w.offsetSet = excess, true
	}
	w.lastExcess = excess
}

// held is the bytes the receiver holds behind a gap; 0 before the first
// picture's end.
func (w *gapWatcher) held() int64 {
	if !w.offsetSet {
		return 0
	}
	return int64(w.arrived()-w.deliveredBytes) - w.offset
}

// sample folds one round trip into the smoothed estimate.
func (w *gapWatcher) sample(d time.Duration) {
	if !w.measured {
		w.srtt, w.measured = d, true
	} else {
		w.srtt += (d - w.srtt) / 8
	}
	w.rtt.Store(int64(w.srtt))
}

// tick looks for a stall, and retries or gives up a pending NACK. It
// returns when to look next: every recoverTick while a picture arrives or
// a NACK waits, but not between pictures, when nothing can be held until
// the next one is near (a wake-up costs more than the look).
func (w *gapWatcher) tick(now time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started {
		return idleLook
	}
	if w.pending {
		switch {
		case now.Sub(w.pendFirst) > w.frame+w.srtt:
			w.pending, w.gaveUp, w.gaveUpSeq = false, true, w.pendSeq
			w.gaveUpN.Add(1)
		case !w.retried && now.Sub(w.pendLast) > w.srtt+recoverTick:
			w.retried, w.pendLast = true, now
			w.ask(w.pendSeq)
		}
		return recoverTick
	}
	seq := w.last + 1
	quiet := now.Sub(w.lastAt)
	if w.gaveUp && seq == w.gaveUpSeq {
		return recoverTick // the receiver will flush past it; nothing more to ask
	}
	var sure bool
	switch {
	case w.arrived != nil && quiet >= heldQuiet && w.held() >= heldBytes:
		sure = true
	case !w.lastMark && quiet >= stallMid: // a tail lost, maybe
		sure = true
	case w.arrived == nil && w.lastMark && quiet >= w.frame+stallMid:
	default:
		if next := w.frame*3/4 - quiet; w.lastMark && next > recoverTick {
			return next
		}
		return recoverTick
	}
	w.pending, w.pendSeq, w.pendFirst, w.pendLast, w.retried, w.sure = true, seq, now, now, false, sure
	w.ask(seq)
	return recoverTick
}

func (w *gapWatcher) ask(seq uint16) {
	w.nacks.Add(1)
	w.send(seq, w.ssrc)
}
