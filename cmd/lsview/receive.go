package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// Reconnect back-off: quick at first, as a restarted broadcaster is back
// within a second, then no more often than every 2 s.
const (
	retryFirst = 250 * time.Millisecond
	retryMax   = 2 * time.Second
)

// picture is one decoded frame on its way to the screen. Whoever holds it
// closes its Mat.
type picture struct {
	mat      gocv.Mat
	received time.Time
	decoded  time.Time
	seq      uint64 // arrival order
}

// connState is what the status line says about the connection.
type connState int32

const (
	connecting connState = iota
	playing
	reconnecting
)

func (s connState) String() string {
	return [...]string{"connecting…", "playing", "reconnecting…"}[s]
}

// receiver plays one RTSP URL, reconnecting when it drops, decodes off the
// GUI thread, and always offers the newest picture: older ones that the
// screen had no time for are skipped, never queued.
type receiver struct {
	url       string
	transport rtsp.Transport
	log       *slog.Logger

	inbox chan rtsp.Frame // newest received, not yet decoded; capacity 1
	mu    sync.Mutex
	ready *picture      // newest decoded, not yet taken
	fresh chan struct{} // signalled when ready is replaced; capacity 1

	state       atomic.Int32 // connState
	lastErr     atomic.Value // string
	transportIs atomic.Value // string
	started     time.Time
	firstFrame  atomic.Int64 // ns after started; 0 until the first decoded frame

	received   atomic.Uint64
	decodedN   atomic.Uint64
	skipped    atomic.Uint64 // received or decoded, but a newer one was shown instead
	badJPEG    atomic.Uint64
	lostBefore atomic.Uint64 // lost frames of earlier connections
	client     atomic.Pointer[rtsp.Client]
	netLatency samples // capture (sender clock) -> received
	decodeTime samples
	latencySrc atomic.Value // "rtcp" or "pattern"

	fpsMu    sync.Mutex // guards the status line's rate
	fps      float64
	fpsAt    time.Time
	fpsShown uint64
}

func newReceiver(url string, tr rtsp.Transport, log *slog.Logger) *receiver {
	return &receiver{url: url, transport: tr, log: log,
		inbox: make(chan rtsp.Frame, 1), fresh: make(chan struct{}, 1)}
}

// errNeverPlayed wraps a failure before any frame: the address is wrong,
// not the network flaky, so retrying would only hide it.
var errNeverPlayed = errors.New("no video")

// run receives until ctx ends. It returns an error only when the first
// connection fails; later drops are retried for as long as ctx lives.
func (r *receiver) run(ctx context.Context) error {
	r.started = time.Now()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // stops the decoder, then wait for it
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.decodeLoop(ctx)
	}()

	retry := retryFirst
	for {
		c := &rtsp.Client{URL: r.url, Transport: r.transport, Logger: r.log, ReadTimeout: 5 * time.Second}
		r.client.Store(c)
		err := c.Run(ctx, r.deliver)
		st := c.Stats()
		r.lostBefore.Add(st.LostFrames)
		if st.Transport != "" {
			r.transportIs.Store(st.Transport)
		}
		r.client.Store(nil)
		if ctx.Err() != nil {
			return nil
		}
		if r.received.Load() == 0 {
			return fmt.Errorf("%w from %s: %w", errNeverPlayed, r.url, err)
		}
		if st.Frames > 0 {
			retry = retryFirst
		}
		r.state.Store(int32(reconnecting))
		r.lastErr.Store(fmt.Sprint(err))
		r.log.Warn("stream lost, reconnecting", "url", r.url, "error", err, "in", retry)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
		retry = min(2*retry, retryMax)
	}
}

// deliver runs on the RTSP client's goroutine: it only swaps the frame
// into the inbox, so receiving never waits for decoding.
func (r *receiver) deliver(f rtsp.Frame) {
	r.received.Add(1)
	r.state.Store(int32(playing))
	if lat, src, ok := senderLatency(f); ok {
		r.netLatency.add(lat)
		r.latencySrc.Store(src)
	}
	for {
		select {
		case r.inbox <- f:
			return
		default:
		}
		select {
		case <-r.inbox:
			r.skipped.Add(1)
		default:
		}
	}
}

// senderLatency is capture-to-receive time from the sender's RTCP clock.
// Without it yet, decodeLoop reads the test pattern's clock strip instead.
func senderLatency(f rtsp.Frame) (time.Duration, string, bool) {
	if f.Captured.IsZero() {
		return 0, "", false
	}
	return f.Received.Sub(f.Captured), "rtcp", true
}

func (r *receiver) decodeLoop(ctx context.Context) {
	defer func() {
		r.mu.Lock()
		if r.ready != nil {
			r.ready.mat.Close()
			r.ready = nil
		}
		r.mu.Unlock()
	}()
	var seq uint64
	for {
		var f rtsp.Frame
		select {
		case <-ctx.Done():
			return
		case f = <-r.inbox:
		}
		t0 := time.Now()
		mat, err := gocv.IMDecode(f.JPEG, gocv.IMReadColor)
		if err != nil || mat.Empty() {
			if err == nil {
				mat.Close()
			}
			if r.badJPEG.Add(1)%100 == 1 {
				r.log.Warn("undecodable JPEG", "error", err, "count", r.badJPEG.Load())
			}
			continue
		}
		now := time.Now()
		r.decodeTime.add(now.Sub(t0))
		if f.Captured.IsZero() {
			if lat, ok := patternLatency(mat, f.Received); ok {
				r.netLatency.add(lat)
				r.latencySrc.Store("pattern")
			}
		}
		r.decodedN.Add(1)
		if r.firstFrame.Load() == 0 {
			r.firstFrame.Store(int64(now.Sub(r.started)))
		}
		seq++
		p := &picture{mat: mat, received: f.Received, decoded: now, seq: seq}
		r.mu.Lock()
		if r.ready != nil {
			r.ready.mat.Close()
			r.skipped.Add(1)
		}
		r.ready = p
		r.mu.Unlock()
		select {
		case r.fresh <- struct{}{}:
		default:
		}
	}
}

// take returns the newest decoded picture, or nil; the caller closes it.
func (r *receiver) take() *picture {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.ready
	r.ready = nil
	return p
}

// patternLatency reads the capture clock that the test pattern writes in
// its bottom strip (milliseconds, low 32 bits) from a BGR picture.
func patternLatency(m gocv.Mat, received time.Time) (time.Duration, bool) {
	w, h := m.Cols(), m.Rows()
	_, y := pattern.StripRows(h)
	if y >= h || w < pattern.Cells {
		return 0, false
	}
	row := m.Region(imageRow(w, y))
	defer row.Close()
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(row, &gray, gocv.ColorBGRToGray)
	b := gray.ToBytes()
	clock, ok := pattern.ReadStrip(b, w, w, 0)
	if !ok {
		return 0, false
	}
	d := time.Duration(int32(uint32(received.UnixMilli())-clock)) * time.Millisecond
	if d < -time.Second || d > time.Minute {
		return 0, false // not our clock, or another machine's
	}
	return d, true
}

// writeStats prints one line of JSON.
func writeStats(w io.Writer, s stats) error {
	return json.NewEncoder(w).Encode(s)
}

// stats is the JSON lsview --headless prints.
type stats struct {
	URL          string  `json:"url"`
	Transport    string  `json:"transport"`
	Seconds      float64 `json:"seconds"`
	Frames       uint64  `json:"frames"`  // complete pictures received
	Decoded      uint64  `json:"decoded"` // pictures decoded
	Shown        uint64  `json:"shown"`   // pictures shown (headless: taken)
	FPS          float64 `json:"fps"`     // shown per second
	Lost         uint64  `json:"lost"`    // lost in the network
	Skipped      uint64  `json:"skipped"` // dropped by us to stay current
	BadJPEG      uint64  `json:"bad_jpeg"`
	FirstFrameMS float64 `json:"first_frame_ms"`
	Latency      latency `json:"latency_ms"`         // capture -> received
	Display      latency `json:"display_latency_ms"` // received -> shown
	Decode       latency `json:"decode_ms"`
	State        string  `json:"state"`
	Chat         string  `json:"chat,omitempty"` // headless: the chat's state
	ChatMessages uint64  `json:"chat_messages"`  // headless: messages received
}

type latency struct {
	P50    float64 `json:"p50"`
	P99    float64 `json:"p99"`
	Source string  `json:"source,omitempty"`
}

func fromSamples(s *samples) latency {
	p, _ := s.percentiles(0.5, 0.99)
	return latency{P50: p[0], P99: p[1]}
}

// snapshot gathers the counters; shown and display come from the screen.
func (r *receiver) snapshot(shown uint64, display *samples) stats {
	secs := time.Since(r.started).Seconds()
	lost := r.lostBefore.Load()
	if c := r.client.Load(); c != nil {
		cs := c.Stats()
		lost += cs.LostFrames
		if cs.Transport != "" {
			r.transportIs.Store(cs.Transport) // kept for after the client is gone
		}
	}
	st := stats{URL: r.url, Seconds: secs, Frames: r.received.Load(), Decoded: r.decodedN.Load(),
		Shown: shown, Lost: lost, Skipped: r.skipped.Load(), BadJPEG: r.badJPEG.Load(),
		FirstFrameMS: float64(time.Duration(r.firstFrame.Load()).Microseconds()) / 1000,
		Latency:      fromSamples(&r.netLatency), Display: fromSamples(display), Decode: fromSamples(&r.decodeTime),
		State: connState(r.state.Load()).String()}
	st.Transport, _ = r.transportIs.Load().(string)
	st.Latency.Source, _ = r.latencySrc.Load().(string)
	if secs > 0 {
		st.FPS = float64(shown) / secs
	}
	return st
}

func imageRow(w, y int) image.Rectangle { return image.Rect(0, y, w, y+1) }
