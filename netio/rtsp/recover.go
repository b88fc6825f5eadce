package rtsp

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// Loss recovery on the reader's side: ask the server for a missing packet
// with a generic NACK (see nack.go for the server's side).
//
// Where a gap is seen. The UDP receive path (udp.go) reads its own
// socket, so a gap is known the moment a packet arrives with a sequence
// number past the next expected one: every number in between is asked for
// at once, in one NACK. gortsplib v5.2.0's client can't do this (its
// receiver holds packets behind a gap only until 64 newer ones came, a
// few microseconds inside one picture's burst, and shows nothing before
// that), which is why unicast UDP doesn't go through it.
//
// How long it waits. Packets behind a gap are held until it fills, or
// until a frame interval plus the round trip after the gap was first
// asked for: the time a resend takes plus one retry's slack. Then the
// missing packet is given up and what follows is handed on. A missing
// packet is asked for once, and again (up to maxRetries) each round trip
// plus a tick, since the resend can be lost too. The hold is bounded in
// packets as well (holdSlots): a packet further ahead than that gives up
// the oldest gaps, so a flood can't grow memory.
//
// A picture's tail. RFC 2435 packets of one picture leave the server
// back to back, so a pause of stallMid after a packet without the marker
// bit says the next one is likely lost, with nothing behind it yet to
// show the gap: it is asked for then, as a guess (not counted as
// recovered nor timed if it comes).
//
// Round trip. Measured from a NACK to its packet's arrival, smoothed as
// TCP does (RFC 6298, α = 1/8), only from packets answered without a
// retry (Karn's rule).
const (
	// recoverTick is how often a held gap is looked at.
	recoverTick = 2 * time.Millisecond
	// stallMid is how long the packets of one picture may pause before
	// the next is taken for lost: even a 20 Mbit/s link spaces them by
	// under a millisecond.
	stallMid = 3 * time.Millisecond
	// initialRTT and initialFrame stand in until measured.
	initialRTT   = 10 * time.Millisecond
	initialFrame = time.Second / 30
	// holdSlots bounds the packets held behind gaps: four 1080p pictures
	// (150-250 packets each), 1.4 MB at most.
	holdSlots = 1024
	// maxRetries is how often a missing packet is asked for again, a
	// round trip and a tick apart: the resend can be lost too, and a
	// server may not have the packet yet (one still writing the picture).
	maxRetries = 3
	// maxNACKSeqs is the most sequence numbers one gap asks for: more is
	// a jump (a restarted sender), not a loss worth asking about.
	maxNACKSeqs = 256
)

// RecoverStats count a Client's requests for lost packets.
type RecoverStats struct {
	NACKs     uint64        // NACKs sent, retries included
	Recovered uint64        // packets asked for that then arrived
	GaveUp    uint64        // packets asked for that never did
	RTT       time.Duration // smoothed NACK-to-packet time; 0 until measured
}

// slot is one sequence number inside the hold window.
type slot struct {
	pkt     *rtp.Packet
	asked   time.Time // first NACK for it, when missing
	retried uint8     // NACKs sent again for it
	guess   bool      // asked for after a pause, not a gap
}

// holder puts packets back in order, asks for missing ones and holds
// what follows a gap for a bounded time. It runs on the receiving
// goroutine alone; its counters are atomics for Stats.
type holder struct {
	nack    func(seqs []uint16) // sends one NACK
	deliver func(pkt *rtp.Packet, now time.Time)

	started  bool
	next     uint16 // next sequence number to hand on
	highest  uint16 // highest arrived (or asked for)
	slots    [holdSlots]slot
	lastMark bool          // the newest packet ended a picture
	lastAt   time.Time     // when it arrived
	frame    time.Duration // smoothed time between pictures' last packets
	frameEnd time.Time
	srtt     time.Duration
	measured bool

	nacks, recovered, gaveUp atomic.Uint64
	rtt                      atomic.Int64
}

func newHolder(nack func([]uint16), deliver func(*rtp.Packet, time.Time)) *holder {
	return &holder{nack: nack, deliver: deliver, frame: initialFrame, srtt: initialRTT}
}

func (h *holder) stats() RecoverStats {
	return RecoverStats{NACKs: h.nacks.Load(), Recovered: h.recovered.Load(), GaveUp: h.gaveUp.Load(),
		RTT: time.Duration(h.rtt.Load())}
}

// holding reports whether packets wait behind a gap.
func (h *holder) holding() bool { return h.started && h.next != h.highest+1 }

// wake returns when tick should next run; false when nothing waits.
func (h *holder) wake(now time.Time) (time.Time, bool) {
	switch {
	case h.holding():
		return now.Add(recoverTick), true
	case h.started && !h.lastMark && h.slots[(h.highest+1)%holdSlots].asked.IsZero():
		return h.lastAt.Add(stallMid), true
	}
	return time.Time{}, false
}

// push takes one arrived packet.
func (h *holder) push(pkt *rtp.Packet, now time.Time) {
	seq := pkt.SequenceNumber
	if !h.started {
		h.started, h.next, h.highest = true, seq, seq-1
	}
	if int16(seq-h.next) < 0 {
		return // a duplicate, or a resend after we gave up
	}
	// At or past next: either inside the held window (a gap filling) or
	// past the highest so far, by ahead.
	fill := uint16(seq-h.next) < uint16(h.highest+1-h.next)
	ahead := int(seq - h.highest)
	if !fill && ahead > maxNACKSeqs {
		// A jump no loss explains: hand on what is held and start again.
		h.flush(now)
		h.slots[(h.highest+1)%holdSlots] = slot{}
		h.next, h.highest = seq, seq-1
		ahead = 1
	}
	// Past the bound only with a long gap held (ahead is at most
	// maxNACKSeqs < holdSlots), so there is a head to give up.
	for int(uint16(seq-h.next)) >= holdSlots {
		h.giveUpHead(now)
	}
	s := &h.slots[seq%holdSlots]
	if !fill {
		if ahead > 1 {
			h.ask(h.highest+1, seq, now, false)
		}
		if pkt.Marker {
			// Timed from arrivals, not releases: a gap filled releases
			// held pictures together.
			if d := now.Sub(h.frameEnd); !h.frameEnd.IsZero() && d > 0 && d < time.Second {
				h.frame += (d - h.frame) / 8
			}
			h.frameEnd = now
		}
		h.highest, h.lastMark, h.lastAt = seq, pkt.Marker, now
	}
	if s.pkt != nil {
		return // a duplicate still held
	}
	if !s.asked.IsZero() && !s.guess {
		h.recovered.Add(1)
		if s.retried == 0 {
			h.sample(now.Sub(s.asked))
		}
	}
	*s = slot{pkt: pkt}
	h.release(now)
}

// ask sends a NACK for [from, to) and marks them asked.
func (h *holder) ask(from, to uint16, now time.Time, guess bool) {
	seqs := make([]uint16, 0, to-from)
	for q := from; q != to; q++ {
		h.slots[q%holdSlots] = slot{asked: now, guess: guess}
		seqs = append(seqs, q)
	}
	h.nacks.Add(1)
	h.nack(seqs)
}

// release hands on the in-order packets at the head.
func (h *holder) release(now time.Time) {
	for h.next != h.highest+1 {
		s := &h.slots[h.next%holdSlots]
		if s.pkt == nil {
			return
		}
		pkt := s.pkt
		*s = slot{}
		h.next++
		h.deliver(pkt, now)
	}
}

// giveUpHead skips the first missing packet and hands on what follows.
func (h *holder) giveUpHead(now time.Time) {
	s := &h.slots[h.next%holdSlots]
	if s.pkt == nil {
		h.gaveUp.Add(1)
		*s = slot{}
		h.next++
	}
	h.release(now)
}

// flush gives up every gap and hands on all that is held.
func (h *holder) flush(now time.Time) {
	for h.holding() {
		h.giveUpHead(now)
	}
}

// tick asks for a picture's paused tail, and retries and gives up
// missing packets whose time has come.
func (h *holder) tick(now time.Time) {
	if h.started && !h.lastMark && now.Sub(h.lastAt) >= stallMid && h.slots[(h.highest+1)%holdSlots].asked.IsZero() {
		h.ask(h.highest+1, h.highest+2, now, true)
	}
	limit := h.frame + h.srtt
	for h.holding() {
		s := &h.slots[h.next%holdSlots]
		if s.pkt != nil || now.Sub(s.asked) < limit {
			break
		}
		h.giveUpHead(now)
	}
	var retry []uint16
	for q := h.next; q != h.highest+1; q++ {
		s := &h.slots[q%holdSlots]
		if s.pkt == nil && s.retried < maxRetries && now.Sub(s.asked) > time.Duration(s.retried+1)*(h.srtt+recoverTick) {
			s.retried++
			retry = append(retry, q)
		}
	}
	if len(retry) > 0 {
		h.nacks.Add(1)
		h.nack(retry)
	}
}

// sample folds one round trip into the smoothed estimate.
func (h *holder) sample(d time.Duration) {
	if !h.measured {
		h.srtt, h.measured = d, true
	} else {
		h.srtt += (d - h.srtt) / 8
	}
	h.rtt.Store(int64(h.srtt))
}
