package web

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// The quality ladder in the browser: besides the full picture, the
// broadcaster hands the server smaller renditions (netio.Half, ...) of the
// same frames while somebody watches them. Each video socket is shown one
// rung at a time: one the page holds, or, with Auto, one this server picks
// from how many frames that socket had to skip.

// maxRungs bounds the renditions kept besides the full picture (the RTSP
// server offers at most 4).
const maxRungs = 8

// validRungName: what a rendition may be called, the RTSP server's rule:
// [a-z0-9-]{1,16}.
func validRungName(name string) bool {
	if name == "" || len(name) > 16 {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// rung is one rung as the server keeps it: its newest frame and who
// watches it.
type rung struct {
	name     string
	latest   atomic.Pointer[frame]
	writes   atomic.Uint64 // frames published on this rung: what a viewer skipped is the gap
	watching atomic.Int64  // video sockets that want this rung now
}

// publish makes f the rung's newest frame.
func (r *rung) publish(f *frame) {
	f.n = r.writes.Add(1)
	r.latest.Store(f)
}

// rungSet is the renditions, copied on change so a viewer finds one
// without a lock.
type rungSet struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*rung]
}

func (rs *rungSet) find(name string) *rung {
	if l := rs.list.Load(); l != nil {
		for _, r := range *l {
			if r.name == name {
				return r
			}
		}
	}
	return nil
}

// get finds the rung or adds it; nil when the name is not a rung's or the
// set is full.
func (rs *rungSet) get(name string) *rung {
	if r := rs.find(name); r != nil {
		return r
	}
	if !validRungName(name) || name == netio.Full {
		return nil
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var next []*rung
	if l := rs.list.Load(); l != nil {
		for _, r := range *l {
			if r.name == name {
				return r
			}
		}
		next = append(next, *l...)
	}
	if len(next) >= maxRungs {
		return nil
	}
	r := &rung{name: name}
	next = append(next, r)
	rs.list.Store(&next)
	return r
}

// rungFor is the rung called name: "" and netio.Full are the full
// picture. nil: none of that name.
func (s *Server) rungFor(name string) *rung {
	if name == "" || name == netio.Full {
		return &s.full
	}
	return s.rungs.find(name)
}

// WriteRendition publishes a frame of the rendition called name (netio.Half,
// ...; "" or netio.Full is WriteFrame): seq is the number of the full frame
// it was made from, so a viewer moving between rungs never goes back in
// time. Like WriteFrame it never waits for a viewer. Called from one
// goroutine at a time per name; jpeg is not written to afterwards.
func (s *Server) WriteRendition(name string, seq uint64, captured time.Time, jpeg []byte) {
	if name == "" || name == netio.Full {
		s.WriteFrame(seq, captured, jpeg)
		return
	}
	r := s.rungs.get(name)
	if r == nil {
		s.gate.Warn(s.logger(), "web: rendition refused", "name", name, "max", maxRungs)
		return
	}
	r.publish(newFrame(seq, captured, jpeg))
	s.viewers.wake(r)
}

// Watching is the number of browsers shown the rendition called name now
// ("" or netio.Full: the full picture). A rendition nobody watches need
// not be made. Cheap: one atomic load.
func (s *Server) Watching(name string) int {
	if r := s.rungFor(name); r != nil {
		return int(r.watching.Load())
	}
	return 0
}

// ladderTuning is how Auto moves a viewer between rungs.
type ladderTuning struct {
	// window is how long skips are counted before a verdict: about a
	// second of video, so a step down comes within 1–2 s of trouble.
	window time.Duration
	// minFrames: a verdict on fewer frames than this (a slow source, a
	// rung just switched to) is noise; the window runs on.
	minFrames int
	// down: skipping more than this share of a rung's frames steps down.
	// A quarter keeps a viewer on a rung that loses the odd frame to
	// Wi-Fi jitter but not one that shows 20 of 30 fps.
	down float64
	// up: at most this share skipped is a clean window; after hold of
	// them the viewer probes the rung above.
	up float64
	// hold is the first wait, clean, before a probe; each probe that
	// fails (a step down within probeFail of it) doubles it up to
	// maxHold, so a viewer on a link just too small for the rung above
	// tries it rarely; a probe that holds for probeFail resets it. Each
	// wait is jittered ±25 %, so a room behind one link does not probe
	// in step.
	hold, maxHold, probeFail time.Duration
	// rungWait: a viewer switched to a rung nobody was watching waits
	// this long for its first frame before it is shown the full picture
	// instead, and a rung whose newest frame is this much older than the
	// full picture's is not being made (any more).
	rungWait time.Duration
}

func defaultTuning() ladderTuning {
	return ladderTuning{
		window:    time.Second,
		minFrames: 5,
		down:      0.25,
		up:        0.05,
		hold:      4 * time.Second,
		maxHold:   60 * time.Second,
		probeFail: 10 * time.Second,
		rungWait:  time.Second,
	}
}

// autoLadder picks one viewer's rung from the frames its socket skipped:
// down fast when it falls behind, up slowly with backoff when it keeps up.
// Rung 0 is the largest; bottom the smallest.
type autoLadder struct {
	tune       *ladderTuning
	at, bottom int
	winStart   time.Time
	published  int // frames of the rung made in the window
	skipped    int // of them, never sent to this viewer
	cleanSince time.Time
	wait       time.Duration // this probe's jittered hold
	hold       time.Duration
	upAt       time.Time // the last step up, while it is on probation
}

func newAutoLadder(tune *ladderTuning, rungs int) *autoLadder {
	return &autoLadder{tune: tune, bottom: rungs - 1, hold: tune.hold}
}

// sent records that a frame of the current rung went out, published frames
// after the one before it (skipped of them not sent), and returns the rung
// the viewer should be on now.
func (a *autoLadder) sent(now time.Time, published, skipped int) int {
	t := a.tune
	if a.winStart.IsZero() {
		a.winStart = now
	}
	a.published += published
	a.skipped += skipped
	if now.Sub(a.winStart) < t.window || a.published < t.minFrames {
		return a.at
	}
	share := float64(a.skipped) / float64(a.published)
	start := a.winStart
	a.winStart, a.published, a.skipped = now, 0, 0
	if !a.upAt.IsZero() && now.Sub(a.upAt) >= t.probeFail {
		a.hold, a.upAt = t.hold, time.Time{}
	}
	switch {
	case share > t.down:
		a.cleanSince = time.Time{}
		if a.at < a.bottom {
			if !a.upAt.IsZero() {
				a.hold, a.upAt = min(2*a.hold, t.maxHold), time.Time{}
			}
			a.at++
		}
	case share <= t.up:
		if a.cleanSince.IsZero() {
			a.cleanSince = start
			a.wait = time.Duration(float64(a.hold) * (0.75 + rand.Float64()/2))
		}
		if a.at > 0 && now.Sub(a.cleanSince) >= a.wait {
			a.at--
			a.upAt, a.cleanSince = now, time.Time{}
		}
	default:
		a.cleanSince = time.Time{}
	}
	return a.at
}

// ladderRung is one rung a viewer may be shown, as the page is told it.
type ladderRung struct {
	Name   string `json:"name"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	r      *rung
}

// offered is the ladder as the broadcaster describes it now, largest
// first: the full picture, then each rendition it makes.
func (s *Server) offered() []ladderRung {
	var st Status
	if s.Status != nil {
		st = s.Status()
	}
	l := []ladderRung{{Name: netio.Full, Width: st.Width, Height: st.Height, r: &s.full}}
	for _, rd := range st.Renditions {
		r := s.rungs.get(rd.Name)
		if r == nil || slices.ContainsFunc(l, func(o ladderRung) bool { return o.r == r }) {
			continue
		}
		l = append(l, ladderRung{Name: rd.Name, Width: rd.Width, Height: rd.Height, r: r})
	}
	return l
}

// Qualities a page may ask for besides a rung's name.
const qualityAuto = "auto"

// watch is what one video socket is shown: a rung of the ladder it got
// when it connected, held or (Auto) moved by an autoLadder.
type watch struct {
	s        *Server
	v        *viewer
	rungs    []ladderRung
	auto     *autoLadder // nil: a held rung
	at       int         // in rungs
	switched time.Time   // when at last changed
	sent     *frame      // the last frame sent, of sentFrom
	sentFrom *rung
}

// newWatch starts a viewer on the quality it asked for: Auto starts on
// the full picture (what every viewer got before the ladder), a rung the
// broadcaster does not offer is the full picture too.
func newWatch(s *Server, v *viewer, quality string, now time.Time) *watch {
	w := &watch{s: s, v: v, rungs: s.offered(), switched: now}
	if quality == qualityAuto && len(w.rungs) > 1 {
		w.auto = newAutoLadder(&s.tuning, len(w.rungs))
	}
	for i, r := range w.rungs {
		if r.Name == quality {
			w.at = i
		}
	}
	w.rungs[w.at].r.watching.Add(1)
	v.rung.Store(w.rungs[w.at].r)
	return w
}

// quality is what the viewer is shown: "auto" or the held rung's name.
func (w *watch) quality() string {
	if w.auto != nil {
		return qualityAuto
	}
	return w.rungs[w.at].Name
}

func (w *watch) close() { w.rungs[w.at].r.watching.Add(-1) }

func (w *watch) move(to int, now time.Time) {
	if to == w.at {
		return
	}
	w.rungs[w.at].r.watching.Add(-1)
	w.rungs[to].r.watching.Add(1)
	w.v.rung.Store(w.rungs[to].r)
	w.at, w.switched = to, now
}

// name is the name of a rung of this viewer's ladder.
func (w *watch) name(r *rung) string {
	for _, l := range w.rungs {
		if l.r == r {
			return l.Name
		}
	}
	return netio.Full
}

// next is the frame to send now and its rung; nil when there is none
// newer than the last one sent. The wanted rung's newest frame while that
// rung is being made; the full picture when it is not (the broadcaster has
// not started it yet, or never will), after a short wait for its first
// frame unless the viewer has no picture at all yet.
func (w *watch) next(now time.Time) (*frame, *rung) {
	full := w.s.full.latest.Load()
	f, from := full, &w.s.full
	if target := w.rungs[w.at].r; target != from {
		wait := w.s.tuning.rungWait
		t := target.latest.Load()
		switch {
		case t != nil && (full == nil || !t.at.Add(wait).Before(full.at)):
			f, from = t, target
		case w.sent != nil && now.Sub(w.switched) <= wait:
			return nil, nil
		}
	}
	if f == nil || w.sent != nil && f.seq <= w.sent.seq {
		return nil, nil
	}
	return f, from
}

// done records that f, of rung from, was sent, and moves an Auto viewer.
// The frames of the rung published since the last one sent, less that
// one, are what this viewer skipped: its socket was still busy.
func (w *watch) done(f *frame, from *rung, now time.Time) {
	if w.auto != nil && from == w.rungs[w.at].r {
		published, skipped := 1, 0
		if w.sentFrom == from {
			published = int(f.n - w.sent.n)
			skipped = published - 1
		}
		w.move(w.auto.sent(now, published, skipped), now)
	}
	w.sent, w.sentFrom = f, from
}
