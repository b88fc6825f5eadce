package viewer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// Moving between rungs without a gap: the new rung's RTSP session opens
// beside the one playing, the picture switches at the new one's first
// complete frame, and only then does the old one close. Every rung has the
// same RTP epoch, so capture times carry over.

// Waits of a switch.
const (
	// switchWait bounds how long a new rung may take to deliver its first
	// picture (RTSP setup and one frame) before the switch is given up:
	// on a LAN that is well under a second.
	switchWait = 3 * time.Second
	// closeWait bounds the wait for a left rung's session to end: its
	// client only closes a connection. Past it the feed is left to end by
	// itself; play still waits for it before returning.
	closeWait = time.Second
	// heldRetry is how long a held rung that failed to open is not tried
	// again (the full one plays meanwhile).
	heldRetry = 10 * time.Second
)

// feed is one RTSP session on one rung: the one playing, or the one a
// switch is opening.
type feed struct {
	rung   Rung
	index  int // in the ladder's rungs
	client *rtsp.Client
	cancel context.CancelFunc
	done   chan struct{} // closed when the client's Run returned
	err    error         // Run's, once done is closed
	first  chan struct{} // closed when a switch to it completes
	opened time.Time
	// The chooser's previous look: the client's counters then, and the
	// pictures that look counted.
	last       rtsp.ClientStats
	lastAt     time.Time
	lookFrames uint64
}

// doneOf and firstOf are f's channels, nil (never ready) without f.
func doneOf(f *feed) <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.done
}

func firstOf(f *feed) <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.first
}

// ladderRun is one play: the feeds, the chooser and the reconnection
// back-off. It is Session.play's alone.
type ladderRun struct {
	s       *Session
	ctx     context.Context
	wg      sync.WaitGroup // every feed's goroutine
	rungs   []Rung
	choose  *chooser
	cur     *feed   // nil while waiting to reconnect
	next    *feed   // a switch under way
	closing []*feed // left, but slow to close (see closeWait)
	// Reconnection: when, and to which rung.
	retry   time.Duration
	retryAt <-chan time.Time
	again   int
	// heldFailed is when each held rung last failed to open.
	heldFailed map[string]time.Time
	note       string // why the held rung is not played; "" when it is
}

// play receives until ctx ends, reconnecting when the stream drops and
// moving between rungs as the chooser or the user's hold says.
func (s *Session) play(ctx context.Context) error {
	r := &ladderRun{s: s, ctx: ctx, retry: retryFirst, heldFailed: map[string]time.Time{}}
	defer r.stop()
	r.rungs = Rungs(s.Stream(), s.cfg.Via)
	r.choose = newChooser(r.rungs, 0, s.sourceFPS(), rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	start := r.target(0)
	r.cur = r.open(start)
	r.moved(start)
	s.setActive(r.cur)
	look := time.NewTicker(ladderLook)
	defer look.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-doneOf(r.cur):
			if err := r.curEnded(); err != nil {
				return err
			}
		case <-r.retryAt:
			r.retryAt = nil
			r.cur = r.open(r.again)
			r.moved(r.again)
			s.setActive(r.cur)
		case <-firstOf(r.next):
			r.switched()
		case <-doneOf(r.next):
			r.switchFailed()
		case now := <-look.C:
			r.look(now)
		case <-s.steer:
			r.steer(r.target(r.choose.cur))
		}
	}
}

// stop ends every feed and waits for them.
func (r *ladderRun) stop() {
	feeds := append(r.closing, r.cur, r.next)
	for _, f := range feeds {
		if f != nil {
			f.cancel()
		}
	}
	r.wg.Wait()
	for _, f := range feeds {
		if f != nil {
			r.s.ended(f)
		}
	}
}

// open starts a feed on rung i; its frames reach the session only once
// it is made active.
func (r *ladderRun) open(i int) *feed {
	s := r.s
	ctx, cancel := context.WithCancel(r.ctx)
	f := &feed{rung: r.rungs[i], index: i, cancel: cancel, done: make(chan struct{}), first: make(chan struct{}),
		opened: time.Now()}
	f.client = &rtsp.Client{URL: f.rung.URL, Transport: s.cfg.Transport, NoNACK: s.cfg.NoNACK, Logger: s.log,
		ReadTimeout: readTimeout}
	if i == 0 && len(r.rungs) == 1 && s.cfg.Via != ViaRelay {
		f.client.Described = s.learnLadder
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(f.done)
		f.err = f.client.Run(ctx, s.frameFrom(f))
	}()
	return f
}

// close ends f and counts what it received; see closeWait.
func (r *ladderRun) close(f *feed) {
	f.cancel()
	select {
	case <-f.done:
	case <-time.After(closeWait):
		r.s.log.Debug("rung's session slow to close", "rung", f.rung.Name)
		r.closing = append(r.closing, f) // stop waits for it and counts it
		return
	}
	r.s.ended(f)
}

// curEnded handles the playing feed's end: the stream dropped. A switch
// under way takes over at its first picture; otherwise the same rung is
// tried again after the back-off, or the full one if this rung never
// played (at once before any picture).
func (r *ladderRun) curEnded() error {
	s, f := r.s, r.cur
	r.cur = nil
	s.setActive(nil)
	st := s.ended(f)
	if r.ctx.Err() != nil {
		return nil
	}
	if s.received.Load() == 0 && r.next == nil {
		if f.index == 0 {
			return fmt.Errorf("%w from %s: %w", ErrNoVideo, f.rung.URL, f.err)
		}
		// A smaller rung, held or announced, that never played: the
		// stream itself decides whether there is video.
		r.cur = r.open(0)
		r.moved(0)
		s.setActive(r.cur)
		r.failed(f, f.err)
		return nil
	}
	if st.Frames > 0 {
		r.retry = retryFirst
	}
	r.again = f.index
	if st.Frames == 0 {
		r.again = 0
	}
	if r.next != nil {
		// The switch takes over at its first picture; if it fails,
		// failed starts the reconnection.
		s.log.Debug("rung dropped during a switch", "rung", f.rung.Name, "error", f.err)
		return nil
	}
	s.state.Store(int32(Reconnecting))
	// One line when the video goes and one when it is back (deliver):
	// a terminal is not filled while a broadcaster is away.
	if s.lostAt.CompareAndSwap(0, time.Now().UnixNano()) {
		s.log.Warn("stream lost, reconnecting", "url", f.rung.URL, "error", f.err)
	} else {
		s.log.Debug("still reconnecting", "url", f.rung.URL, "error", f.err, "in", r.retry)
	}
	r.retryAt = time.After(r.retry)
	r.retry = min(2*r.retry, retryMax)
	return nil
}

// switched completes a switch: the new feed delivers now; the old closes.
func (r *ladderRun) switched() {
	old, f := r.cur, r.next
	r.cur, r.next = f, nil
	f.last, f.lastAt = f.client.Stats(), time.Now()
	if old != nil {
		r.close(old)
	}
	r.moved(f.index)
	from := ""
	if old != nil {
		from = old.rung.Name
	}
	r.s.log.Info("quality", "rung", f.rung.Name, "size", f.rung.Size(), "from", from, "held", r.s.Quality())
}

// switchFailed gives up a switch whose feed ended before its first
// picture; one that delivered it and then ended completes first, and ends
// as the playing feed.
func (r *ladderRun) switchFailed() {
	f := r.next
	select {
	case <-f.first:
		r.switched()
		return
	default:
	}
	r.next = nil
	r.s.setPending(nil)
	r.s.ended(f)
	r.failed(f, f.err)
}

// failed notes that a switch to f's rung never delivered. Without a
// playing feed (it dropped during the switch) the reconnection takes
// over.
func (r *ladderRun) failed(f *feed, err error) {
	if r.cur == nil && r.retryAt == nil && r.ctx.Err() == nil {
		r.s.state.Store(int32(Reconnecting))
		r.retryAt = time.After(r.retry)
		r.retry = min(2*r.retry, retryMax)
	}
	if r.s.Quality() == QualityAuto {
		r.choose.failed(f.index)
		r.s.log.Info("could not switch quality; backing off", "rung", f.rung.Name, "url", f.rung.URL, "error", err)
		return
	}
	r.heldFailed[f.rung.Name] = time.Now()
	r.s.log.Warn("could not switch quality", "rung", f.rung.Name, "url", f.rung.URL, "error", err)
}

// look measures the playing rung and moves when the chooser or the hold
// says so. While a switch is under way nothing is decided: the switch
// completes or fails first.
func (r *ladderRun) look(now time.Time) {
	if f := r.next; f != nil && now.Sub(f.opened) > switchWait {
		r.next = nil
		r.s.setPending(nil)
		r.close(f)
		r.failed(f, fmt.Errorf("no picture within %v", switchWait))
	}
	r.refreshRungs()
	r.choose.rate(r.s.sourceFPS())
	f := r.cur
	if f == nil {
		return
	}
	st := f.client.Stats()
	if f.lastAt.IsZero() || r.next != nil {
		// The first look of a feed starts here, after its setup.
		f.last, f.lastAt = st, now
		return
	}
	l := sample{Span: now.Sub(f.lastAt), Frames: st.Frames - f.last.Frames, Lost: st.LostFrames - f.last.LostFrames,
		Bytes: st.Bytes - f.last.Bytes, Payload: st.Payload - f.last.Payload,
		Packets: st.Packets - f.last.Packets + st.Recover.GaveUp - f.last.Recover.GaveUp,
		Missing: st.Recover.Recovered + st.Recover.GaveUp - f.last.Recover.Recovered - f.last.Recover.GaveUp}
	f.last, f.lastAt, f.lookFrames = st, now, l.Frames
	if want := r.target(r.choose.look(l)); want != f.index {
		r.steer(want)
	}
}

// moved tells the chooser the rung playing now: a move of its own counts
// towards its probes, one the user asked for starts afresh.
func (r *ladderRun) moved(i int) {
	if r.s.Quality() == QualityAuto {
		r.choose.moved(i)
	} else {
		r.choose.arrive(i, false)
	}
}

// drop abandons the switch under way, not as a failure.
func (r *ladderRun) drop() {
	f := r.next
	r.next = nil
	r.s.setPending(nil)
	r.close(f)
}

// refreshRungs takes renditions learnt since play began (from the
// DESCRIBE answer) into the ladder.
func (r *ladderRun) refreshRungs() {
	if len(r.rungs) > 1 {
		return
	}
	rungs := Rungs(r.s.Stream(), r.s.cfg.Via)
	if len(rungs) == 1 {
		return
	}
	r.rungs = rungs
	cur := r.choose.cur
	r.choose = newChooser(rungs, cur, r.s.sourceFPS(), r.choose.rng)
	r.s.log.Debug("quality ladder", "rungs", len(rungs))
	if q := r.s.Quality(); q != QualityAuto {
		r.steer(r.target(cur))
	}
}

// target is the rung to play: the held one, else the full one when the
// hold can't be met, else auto's choice.
func (r *ladderRun) target(auto int) int {
	q := r.s.Quality()
	if q == QualityAuto {
		r.setNote("")
		return auto
	}
	if len(r.rungs) == 1 && !r.s.described.Load() {
		return 0 // the DESCRIBE answer may name the ladder yet
	}
	for i, rung := range r.rungs {
		if rung.Name != string(q) {
			continue
		}
		if at, ok := r.heldFailed[rung.Name]; ok && time.Since(at) < heldRetry {
			r.setNote(fmt.Sprintf("%s did not play: showing full", q))
			return 0
		}
		r.setNote("")
		return i
	}
	r.setNote(fmt.Sprintf("this broadcaster offers no %s quality: showing full", q))
	return 0
}

// setNote keeps why the hold is not met, logging each new reason once.
func (r *ladderRun) setNote(note string) {
	if note == r.note {
		return
	}
	r.note = note
	r.s.setQualityNote(note)
	if note != "" {
		r.s.log.Warn("quality: " + note)
	}
}

// steer moves towards rung i: a new feed beside the playing one, or, when
// the playing one showed nothing over the last look and i is lower (the
// link is choked), in its place at once, as there is no picture to keep
// and the old session's packets would only slow the new one's.
func (r *ladderRun) steer(i int) {
	if r.next != nil {
		if r.next.index == i {
			return
		}
		r.drop()
	}
	f := r.cur
	switch {
	case f == nil:
		r.again = i
		return
	case i == f.index:
		return
	case i > f.index && !f.lastAt.IsZero() && f.lookFrames == 0:
		r.cur = r.open(i)
		r.s.setActive(r.cur)
		r.close(f)
		r.moved(i)
		r.s.log.Info("quality", "rung", r.cur.rung.Name, "size", r.cur.rung.Size(), "from", f.rung.Name, "stalled", true)
		return
	}
	r.next = r.open(i)
	r.s.setPending(r.next)
}

// learnLadder reads the DESCRIBE answer of the full rung: the renditions
// an lsbroadcast names there join the ladder when nothing else named them.
func (s *Session) learnLadder(h map[string][]string) {
	defer s.described.Store(true)
	for k, v := range h {
		if !strings.EqualFold(k, rtsp.RenditionsHeader) || len(v) == 0 {
			continue
		}
		rs := ParseRenditions(strings.Join(v, ","))
		s.mu.Lock()
		if len(s.stream.Renditions) == 0 {
			s.stream.Renditions = rs
		}
		s.mu.Unlock()
	}
}
