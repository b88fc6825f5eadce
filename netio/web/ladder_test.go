package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// noiseJPEG is a WxH JPEG of noise: it compresses badly, so its size is
// about what a busy camera picture of that size is.
func noiseJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(uint64(w), uint64(h)))
	for i := range img.Y {
		img.Y[i] = uint8(r.Uint32())
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ladderFeed stands for the broadcaster with a ladder of one rendition,
// half: every frame at full size, and at half size while a browser
// watches half (as the device makes a rendition only while watched).
type ladderFeed struct {
	full, half image.Point
	halfMade   int // frames of half written
	mu         sync.Mutex
}

func (l *ladderFeed) status() Status {
	return Status{Name: "Ladder", Width: l.full.X, Height: l.full.Y,
		Renditions: []netio.Rendition{{Name: netio.Half, Path: "/live/half", Width: l.half.X, Height: l.half.Y}}}
}

// startLadder serves a web server fed at 30 fps by a ladderFeed of the
// sizes given until the test ends.
func startLadder(t testing.TB, full, half image.Point, tune *ladderTuning) (*testWeb, *ladderFeed) {
	t.Helper()
	l := &ladderFeed{full: full, half: half}
	w := startWeb(t, func(s *Server) {
		s.Status = l.status
		if tune != nil {
			s.tuning = *tune
		}
	})
	fullJPEG, halfJPEG := noiseJPEG(t, full.X, full.Y), noiseJPEG(t, half.X, half.Y)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now()
			w.WriteFrame(seq, now, fullJPEG)
			if w.Watching(netio.Half) > 0 {
				w.WriteRendition(netio.Half, seq, now, halfJPEG)
				l.mu.Lock()
				l.halfMade++
				l.mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return w, l
}

// ladderMsg is one message of the page's video socket: a frame (size
// set) or a text message (Type set).
type ladderMsg struct {
	Type    string       `json:"type"`
	Quality string       `json:"quality"`
	Name    string       `json:"name"`
	Rungs   []ladderRung `json:"rungs"`
	seq     uint64
	size    image.Point
}

func readLadder(t testing.TB, ctx context.Context, c *websocket.Conn) ladderMsg {
	t.Helper()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("video socket: %v", err)
	}
	var m ladderMsg
	if typ == websocket.MessageText {
		if err := json.Unmarshal(b, &m); err != nil || m.Type == "" {
			t.Fatalf("text message %q: %v", b, err)
		}
		return m
	}
	seq, _, jpg := videoMessage(t, typ, b)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(jpg))
	if err != nil {
		t.Fatalf("frame %d: %v", seq, err)
	}
	m.seq, m.size = seq, image.Pt(cfg.Width, cfg.Height)
	return m
}

// waitWatching waits until Watching(name) is n.
func waitWatching(t testing.TB, s *Server, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Watching(name) != n {
		if time.Now().After(deadline) {
			t.Fatalf("Watching(%q) = %d, want %d", name, s.Watching(name), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLadderHeld: a page asking for half gets half-size frames (after at
// most a full one to show something at once), Watching counts it on half
// only, and a rung nobody watches is not made. A client that asks for no
// quality gets the full picture and no text, as before the ladder.
func TestLadderHeld(t *testing.T) {
	full, half := image.Pt(640, 480), image.Pt(320, 240)
	w, feed := startLadder(t, full, half, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	plain := dialWS(t, ctx, wsURL(w.base, "/ws/video"), nil)
	plain.SetReadLimit(1 << 20)
	for range 5 {
		if m := readLadder(t, ctx, plain); m.Type != "" || m.size != full {
			t.Fatalf("a client without ?quality got %+v, want full-size frames only", m)
		}
	}
	waitWatching(t, w.Server, netio.Full, 1)
	feed.mu.Lock()
	made := feed.halfMade
	feed.mu.Unlock()
	if made != 0 || w.Watching(netio.Half) != 0 {
		t.Fatalf("nobody watches half, yet %d frames of it were made (Watching %d)", made, w.Watching(netio.Half))
	}

	// /state lists the ladder for the page and for monitoring.
	_, body := get(t, w.base+"/state")
	var st Status
	if err := json.Unmarshal(body, &st); err != nil || len(st.Renditions) != 1 || st.Renditions[0] != feed.status().Renditions[0] {
		t.Errorf("/state renditions: %s (%v)", body, err)
	}

	c := dialWS(t, ctx, wsURL(w.base, "/ws/video?quality=half"), nil)
	c.SetReadLimit(1 << 20)
	m := readLadder(t, ctx, c)
	want := []ladderRung{{Name: netio.Full, Width: 640, Height: 480}, {Name: netio.Half, Width: 320, Height: 240}}
	if m.Type != "ladder" || m.Quality != netio.Half || len(m.Rungs) != 2 || m.Rungs[0] != want[0] || m.Rungs[1] != want[1] {
		t.Fatalf("first message %+v, want the ladder %v holding half", m, want)
	}
	var rung string
	var last uint64
	halves := 0
	for halves < 20 {
		m := readLadder(t, ctx, c)
		if m.Type == "rung" {
			rung = m.Name
			continue
		}
		if m.seq <= last {
			t.Fatalf("frame %d after %d", m.seq, last)
		}
		last = m.seq
		switch {
		case m.size == half && rung == netio.Half:
			halves++
		case m.size == full && rung == netio.Full && halves == 0:
			// The full picture while half starts.
		default:
			t.Fatalf("frame of %v told as rung %q after %d half frames", m.size, rung, halves)
		}
	}
	if w.Watching(netio.Half) != 1 || w.Watching(netio.Full) != 1 || w.Viewers() != 2 {
		t.Errorf("Watching: half %d, full %d, viewers %d; want 1, 1, 2", w.Watching(netio.Half), w.Watching(netio.Full), w.Viewers())
	}

	// A rung the broadcaster does not offer is the full picture.
	q := dialWS(t, ctx, wsURL(w.base, "/ws/video?quality=quarter"), nil)
	q.SetReadLimit(1 << 20)
	if m := readLadder(t, ctx, q); m.Type != "ladder" || m.Quality != netio.Full {
		t.Fatalf("asking for quarter: %+v, want the ladder holding full", m)
	}
	if m := readLadder(t, ctx, q); m.Type != "rung" || m.Name != netio.Full {
		t.Fatalf("asking for quarter: %+v, want rung full", m)
	}
	if m := readLadder(t, ctx, q); m.size != full {
		t.Fatalf("asking for quarter: a frame of %v", m.size)
	}
	if w.Watching("quarter") != 0 {
		t.Errorf("Watching(quarter) = %d", w.Watching("quarter"))
	}

	c.Close(websocket.StatusNormalClosure, "")
	waitWatching(t, w.Server, netio.Half, 0)
	q.Close(websocket.StatusNormalClosure, "")
	waitWatching(t, w.Server, netio.Full, 1)
}

// slowReader reads the video socket as a link of rate bytes per second
// would, or as fast as it can when rate is 0, and keeps what it saw.
type slowReader struct {
	mu    sync.Mutex
	rate  float64
	rungs []string // the rung messages, in order
}

func (r *slowReader) setRate(rate float64) {
	r.mu.Lock()
	r.rate = rate
	r.mu.Unlock()
}

func (r *slowReader) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.rungs...)
}

func (r *slowReader) run(ctx context.Context, c *websocket.Conn) error {
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		r.mu.Lock()
		rate := r.rate
		if typ == websocket.MessageText {
			var m ladderMsg
			if json.Unmarshal(b, &m) == nil && m.Type == "rung" {
				r.rungs = append(r.rungs, m.Name)
			}
		}
		r.mu.Unlock()
		if rate > 0 {
			time.Sleep(time.Duration(float64(len(b)) / rate * float64(time.Second)))
		}
	}
}

// autoViewer serves the ladder (1280x720 and 640x360 frames of noise at
// 30 fps) to one socket on Auto that reads as a link between half's rate
// and the full picture's would: the full picture skips about half its
// frames, half fits with room. The reader has a small receive buffer, so
// the server sees a backlog soon, as over Wi-Fi. wait waits for the rung
// messages want and returns how long that took.
func autoViewer(tb testing.TB, tune *ladderTuning) (w *testWeb, r *slowReader, wait func(want ...string) time.Duration) {
	tb.Helper()
	full, half := image.Pt(1280, 720), image.Pt(640, 360)
	w, _ = startLadder(tb, full, half, tune)
	fullJPEG, halfJPEG := noiseJPEG(tb, full.X, full.Y), noiseJPEG(tb, half.X, half.Y)
	rate := 30 * float64(len(fullJPEG)+len(halfJPEG)) / 2
	tb.Logf("frames: full %d bytes, half %d; link %.1f MB/s", len(fullJPEG), len(halfJPEG), rate/1e6)

	ctx, cancel := context.WithCancel(context.Background())
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(64 << 10)
		}
		return c, err
	}}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	c := dialWS(tb, dctx, wsURL(w.base, "/ws/video?quality=auto"), &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	c.SetReadLimit(4 << 20)
	r = &slowReader{rate: rate}
	var wg sync.WaitGroup
	wg.Go(func() { r.run(ctx, c) })
	tb.Cleanup(func() {
		cancel()
		c.CloseNow()
		wg.Wait()
		tr.CloseIdleConnections()
	})
	wait = func(want ...string) time.Duration {
		tb.Helper()
		start := time.Now()
		deadline := start.Add(30 * time.Second)
		for {
			got := r.seen()
			if len(got) >= len(want) {
				for i := range want {
					if got[i] != want[i] {
						tb.Fatalf("rungs %q, want %q", got, want)
					}
				}
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				tb.Fatalf("rungs %q after 30 s, want %q", got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return w, r, wait
}

// TestLadderAutoStepsDownAndUp: on Auto, a socket that can't take the
// full picture's rate skips frames and is stepped down to half; when its
// link recovers it is stepped back up.
func TestLadderAutoStepsDownAndUp(t *testing.T) {
	tune := defaultTuning()
	tune.window = 300 * time.Millisecond
	tune.hold = time.Second
	tune.probeFail = 3 * time.Second
	w, r, wait := autoViewer(t, &tune)
	t.Logf("stepped down after %v", wait(netio.Full, netio.Half).Round(time.Millisecond))
	if w.Watching(netio.Half) != 1 || w.Watching(netio.Full) != 0 {
		t.Errorf("on half: Watching half %d, full %d", w.Watching(netio.Half), w.Watching(netio.Full))
	}
	r.setRate(0)
	t.Logf("stepped up after %v", wait(netio.Full, netio.Half, netio.Full).Round(time.Millisecond))
	if w.Watching(netio.Half) != 0 || w.Watching(netio.Full) != 1 {
		t.Errorf("back on full: Watching half %d, full %d", w.Watching(netio.Half), w.Watching(netio.Full))
	}
}

// BenchmarkLadderStep: with the shipped tuning, how long a browser on Auto
// takes to be stepped down once its link can't carry the full picture
// (from its first frame: the buffers fill first), and back up once it can
// again (the first probe: hold, jittered ±25 %).
func BenchmarkLadderStep(b *testing.B) {
	var down, up time.Duration
	n := 0
	for b.Loop() {
		_, r, wait := autoViewer(b, nil)
		down += wait(netio.Full, netio.Half)
		r.setRate(0)
		up += wait(netio.Full, netio.Half, netio.Full)
		n++
	}
	b.ReportMetric(down.Seconds()/float64(n), "s-down")
	b.ReportMetric(up.Seconds()/float64(n), "s-up")
}

// TestAutoLadderBackoff: the controller alone, on a clock of its own: a
// clean viewer probes up after about hold; a probe that fails at once
// doubles the next wait, up to maxHold; one that holds resets it.
func TestAutoLadderBackoff(t *testing.T) {
	tune := defaultTuning()
	a := newAutoLadder(&tune, 3)
	now := time.Unix(1e9, 0)
	frame := time.Second / 30
	// run sends frames for d, skipping every other one when bad, and
	// returns when the rung changed and how long that took.
	run := func(d time.Duration, bad bool) (int, time.Duration) {
		start, at := now, a.at
		for now.Sub(start) < d {
			now = now.Add(frame)
			pub, skip := 1, 0
			if bad {
				now = now.Add(frame)
				pub, skip = 2, 1
			}
			if a.sent(now, pub, skip) != at {
				return a.at, now.Sub(start)
			}
		}
		return a.at, now.Sub(start)
	}
	if at, d := run(10*time.Second, true); at != 1 || d > 2*time.Second {
		t.Fatalf("skipping half: at rung %d after %v, want 1 within 2 s", at, d)
	}
	if at, d := run(5*time.Second, true); at != 2 || d > 2*time.Second {
		t.Fatalf("still skipping: at rung %d after %v, want 2", at, d)
	}
	if at, _ := run(10*time.Second, true); at != 2 {
		t.Fatalf("below the bottom: rung %d", at)
	}
	var waits []time.Duration
	for range 6 {
		at, d := run(2*tune.maxHold, false)
		if at != 1 {
			t.Fatalf("clean: rung %d after %v, want a step up to 1", at, d)
		}
		waits = append(waits, d)
		if at, _ := run(2*time.Second, true); at != 2 {
			t.Fatalf("a failed probe: rung %d, want back to 2", at)
		}
	}
	t.Logf("waits before each probe: %v", waits)
	for i, d := range waits {
		hold := min(tune.hold<<i, tune.maxHold)
		if lo, hi := hold*3/4, hold*5/4+2*tune.window; d < lo || d > hi {
			t.Errorf("probe %d after %v, want %v–%v", i, d, lo, hi)
		}
	}
	// A probe that holds: the next wait is the first one again.
	if at, _ := run(2*tune.maxHold, false); at != 1 {
		t.Fatalf("no probe")
	}
	if at, _ := run(tune.probeFail+2*tune.window, false); at != 1 {
		t.Fatalf("holding the probe: rung %d", at)
	}
	if _, d := run(10*time.Second, true); d > 2*time.Second {
		t.Fatalf("no step down")
	}
	if at, d := run(2*tune.maxHold, false); at != 1 || d > tune.hold*5/4+2*tune.window {
		t.Errorf("after a probe that held: up to %d after %v, want about %v", at, d, tune.hold)
	}
}
