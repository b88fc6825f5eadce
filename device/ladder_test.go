package device

import (
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/encode"
	"github.com/lsbroadcast/lsbroadcast/netio"
)

// fakeSinks stands in for rtsp.Server and web.Server: readers and
// browsers per rendition as the test sets them, frames as they arrive.
type fakeSinks struct {
	readers, browsers sync.Map // name -> *atomic.Int32
	mu                sync.Mutex
	rtspGot, webGot   []sunk
	hold              chan struct{} // when set, WriteRendition on RTSP waits for it
	sent              chan struct{} // when set, WriteRendition on RTSP tells it, keeping nothing
}

type sunk struct {
	name     string
	seq      uint64
	captured time.Time
	w, h     int
}

func count(m *sync.Map, name string) *atomic.Int32 {
	v, _ := m.LoadOrStore(name, new(atomic.Int32))
	return v.(*atomic.Int32)
}

type fakeRTSP struct{ *fakeSinks }
type fakeWeb struct{ *fakeSinks }

func (f fakeRTSP) Readers(name string) int { return int(count(&f.readers, name).Load()) }
func (f fakeRTSP) WriteRendition(name string, data []byte, captured time.Time) error {
	if f.hold != nil {
		<-f.hold
	}
	if f.sent != nil {
		f.sent <- struct{}{}
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rtspGot = append(f.rtspGot, sunk{name: name, captured: captured, w: jpegWidth(data)})
	return nil
}
func (f fakeWeb) Watching(name string) int { return int(count(&f.browsers, name).Load()) }
func (f fakeWeb) WriteRendition(name string, seq uint64, captured time.Time, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.webGot = append(f.webGot, sunk{name: name, seq: seq, captured: captured, w: jpegWidth(data)})
}

func jpegWidth(data []byte) int {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return -1
	}
	return cfg.Width
}

func (f *fakeSinks) got() (rtsp, web []sunk) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rtspGot), slices.Clone(f.webGot)
}

// testFrame is a 1280×720 JPEG frame numbered seq.
func testFrame(t testing.TB, seq uint64) capture.Frame {
	t.Helper()
	c, err := encode.NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := encode.Raw{Format: encode.I420, Width: 1280, Height: 720, Stride: 1280, Pix: make([]byte, 1280*720*3/2)}
	for i := range r.Pix {
		r.Pix[i] = byte(i*7) ^ byte(seq)
	}
	data, err := c.Encode(r, 70)
	if err != nil {
		t.Fatal(err)
	}
	return capture.Frame{JPEG: data, Seq: seq, Captured: time.Unix(1000, int64(seq)), Width: 1280, Height: 720}
}

// startLadder runs a half and quarter ladder into sinks until the test
// ends.
func startLadder(t testing.TB, sinks *fakeSinks) *ladder {
	l := newLadder([]string{netio.Half, netio.Quarter}, fakeRTSP{sinks}, fakeWeb{sinks}, func() int { return 70 },
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("ladder did not stop with its context")
		}
	})
	return l
}

// eventually waits up to 5 s for ok.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5 s", what)
		}
	}
}

// TestLadderOnlyWhileWatched: a rung nobody watches makes nothing; one an
// RTSP reader watches goes to RTSP only, one a browser watches to the web
// only, at its size, with the frame's capture time and web number.
func TestLadderOnlyWhileWatched(t *testing.T) {
	sinks := &fakeSinks{}
	l := startLadder(t, sinks)
	f := testFrame(t, 1)
	for i := range 5 {
		l.offer(f, uint64(i+1))
	}
	time.Sleep(50 * time.Millisecond)
	if rtsp, web := sinks.got(); len(rtsp)+len(web) > 0 || l.rungs[0].made.Load()+l.rungs[1].made.Load() > 0 {
		t.Fatalf("unwatched: made %s, sent %v %v", l.counts(), rtsp, web)
	}

	count(&sinks.readers, netio.Half).Store(1)
	l.offer(f, 6)
	eventually(t, "half frame over RTSP", func() bool { rtsp, _ := sinks.got(); return len(rtsp) == 1 })
	count(&sinks.readers, netio.Half).Store(0)
	count(&sinks.browsers, netio.Quarter).Store(1)
	l.offer(f, 7)
	eventually(t, "quarter frame on the web", func() bool { _, web := sinks.got(); return len(web) == 1 })
	time.Sleep(50 * time.Millisecond)
	rtsp, web := sinks.got()
	if want := (sunk{name: netio.Half, captured: f.Captured, w: 640}); len(rtsp) != 1 || rtsp[0] != want {
		t.Errorf("RTSP got %+v, want %+v", rtsp, want)
	}
	if want := (sunk{name: netio.Quarter, seq: 7, captured: f.Captured, w: 320}); len(web) != 1 || web[0] != want {
		t.Errorf("web got %+v, want %+v", web, want)
	}
	if got := l.counts(); got != "half=1 quarter=1" {
		t.Errorf("made %s", got)
	}
}

// TestLadderKeepsNewest: a rung that can't keep up never holds up emit;
// it skips to the newest frame.
func TestLadderKeepsNewest(t *testing.T) {
	sinks := &fakeSinks{hold: make(chan struct{})}
	l := startLadder(t, sinks)
	count(&sinks.readers, netio.Half).Store(1)
	frames := []capture.Frame{testFrame(t, 1), testFrame(t, 2), testFrame(t, 3)}
	l.offer(frames[0], 1)
	eventually(t, "a rung frame under way", func() bool { return l.rungs[0].made.Load() == 1 })
	start := time.Now()
	for i := range 50 {
		f := frames[1]
		if i == 49 {
			f = frames[2]
		}
		l.offer(f, uint64(i+2))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("50 offers to a stuck rung took %v", d)
	}
	close(sinks.hold)
	eventually(t, "the newest frame", func() bool { rtsp, _ := sinks.got(); return len(rtsp) == 2 })
	time.Sleep(50 * time.Millisecond)
	rtsp, _ := sinks.got()
	if len(rtsp) != 2 || rtsp[1].captured != frames[2].Captured {
		t.Errorf("after the stall got %+v, want the newest frame (captured %v) only", rtsp, frames[2].Captured)
	}
}

func TestLadderRenditions(t *testing.T) {
	l := newLadder([]string{netio.Half, netio.Quarter}, nil, nil, nil, nil)
	for _, tc := range []struct {
		size capture.Size
		want []netio.Rendition
	}{
		{capture.Size{W: 1280, H: 720}, []netio.Rendition{{Name: "half", Path: "/live/half", Width: 640, Height: 360},
			{Name: "quarter", Path: "/live/quarter", Width: 320, Height: 184}}},
		{capture.Size{W: 1920, H: 1080}, []netio.Rendition{{Name: "half", Path: "/live/half", Width: 960, Height: 544},
			{Name: "quarter", Path: "/live/quarter", Width: 480, Height: 272}}},
		{capture.Size{}, nil},
	} {
		if got := l.renditions("/live", tc.size); !slices.Equal(got, tc.want) {
			t.Errorf("%v: %+v, want %+v", tc.size, got, tc.want)
		}
	}
	if got := (*ladder)(nil).renditions("/live", capture.Size{W: 1280, H: 720}); got != nil {
		t.Errorf("no ladder: %+v", got)
	}
}

func TestLadderFlag(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want []string
		bad  bool
	}{
		{"", []string{netio.Half, netio.Quarter}, false},
		{"off", nil, false},
		{"quarter", []string{netio.Quarter}, false},
		{"quarter, half", []string{netio.Half, netio.Quarter}, false},
		{"half,half", nil, true},
		{"third", nil, true},
		{"full", nil, true},
		{"half,", nil, true},
	} {
		args := []string{"--state-dir", t.TempDir()}
		if tc.arg != "" {
			args = append(args, "--ladder", tc.arg)
		}
		c, err := ParseArgs(args, nil)
		if tc.bad {
			if _, ok := err.(*UsageError); !ok {
				t.Errorf("--ladder %q: error %v, want a usage error", tc.arg, err)
			}
			continue
		}
		if err != nil || !slices.Equal(c.Ladder, tc.want) {
			t.Errorf("--ladder %q: %v, %v; want %v", tc.arg, c.Ladder, err, tc.want)
		}
	}
}

// BenchmarkLadder: what a frame costs emit for rungs nobody watches, and
// what a watched rung's frame takes from offer to its RTSP write (the
// transcode, BenchmarkTranscode in capture/encode, and the hand-over), of
// a 1280×720 frame.
func BenchmarkLadder(b *testing.B) {
	f := testFrame(b, 1)
	b.Run("unwatched", func(b *testing.B) {
		l := startLadder(b, &fakeSinks{})
		for i := range b.N {
			l.offer(f, uint64(i))
		}
	})
	for _, name := range []string{netio.Half, netio.Quarter} {
		b.Run("watched-"+name, func(b *testing.B) {
			sinks := &fakeSinks{sent: make(chan struct{})}
			l := startLadder(b, sinks)
			count(&sinks.readers, name).Store(1)
			for i := range b.N {
				l.offer(f, uint64(i))
				<-sinks.sent
			}
		})
	}
}
