package rtsp

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// stalledReader plays s over TCP and then stops reading: its callback
// blocks until the test ends, so the server's packets pile up in TCP and
// then in the server's queue for it.
func stalledReader(t *testing.T, s *Server) {
	t.Helper()
	u, err := base.ParseURL(s.URL("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release); c.Close() })
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	c.OnPacketRTP(medi, forma, func(*rtp.Packet) { <-release })
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse) / (1 << 20)
}

// TestStalledReaderDelaysNobody: with one reader that never reads again, a
// healthy reader still gets every frame, WriteJPEG never waits, and the
// server's memory stays bounded.
func TestStalledReaderDelaysNobody(t *testing.T) {
	s := startServer(t)
	var got atomic.Int64
	healthy, err := reader(s.URL("127.0.0.1"), func(uint32) { got.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer healthy.Close()
	stalledReader(t, s)

	jpg := testJPEG(t, 1280, 720)
	before := heapMB()
	const frames = 150
	var slowest time.Duration
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	// A warm-up frame lets the healthy reader start counting.
	s.WriteJPEG(jpg, time.Now())
	time.Sleep(100 * time.Millisecond)
	start := got.Load()
	for range frames {
		<-tick.C
		t0 := time.Now()
		if err := s.WriteJPEG(jpg, time.Now()); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	time.Sleep(300 * time.Millisecond)
	delivered := got.Load() - start
	growth := heapMB() - before
	t.Logf("healthy reader got %d of %d frames; slowest write %v; heap grew %.1f MB; server dropped %d packets for the stalled reader",
		delivered, frames, slowest, growth, s.Stats().ReaderDrops)
	if delivered < frames*95/100 {
		t.Errorf("healthy reader got %d of %d frames", delivered, frames)
	}
	if s.Stats().ReaderDrops == 0 {
		t.Errorf("the stalled reader's queue never overflowed: is it really stalled?")
	}
	// Bound: one reader queue of pointers plus the frames in flight; an
	// unbounded queue would have grown by 150 frames × 140 KB = 21 MB.
	if growth > 8 {
		t.Errorf("heap grew %.1f MB with a stalled reader", growth)
	}
}
