package rtsp

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

func pkt(seq uint16, marker bool) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 26, SequenceNumber: seq, Marker: marker, SSRC: 7},
		Payload: make([]byte, 100)}
}

func TestHistory(t *testing.T) {
	var h history
	base := uint16(65500)
	t0 := time.Unix(1000, 0)
	// Across the sequence number's wrap.
	for i := range 100 {
		h.add(pkt(base+uint16(i), false), t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	now := t0.Add(99 * 10 * time.Millisecond)
	if _, _, ok := h.get(base+99, now); !ok {
		t.Fatal("newest packet not kept")
	}
	if _, _, ok := h.get(base+40, now); ok {
		t.Fatal("a packet older than historyAge was kept")
	}
	if p, size, ok := h.get(base+60, now); !ok || p.SequenceNumber != base+60 || size != 112 {
		t.Fatalf("a packet within historyAge: %v %d %v", p, size, ok)
	}
	if _, _, ok := h.get(base+200, now); ok {
		t.Fatal("a packet never sent was found")
	}
	if h.n > 51 {
		t.Fatalf("%d packets kept; want those of the last 500 ms", h.n)
	}
	// A restart of the numbering forgets the old packets.
	h.add(pkt(5, false), now)
	if _, _, ok := h.get(base+99, now); ok || h.n != 1 {
		t.Fatalf("after a restart: %d kept", h.n)
	}
	// The ring bounds what is kept, whatever the age.
	for i := range historySlots + 10 {
		h.add(pkt(uint16(6+i), false), now)
	}
	if h.n != historySlots {
		t.Fatalf("%d kept, want %d", h.n, historySlots)
	}
}

func TestGapWatcher(t *testing.T) {
	var asked []uint16
	w := newGapWatcher(func(seq uint16, _ uint32) { asked = append(asked, seq) })
	t0 := time.Unix(1000, 0)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

	// A picture arrives whole: nothing asked, even past its end.
	for i := range 10 {
		w.delivered(pkt(uint16(i), i == 9), at(float64(i)*0.1))
	}
	w.tick(at(5))
	if len(asked) != 0 {
		t.Fatalf("asked %v with nothing lost", asked)
	}
	// The next stalls after its third packet: seq 13 is asked for once
	// the pause is long enough, then once more a round trip later.
	for i := 10; i < 13; i++ {
		w.delivered(pkt(uint16(i), false), at(33+float64(i-10)*0.1))
	}
	w.tick(at(34))
	if len(asked) != 0 {
		t.Fatal("asked before stallMid")
	}
	w.tick(at(37))
	w.tick(at(38))
	if len(asked) != 1 || asked[0] != 13 {
		t.Fatalf("asked %v, want [13]", asked)
	}
	w.tick(at(37 + 10 + 3)) // initialRTT + a tick later
	if len(asked) != 2 || asked[1] != 13 {
		t.Fatalf("no retry: %v", asked)
	}
	w.tick(at(55))
	if len(asked) != 2 {
		t.Fatalf("more than one retry: %v", asked)
	}
	// It comes: counted, no round trip sample (it was retried).
	w.delivered(pkt(13, false), at(56))
	if st := w.stats(); st.Recovered != 1 || st.RTT != 0 {
		t.Fatalf("%+v", st)
	}
	// Another stall, answered at once: a round trip measured.
	w.tick(at(60))
	w.delivered(pkt(14, true), at(61))
	if st := w.stats(); st.Recovered != 2 || st.RTT != time.Millisecond || st.NACKs != 3 {
		t.Fatalf("%+v", st)
	}
	// A stall nobody answers is given up after a frame and a round trip,
	// and not asked about again.
	w.delivered(pkt(15, false), at(100))
	w.tick(at(104))
	w.tick(at(108))
	w.tick(at(200))
	w.tick(at(300))
	if st := w.stats(); st.GaveUp != 1 || st.NACKs != 5 {
		t.Fatalf("%+v, asked %v", st, asked)
	}
}
