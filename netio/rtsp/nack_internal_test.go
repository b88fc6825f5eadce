package rtsp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func pkt(seq uint16, marker bool) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 26, SequenceNumber: seq, Marker: marker, SSRC: 7},
		Payload: make([]byte, 100)}
}

// TestHistory: the fan-out's ring is the history: a packet is found by
// its number, across the number's wrap, as it was sent, while its frame
// is younger than historyAge and not put over; a number never sent is
// not found.
func TestHistory(t *testing.T) {
	f := loopFanout(t)
	jpg := testJPEG(t, 320, 240)
	t0 := time.Unix(1000, 0)
	seq := uint16(65500)
	var n int
	sent := map[uint16][]byte{}
	for i := range 40 { // more frames than the ring holds
		fr := putJPEG(t, f, jpg, seq, t0.Add(time.Duration(i)*20*time.Millisecond))
		n = len(fr.ends)
		for j := range n {
			sent[seq] = append([]byte(nil), fr.packet(j)...)
			seq++
		}
	}
	now := t0.Add(39 * 20 * time.Millisecond)
	found := func(s uint16, at time.Time) bool {
		t.Helper()
		return f.resendable(s, at, func(p []byte) {
			if !bytes.Equal(p, sent[s]) {
				t.Fatalf("packet %d: other bytes than were sent", s)
			}
		})
	}
	newest := seq - 1
	if !found(newest, now) {
		t.Fatal("newest packet not kept")
	}
	// Frame 39-k was put 20k ms before now: within the age and the ring.
	if !found(newest-uint16(10*n), now) {
		t.Fatal("a packet 200 ms old, within the ring, not found")
	}
	if found(newest-uint16(historyFrames*n), now) {
		t.Fatal("a packet of a frame put over was found")
	}
	if found(newest-uint16(5*n), now.Add(historyAge)) {
		t.Fatal("a packet older than historyAge was found")
	}
	if found(newest+1, now) || found(newest+30000, now) {
		t.Fatal("a packet never sent was found")
	}
}

func TestHolder(t *testing.T) {
	var asked [][]uint16
	var out []uint16
	h := newHolder(func(seqs []uint16) { asked = append(asked, append([]uint16(nil), seqs...)) },
		func(p *rtp.Packet, _ time.Time) { out = append(out, p.SequenceNumber) })
	t0 := time.Unix(1000, 0)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	push := func(from, to int, last bool, ms float64) {
		for i := from; i < to; i++ {
			h.push(pkt(uint16(i), last && i == to-1), at(ms))
		}
	}
	wantAsked := func(want ...[]uint16) {
		t.Helper()
		if fmt.Sprint(asked) != fmt.Sprint(want) {
			t.Fatalf("asked %v, want %v", asked, want)
		}
	}
	wantOut := func(n int) {
		t.Helper()
		if len(out) != n {
			t.Fatalf("handed on %d packets, want %d: %v", len(out), n, out)
		}
		for i := 1; i < len(out); i++ {
			if out[i] != out[i-1]+1 && out[i-1] != 37 {
				t.Fatalf("out of order or a gap: %v", out)
			}
		}
	}

	// A picture arrives whole: nothing asked, even long past its end.
	push(0, 10, true, 0)
	h.tick(at(30))
	wantAsked()
	wantOut(10)
	// The next loses 13 and 14: asked for the moment 15 arrives, what
	// follows held; asked again a round trip and a tick later; then 13
	// comes, and 14 after the retry.
	push(10, 13, false, 33)
	push(15, 20, true, 33.2)
	wantAsked([]uint16{13, 14})
	wantOut(13)
	h.tick(at(33.2 + 10 + 2.5))
	wantAsked([]uint16{13, 14}, []uint16{13, 14})
	push(13, 14, false, 46)
	wantOut(14)
	push(14, 15, false, 47)
	wantOut(20)
	if st := h.stats(); st.Recovered != 2 || st.RTT != 0 {
		t.Fatalf("retried, so no round trip sample: %+v", st)
	}
	// The next loses its first packet, answered in a millisecond.
	push(21, 30, true, 66)
	push(20, 21, false, 67)
	wantOut(30)
	if st := h.stats(); st.Recovered != 3 || st.RTT != time.Millisecond {
		t.Fatalf("%+v", st)
	}
	// The next loses its tail: nothing follows, so the pause says it.
	push(30, 38, false, 100)
	h.tick(at(101))
	wantAsked([]uint16{13, 14}, []uint16{13, 14}, []uint16{20})
	if _, ok := h.wake(at(101)); !ok {
		t.Fatal("no wake-up for a paused picture")
	}
	h.tick(at(103.5))
	wantAsked([]uint16{13, 14}, []uint16{13, 14}, []uint16{20}, []uint16{38})
	// Unanswered: the next picture shows the gap, the hold waits a frame
	// and a round trip, then gives 38 up and hands the rest on.
	push(39, 45, true, 133)
	wantOut(38)
	h.tick(at(133 + 20))
	wantOut(38)
	h.tick(at(133 + 100))
	wantOut(44)
	if st := h.stats(); st.GaveUp != 1 {
		t.Fatalf("%+v", st)
	}
	// A resend after the give-up, and duplicates, are dropped.
	push(38, 39, false, 240)
	push(40, 41, false, 240)
	wantOut(44)
}

// TestHolderBounded: a flood of packets far ahead, or behind a gap that
// never fills, holds at most holdSlots packets.
func TestHolderBounded(t *testing.T) {
	n := 0
	h := newHolder(func([]uint16) {}, func(*rtp.Packet, time.Time) { n++ })
	now := time.Unix(1000, 0)
	h.push(pkt(0, true), now)
	// 1 never comes; 2.. keep arriving.
	for i := 2; i < 20000; i++ {
		h.push(pkt(uint16(i), i%50 == 0), now)
		if held := int(h.highest - h.next + 1); held > holdSlots {
			t.Fatalf("after %d: %d held", i, held)
		}
	}
	if n < 20000-holdSlots-1 {
		t.Fatalf("%d handed on", n)
	}
	// Jumps anywhere in the number space.
	for i := range 5000 {
		h.push(pkt(uint16(i*7919), false), now)
		if held := int(h.highest - h.next + 1); held > holdSlots {
			t.Fatalf("after jump %d: %d held", i, held)
		}
	}
}

// BenchmarkHistory: what the history costs the sender: put (packetising
// into the ring, which is the history, and feeding the sender reports),
// per packet, beside the whole WriteJPEG of one reader per packet (the
// ratio is the share of the send path put is), and the memory the ring
// holds: historyFrames 1280×720 pictures.
func BenchmarkHistory(b *testing.B) {
	s := startServer(b)
	jpg := testJPEG(b, 1280, 720)
	scan, err := parseJPEG(jpg)
	if err != nil {
		b.Fatal(err)
	}
	perFrame, _ := scan.packets()
	b.Run("put", func(b *testing.B) {
		f := loopFanout(b)
		now := time.Unix(1000, 0)
		seq := uint16(0)
		b.ReportAllocs()
		for b.Loop() {
			f.put(&scan, seq, 0, now, now)
			seq += uint16(perFrame)
			now = now.Add(time.Second / 30)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perFrame), "ns/packet")
		var held int
		for i := range f.ring {
			held += cap(f.ring[i].data)
		}
		b.ReportMetric(float64(held)/1e6, "held-MB")
	})
	b.Run("writejpeg", func(b *testing.B) {
		c, err := reader(s.URL("127.0.0.1"), func(uint32) {})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		// WriteJPEG's own time: it queues packets for the readers'
		// goroutines and never waits for them.
		var in time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := s.WriteJPEG(jpg, t0); err != nil {
				b.Fatal(err)
			}
			in += time.Since(t0)
			time.Sleep(2 * time.Millisecond) // let the reader's queue drain
		}
		b.ReportMetric(float64(in.Nanoseconds())/float64(b.N*perFrame), "ns/packet")
	})
}

// FuzzHolder: any arrival order, duplicates, jumps and wrap-arounds, with
// time passing: the holder hands packets on in increasing sequence order
// (until a jump it starts again at), never holds more than holdSlots, and
// never panics. Each 3 bytes are a sequence number step and a time step.
func FuzzHolder(f *testing.F) {
	f.Add([]byte{1, 0, 0, 2, 0, 0, 1, 0, 40, 0xff, 0xff, 1})
	f.Add([]byte{0, 5, 0, 0xf0, 0, 0, 0x10, 0, 200})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var last uint16
		var started bool
		h := newHolder(func(seqs []uint16) {
			if len(seqs) == 0 || len(seqs) > maxNACKSeqs {
				t.Fatalf("NACK of %d numbers", len(seqs))
			}
		}, func(p *rtp.Packet, _ time.Time) {
			if started && (p.SequenceNumber == last || p.SequenceNumber-last >= 0x8000) {
				t.Fatalf("%d handed on after %d", p.SequenceNumber, last)
			}
			started, last = true, p.SequenceNumber
		})
		now := time.Unix(1000, 0)
		var seq uint16
		for i := 0; i+2 < len(ops); i += 3 {
			seq += uint16(ops[i])<<8 | uint16(ops[i+1])
			now = now.Add(time.Duration(ops[i+2]) * time.Millisecond / 4)
			if int16(seq-h.next) >= 0 && seq-h.next >= h.highest+1-h.next && int(seq-h.highest) > maxNACKSeqs {
				started = false // a jump: the holder starts again there
			}
			h.push(pkt(seq, ops[i+2]%5 == 0), now)
			if h.holding() && uint16(h.highest-h.next+1) > holdSlots {
				t.Fatalf("%d held", uint16(h.highest-h.next+1))
			}
			if at, ok := h.wake(now); ok && !now.Before(at) {
				h.tick(now)
			}
		}
	})
}
