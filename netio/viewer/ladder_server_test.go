package viewer

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// ladderServer is the real rtsp.Server with renditions on loopback, fed 30
// pictures a second on every rung by the test, so each rung's pictures
// can be stopped at will.
type ladderServer struct {
	srv    *rtsp.Server
	rungs  map[string]*testRung // by name, netio.Full for the main stream
	stop   chan struct{}
	served sync.WaitGroup
}

type testRung struct {
	jpeg   []byte
	paused atomic.Bool
	every  atomic.Int32 // writes every n-th picture only, when above 1: a thinned link
}

// Sizes of the test ladder, by name.
var ladderSizes = map[string]image.Point{netio.Full: {640, 384}, netio.Half: {320, 192}, netio.Quarter: {160, 96}}

// startLadderServer serves /live and the renditions named.
func startLadderServer(t *testing.T, renditions ...string) *ladderServer {
	t.Helper()
	rtp, err := testenv.FreeUDPRun("127.0.0.1", 2)
	if err != nil {
		t.Fatal(err)
	}
	s := &ladderServer{rungs: map[string]*testRung{}, stop: make(chan struct{}),
		srv: &rtsp.Server{Host: "127.0.0.1", Port: testenv.FreePort(t), RTPPort: rtp, Path: "/live",
			Renditions: renditions, MaxReadersPerAddr: 64, Logger: quietLog()}}
	if err := s.srv.Listen(); err != nil {
		t.Fatal(err)
	}
	for _, n := range append([]string{netio.Full}, renditions...) {
		s.rungs[n] = &testRung{jpeg: testJPEG(t, ladderSizes[n].X, ladderSizes[n].Y)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.served.Add(2)
	go func() {
		defer s.served.Done()
		s.srv.Serve(ctx)
	}()
	go func() {
		defer s.served.Done()
		s.feed(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		s.served.Wait()
	})
	return s
}

func (s *ladderServer) url() string { return s.srv.URL("127.0.0.1") }

// feed writes a picture on every rung not paused, 30 times a second.
func (s *ladderServer) feed(ctx context.Context) {
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			for name, r := range s.rungs {
				if every := int(r.every.Load()); r.paused.Load() || (every > 1 && n%every != 0) {
					continue
				}
				if name == netio.Full {
					s.srv.WriteJPEG(r.jpeg, now)
				} else {
					s.srv.WriteRendition(name, r.jpeg, now)
				}
			}
		}
	}
}

// playing is how many sessions play each rung now, by name.
func (s *ladderServer) playing() map[string]int {
	m := map[string]int{}
	for n := range s.rungs {
		m[n] = s.srv.Readers(n)
	}
	return m
}

// testJPEG is a w×h 4:2:0 picture, the kind RTP/JPEG carries.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = byte(i * 7)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
