package main

import (
	"context"
	"image"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/capture/encode"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// player is what the window and --headless share: one viewer.Session and
// the decoder behind it, started together and ended together.
type player struct {
	session *viewer.Session
	dec     *decoder
	cancel  context.CancelFunc // ends both
	done    chan struct{}      // closed when both have ended
	err     error              // the session's, once done is closed

	// Counted by the one goroutine that shows pictures.
	shown   uint64
	display viewer.Samples // received -> shown
}

// startPlayer starts playing st until ctx ends or close is called; close
// it before leaving. headless decodes for the stats only (see newDecoder).
func startPlayer(ctx context.Context, o *options, st viewer.Stream, headless bool, log *slog.Logger) (*player, error) {
	cfg := viewer.Config{Stream: st, Transport: o.transport, Via: o.via, NoNACK: !o.nack, Quality: o.quality, Logger: log}
	if st.HasChat() {
		h, err := hello(o)
		if err != nil {
			return nil, err
		}
		cfg.Hello = h
	}
	s := viewer.NewSession(cfg)
	dec, err := newDecoder(s, headless, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &player{session: s, dec: dec, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		decoded := make(chan struct{})
		go func() {
			defer close(decoded)
			p.dec.run() // until Run closes the session's frames
		}()
		p.err = s.Run(ctx)
		<-decoded
	}()
	return p, nil
}

// close ends the player and returns once its session and decoder are gone.
func (p *player) close() {
	p.cancel()
	<-p.done
}

// showed counts a picture that reached the screen.
func (p *player) showed(pic *picture) {
	p.display.Add(time.Since(pic.received))
	p.shown++
}

// stats gathers the counters of the session, the decoder and the screen.
func (p *player) stats() stats {
	s := p.session.Stats()
	d := p.dec
	st := stats{URL: s.URL, Transport: s.Transport, Seconds: s.Elapsed.Seconds(), Frames: s.Frames,
		Decoded: d.decoded.Load(), Shown: p.shown, Lost: s.Lost, Skipped: s.Skipped + d.skipped.Load(),
		BadJPEG:      d.badJPEG.Load(),
		FirstFrameMS: float64(time.Duration(d.firstFrame.Load()).Microseconds()) / 1000,
		Latency:      s.Latency, Display: p.display.Summary(), Decode: d.decodeTime.Summary(), State: s.State.String()}
	if st.Seconds > 0 {
		st.FPS = float64(p.shown) / st.Seconds
	}
	if n := s.Frames + s.Lost; n > 0 {
		st.Complete = float64(s.Frames) / float64(n)
	}
	st.NACKs, st.Recovered = s.Recover.NACKs, s.Recover.Recovered
	st.NACKRTTMS = float64(s.Recover.RTT.Microseconds()) / 1000
	st.Rung, st.Quality, st.QualityNote, st.Switches = s.Rung.Name, string(s.Quality), s.QualityNote, s.Switches
	st.RungSeconds = map[string]float64{}
	for name, d := range s.RungTime {
		st.RungSeconds[name] = d.Seconds()
	}
	return st
}

// picture is one decoded frame on its way to the screen, at the size it
// is drawn at (see decoder.scaledSize). Whoever holds it gives its Mat
// back to the decoder (decoder.recycle).
type picture struct {
	mat      gocv.Mat
	full     image.Point // the stream's own size, which the layout follows
	received time.Time
}

// stripMinWidth is the narrowest picture --headless decodes: 8 pixels a
// cell of the test pattern's strip, so the middle of every cell lies in
// 8×8 blocks of its own colour whatever the scale (at 1/8 a block is one
// pixel).
const stripMinWidth = 8 * pattern.Cells

// decoder turns the session's newest JPEG into a picture off the GUI
// thread, and always offers the newest: pictures the screen had no time
// for are skipped, never queued. It decodes straight to the size drawn
// (scaler), so the screen only copies the picture into its canvas.
type decoder struct {
	session *viewer.Session
	log     *slog.Logger
	jpeg    *encode.Decompressor // the run goroutine's
	scale   scaler               // the run goroutine's, on jpeg
	// headless decodes for the stats only: every JPEG (so bad ones are
	// counted) to grey at the smallest scale that still reads the test
	// pattern's clock, since nobody looks at the pixels.
	headless bool

	mu sync.Mutex
	// target is what the window draws pictures of the stream's size at,
	// as setTarget said; zero until known, or for a picture of another
	// size (then it is decoded at full size, and the screen resizes it).
	target struct{ stream, drawn image.Point }
	ready  *picture      // newest decoded, not yet taken
	fresh  chan struct{} // signalled when ready is replaced; capacity 1
	// spare holds Mats the screen is done with, for the next decodes: a
	// new Mat is a fresh allocation that OpenCV fills with zeros, the
	// kernel first faulting in every page of it, a quarter of the
	// window's CPU at 720p when made for every picture.
	spare   []gocv.Mat
	stopped bool // run has returned: spares are closed, not kept

	decoded    atomic.Uint64
	skipped    atomic.Uint64 // decoded, but a newer one was shown instead
	badJPEG    atomic.Uint64
	firstFrame atomic.Int64 // ns from the session's start; 0 until the first picture
	decodeTime viewer.Samples
	size       image.Point // decoded at last; the run goroutine's
}

func newDecoder(s *viewer.Session, headless bool, log *slog.Logger) (*decoder, error) {
	j, err := encode.NewDecompressor()
	if err != nil {
		return nil, err
	}
	return &decoder{session: s, log: log, jpeg: j, scale: scaler{jpeg: j}, headless: headless, fresh: make(chan struct{}, 1)}, nil
}

// setTarget tells the decoder the size the window draws pictures of the
// stream's size at; from the next picture on it decodes to that size.
func (d *decoder) setTarget(stream, drawn image.Point) {
	d.mu.Lock()
	d.target.stream, d.target.drawn = stream, drawn
	d.mu.Unlock()
}

// scaledSize is the size to decode a w×h picture to: for the window the
// size it is drawn at; for --headless the smallest fast scale that reads
// the test pattern's clock.
func (d *decoder) scaledSize(w, h int) image.Point {
	if d.headless {
		return encode.ScaledSize(w, h, image.Pt(stripMinWidth, 0))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.target.stream != image.Pt(w, h) || d.target.drawn.X <= 0 || d.target.drawn.Y <= 0 {
		return image.Pt(w, h)
	}
	return d.target.drawn
}

// run decodes until the session's frames end.
func (d *decoder) run() {
	defer func() {
		d.mu.Lock()
		if d.ready != nil {
			d.ready.mat.Close()
			d.ready = nil
		}
		for _, m := range d.spare {
			m.Close()
		}
		d.spare, d.stopped = nil, true
		d.mu.Unlock()
		d.scale.close()
		d.jpeg.Close()
	}()
	for f := range d.session.Frames() {
		d.decode(f)
	}
}

func (d *decoder) decode(f rtsp.Frame) {
	t0 := time.Now()
	mat, full, err := d.decodeJPEG(f.JPEG)
	if err != nil {
		if d.badJPEG.Add(1)%100 == 1 {
			d.log.Warn("undecodable JPEG", "error", err, "count", d.badJPEG.Load())
		}
		return
	}
	now := time.Now()
	d.decodeTime.Add(now.Sub(t0))
	if f.Captured.IsZero() {
		if lat, ok := patternLatency(mat, f.Received); ok {
			d.session.RecordLatency(lat, "pattern")
		}
	}
	d.decoded.Add(1)
	if d.firstFrame.Load() == 0 {
		d.firstFrame.Store(int64(now.Sub(d.session.Stats().Started)))
	}
	p := &picture{mat: mat, full: full, received: f.Received}
	d.mu.Lock()
	if d.ready != nil {
		d.keepSpare(d.ready.mat)
		d.skipped.Add(1)
	}
	d.ready = p
	d.mu.Unlock()
	select {
	case d.fresh <- struct{}{}:
	default:
	}
	wakeTextRoute()
}

// decodeJPEG decodes data at scaledSize into a new Mat: BGRA for the
// window (scaler), grey for --headless. full is the picture's own size.
func (d *decoder) decodeJPEG(data []byte) (m gocv.Mat, full image.Point, err error) {
	w, h, err := d.jpeg.Size(data)
	if err != nil {
		return gocv.Mat{}, full, err
	}
	size := d.scaledSize(w, h)
	if size != d.size {
		d.log.Debug("decoding at", "size", size, "stream", image.Pt(w, h))
		d.size = size
	}
	if d.headless {
		m = d.matFor(size, gocv.MatTypeCV8UC1)
		var pix []byte
		if pix, err = m.DataPtrUint8(); err == nil {
			err = d.jpeg.Decode(data, encode.Raw{Format: encode.Gray, Width: size.X, Height: size.Y, Stride: size.X, Pix: pix})
		}
	} else {
		m = d.matFor(size, gocv.MatTypeCV8UC4)
		err = d.scale.decode(data, w, h, m)
	}
	if err != nil {
		d.recycle(m)
		return gocv.Mat{}, full, err
	}
	return m, image.Pt(w, h), nil
}

// maxSpare: the screen holds the picture shown, the decoder the one
// ready and the one it decodes into; one more spare covers the hand-over.
const maxSpare = 2

// matFor is a Mat of size and type mt to decode into: a spare when one
// fits, else a new one.
func (d *decoder) matFor(size image.Point, mt gocv.MatType) gocv.Mat {
	d.mu.Lock()
	for len(d.spare) > 0 {
		m := d.spare[len(d.spare)-1]
		d.spare = d.spare[:len(d.spare)-1]
		if m.Cols() == size.X && m.Rows() == size.Y && m.Type() == mt {
			d.mu.Unlock()
			return m
		}
		m.Close() // the area or the stream changed size
	}
	d.mu.Unlock()
	return gocv.NewMatWithSize(size.Y, size.X, mt)
}

// recycle gives back a picture's Mat that its holder is done with; it
// may be empty.
func (d *decoder) recycle(m gocv.Mat) {
	if m.Empty() {
		m.Close()
		return
	}
	d.mu.Lock()
	d.keepSpare(m)
	d.mu.Unlock()
}

// keepSpare keeps m for a later decode, or closes it; d.mu is held.
func (d *decoder) keepSpare(m gocv.Mat) {
	if d.stopped || len(d.spare) >= maxSpare {
		m.Close()
		return
	}
	d.spare = append(d.spare, m)
}

// take returns the newest decoded picture, or nil; the caller closes it.
func (d *decoder) take() *picture {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.ready
	d.ready = nil
	return p
}

// patternLatency reads the capture clock that the test pattern writes in
// its bottom strip (milliseconds, low 32 bits) from a BGRA or grey picture.
func patternLatency(m gocv.Mat, received time.Time) (time.Duration, bool) {
	w, h := m.Cols(), m.Rows()
	_, y := pattern.StripRows(h)
	if y >= h || w < pattern.Cells {
		return 0, false
	}
	row := m.Region(image.Rect(0, y, w, y+1))
	defer row.Close()
	gray := gocv.NewMat()
	defer gray.Close()
	if m.Channels() == 1 {
		row.CopyTo(&gray)
	} else {
		gocv.CvtColor(row, &gray, gocv.ColorBGRAToGray)
	}
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

// stats is the JSON lsview --headless (and the window's --stats) prints.
type stats struct {
	URL          string         `json:"url"`
	Transport    string         `json:"transport"`
	Seconds      float64        `json:"seconds"`
	Frames       uint64         `json:"frames"`  // complete pictures received
	Decoded      uint64         `json:"decoded"` // pictures decoded
	Shown        uint64         `json:"shown"`   // pictures shown (headless: taken)
	FPS          float64        `json:"fps"`     // shown per second
	Lost         uint64         `json:"lost"`    // lost in the network
	Skipped      uint64         `json:"skipped"` // dropped by us to stay current
	BadJPEG      uint64         `json:"bad_jpeg"`
	FirstFrameMS float64        `json:"first_frame_ms"`
	Latency      viewer.Latency `json:"latency_ms"`         // capture -> received
	Display      viewer.Latency `json:"display_latency_ms"` // received -> shown
	Decode       viewer.Latency `json:"decode_ms"`
	State        string         `json:"state"`
	Chat         string         `json:"chat,omitempty"` // headless: the chat's state
	ChatMessages uint64         `json:"chat_messages"`  // headless: messages received

	// Complete is the share of pictures that arrived whole: frames over
	// frames and lost (lost is a lower bound, so this is an upper one).
	Complete  float64 `json:"complete"`
	NACKs     uint64  `json:"nacks"`     // lost packets asked for again
	Recovered uint64  `json:"recovered"` // of those, arrived
	NACKRTTMS float64 `json:"nack_rtt_ms"`

	// The quality ladder: the rung playing at the end (netio.Full or a
	// rendition's name), how long each played, the hold (--quality, F4)
	// and why it is not met, and how often the rung changed.
	Rung        string             `json:"rung"`
	RungSeconds map[string]float64 `json:"rung_seconds"`
	Quality     string             `json:"quality"`
	QualityNote string             `json:"quality_note,omitempty"`
	Switches    uint64             `json:"rung_switches"`
}

// writeStats prints one line of JSON; its chat state names the server.
func writeStats(w io.Writer, s stats) error {
	return encodeJSON(w, s, false)
}
