package rtsp

import (
	"testing"
	"time"
	"unsafe"

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
	var arrived uint64
	w := newGapWatcher(func(seq uint16, _ uint32) { asked = append(asked, seq) }, func() uint64 { return arrived })
	t0 := time.Unix(1000, 0)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	// arrive counts packets reaching the socket; deliver hands them on,
	// as gortsplib's receiver does when nothing before them is missing.
	arrive := func(from, to int) { arrived += uint64(to-from) * 112 }
	deliver := func(from, to int, last bool, ms float64) {
		for i := from; i < to; i++ {
			w.delivered(pkt(uint16(i), last && i == to-1), at(ms))
		}
	}
	want := func(seqs ...uint16) {
		t.Helper()
		if len(asked) != len(seqs) {
			t.Fatalf("asked %v, want %v", asked, seqs)
		}
		for i := range seqs {
			if asked[i] != seqs[i] {
				t.Fatalf("asked %v, want %v", asked, seqs)
			}
		}
	}

	// A picture arrives whole: nothing asked, even long past its end.
	arrive(0, 10)
	deliver(0, 10, true, 0)
	w.tick(at(30))
	want()
	// The next loses 13: what follows is held, and 13 asked for at
	// once; again a round trip later; then it comes.
	arrive(10, 13)
	deliver(10, 13, false, 33)
	arrive(14, 20)
	w.tick(at(33.5))
	want()
	w.tick(at(34.5))
	want(13)
	w.tick(at(34.5 + 10 + 2.5)) // initialRTT and a tick later
	want(13, 13)
	w.tick(at(49))
	want(13, 13)
	arrive(13, 14)
	deliver(13, 20, true, 50)
	if st := w.stats(); st.Recovered != 1 || st.RTT != 0 {
		t.Fatalf("retried, so no round trip sample: %+v", st)
	}
	// The next loses its first packet: asked for as soon as the rest is
	// held, and answered in a millisecond.
	arrive(21, 30)
	w.tick(at(68))
	want(13, 13, 20)
	arrive(20, 21)
	deliver(20, 30, true, 69)
	if st := w.stats(); st.Recovered != 2 || st.RTT != time.Millisecond {
		t.Fatalf("%+v", st)
	}
	// The next loses its tail: nothing follows, so the pause says it.
	arrive(30, 39)
	deliver(30, 39, false, 100)
	w.tick(at(102))
	want(13, 13, 20)
	w.tick(at(104))
	want(13, 13, 20, 39)
	w.tick(at(107.5))
	want(13, 13, 20, 39, 39)
	// Unanswered, it is given up after a frame and a round trip, and not
	// asked about again.
	w.tick(at(200))
	w.tick(at(300))
	if st := w.stats(); st.GaveUp != 1 || st.NACKs != 5 {
		t.Fatalf("%+v, asked %v", st, asked)
	}
	// A late picture is no loss.
	arrive(40, 50)
	deliver(40, 50, true, 400)
	w.tick(at(500))
	want(13, 13, 20, 39, 39)
}

// BenchmarkHistory: what the history costs the sender, per packet kept,
// beside the whole WriteJPEG of one reader per packet (the ratio is the
// share of the send path the history adds), and the memory it holds:
// half a second of 1280×720 packets plus its ring of slots.
func BenchmarkHistory(b *testing.B) {
	s := startServer(b)
	jpg := testJPEG(b, 1280, 720)
	pkts, err := s.main.enc.Encode(jpg)
	if err != nil {
		b.Fatal(err)
	}
	perFrame := len(pkts)
	b.Run("keep", func(b *testing.B) {
		// Every sequence number once, made before the clock runs: the
		// stream's packets are the encoder's, the history copies nothing.
		all := make([]rtp.Packet, 1<<16)
		for i := range all {
			all[i] = *pkts[i%perFrame]
			all[i].SequenceNumber = uint16(i)
		}
		var h history
		now := time.Unix(1000, 0)
		seq := uint16(0)
		for b.Loop() {
			for range perFrame {
				h.add(&all[seq], now)
				seq++
			}
			now = now.Add(time.Second / 30)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perFrame), "ns/packet")
		var held int
		for i := range h.n {
			held += h.slots[(h.oldest+uint16(i))%historySlots].size
		}
		b.ReportMetric(float64(held)/1e6, "held-MB")
		b.ReportMetric(float64(unsafe.Sizeof(h.slots))/1e6, "ring-MB")
		b.ReportMetric(float64(h.n), "packets-held")
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
