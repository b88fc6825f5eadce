package rtsp

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// Per-reader thinning (issue 14, the DESIGN's loss row): a unicast UDP
// reader that can't keep up gets fewer whole frames rather than every
// frame broken (one lost packet loses a JPEG picture), and more again
// when its link recovers. One reader's state never lowers another's: the
// only things readers share are the mean share of a fan-out's thinned
// readers, below which a lossy reader is spared a cut (thinLossSevere) and
// climbs back fast (cleanFor), so readers behind one queue meet at its
// mean instead of staying where chance left them, and at which a reader
// new to a fan-out of mostly thinned readers starts (joinShare); and the
// server's window clock, so they judge the same stretches of time
// (boundary).
//
// What it hears. A reader's loss over a short window is the worst of: the
// packets it asked for again (generic NACKs, lsview's) against those sent;
// the share of its requests that are retries, past a quarter (lsview asks
// once more when a resend did not come: the resends' own loss, a sample
// of its path's loss now); the packets this server failed to send it (its
// own send drops); and the fraction lost of its latest RTCP receiver
// report (every client sends those; gortsplib's every 5 s, so they are the
// slow signal, the only one from ffmpeg or GStreamer). The retries matter:
// random loss of a few per cent is what retransmission repairs, and its
// resends come back; behind a queue that overflows, the resends are lost
// as often as the rest, and the retries
// tell the two apart. A report covers the time since the one before: it is
// believed only if the reader's rate did not change meanwhile, or it would
// judge the new rate by the old one's loss. The report's jitter is not
// used: a queue filling shows as loss soon enough at these rates.
//
// What it does: AIMD on the share of frames, in eighths of the source's
// rate. Loss above thinLossHigh over a window cuts the share by one
// eighth, and loss that goes on into the next window to what got
// through, by one eighth at least and half at most (floor one eighth); a
// reader clean for thinCleanFor gets one eighth more. The first cut is
// one eighth whatever the loss: when readers share a queue that
// overflows, tail drop takes some readers' bursts whole and others' not
// at all, and cutting each to what it got through cut the unlucky ones
// deep for the same overflow (eight viewers behind 20 Mbit/s,
// BenchmarkLadderEightViewers: slowest/median 0.70–0.98, mean 0.82, over
// 9 runs; with the eighth first 0.83–0.92, mean 0.88, over 7). A link
// that really drops costs one window more (BenchmarkThinSteps: complete
// pictures again after 1.77 s, was 1.47). Cutting by a factor
// on loss and adding a constant step is what makes flows that share a
// bottleneck converge to equal shares (Chiu and Jain, 1989, TCP's
// reasoning): readers behind one Wi-Fi link tend to fair shares without
// knowing of each other, and a reader alone on a bad link gets what its
// link carries. (Only tend: a step is an eighth of the stream, and a link
// that carries just a few steps leaves the shares uneven from second to
// second, BenchmarkThinShares; smaller renditions are the answer there.)
// The frames it gets are spread evenly (a credit of the share a frame, a
// frame each whole).
//
// What the reader sees. Each reader has its own sequence space (as an SFU
// rewrites): the packets of the frames it gets are numbered on from its
// last, so a skipped frame leaves no gap, and thinning never looks like
// loss to its depacketiser, its loss statistics, or its NACKs. The
// rewritten number goes in a per-reader copy of the 12-byte RTP header,
// sent with the shared payload as a second iovec: nothing else is copied
// per reader. A reader never thinned nor skipped keeps the stream's own
// numbers and is sent the shared packet whole, as before. Its NACKs name
// its own numbers: a ring of the frames it was sent (first number, packet
// count, offset to the stream's) maps them back to the shared history,
// and the resend carries the reader's number again. Sender reports keep
// the stream's packet and octet counts, so a thinned reader's are higher
// than what it was sent (an approximation no client we know acts on); the
// RTP↔NTP mapping, what players use them for, is exact.
const (
	// thinSteps is the resolution of a reader's share: eighths, so the
	// floor is one frame in eight (about 4 fps of 30), still a moving
	// picture, and the step up from the floor is gentle.
	thinSteps = 8
	// thinWindow is the shortest window a verdict is made on: at 30 fps
	// 15 frames, some 1000 packets of 720p, so 5 % is 50 packets, not
	// noise; and short enough to step down within about a second of a
	// link going bad (three halvings from full to the floor take 1.5 s).
	thinWindow = 500 * time.Millisecond
	// thinMinPackets is what a window that lost packets must have seen
	// to be a verdict, or else it grows up to thinWindowMax: a small
	// rendition at a low share sends few (320×180 at 1/8, some 20 a
	// window). A window that lost none needs no sample: when every
	// window waited for one, a reader at the floor share on the quarter
	// rendition judged every 2 s, and climbed back from it four times
	// slower than its neighbours (eight viewers behind 20 Mbit/s: one at
	// 1/8 for 3 s while two others climbed from 3/8).
	thinMinPackets = 30
	thinWindowMax  = 2 * time.Second
	// thinMinRetrySample is the requests a window must have for their
	// retries to be a loss rate, and thinRetryHigh the share of retries
	// that is one. A retry also follows a resend that was only late (lsview
	// asks again after its round trip plus 2 ms, and a loaded machine
	// answers later than that): at 2 % random loss lsview retried 0 to 1
	// request of 8–19 in a window, behind a queue overflowing 5 or 6 of
	// 10–12 (netlab, 720p, 10 Mbit/s), so a quarter tells them apart with
	// room on both sides; at 8 requests that takes 3 retries.
	thinMinRetrySample = 8
	thinRetryHigh      = 0.25
	// thinLossHigh: above it, the reader's share is cut. Retransmission
	// recovers 1–2 % (Wi-Fi's usual loss) whole; past about 5 % most
	// frames need more than one round of resends, and fewer frames
	// recover better.
	thinLossHigh = 0.05
	// thinLossSevere: a reader whose share is below the mean of its
	// fan-out's thinned readers is cut only past this loss. Readers that
	// share one queue each lose when it overflows, and which of them
	// lose is chance: cutting every lossy reader kept the unlucky ones
	// below the others for seconds (eight viewers behind 20 Mbit/s: the
	// slowest 0.67–0.88 of the median over 6 runs). Sparing those below
	// the mean lets the shares meet at it; a reader alone on a bad link is
	// its own mean and is cut as before, and one that loses this much is
	// on a link of its own that is failing.
	thinLossSevere = 0.25
	// thinCleanFor is how long a reader must stay under thinLossHigh before
	// it gets one step more: two windows, so one lucky window is not
	// enough, and from the floor to full takes 7 s, slow enough that eight
	// viewers probing one link don't all overshoot at once.
	thinCleanFor = time.Second
	// thinRing is how many of a reader's recent frames it can ask about
	// again: 64 frames covers the history's half a second up to 120 fps.
	thinRing = 64
	// thinLogEvery bounds the lines about readers stepping down and up.
	thinLogEvery = 5 * time.Second
)

// thinState is one reader's thinning: the writer's own fields, and what
// the reader's RTCP handler tells it.
type thinState struct {
	// The writer's own.
	cut     int // eighths of the source's frames withheld, 0 (none) to thinSteps-1
	credit  int
	next    uint16 // the reader's next sequence number
	started bool
	// epoch is the fan-out's window clock (boundary): every window ends
	// on a boundary of it. Zero until the first look, which then takes its
	// own time, as a reader alone does.
	epoch      time.Time
	winStart   time.Time
	winEnd     time.Time
	cleanSince time.Time
	changed    time.Time // when the share last changed
	// held is the share before the last episode of loss (windows lossy
	// in a row) began: below it, a reader steps up twice as fast.
	held       int
	lossyLast  bool   // the last window was lossy: this one continues the episode
	winPackets uint64 // counters at the window's start
	winDropped uint64
	winNACKed  uint64
	winRetried uint64

	// Shared with the RTCP handler.
	nacked  atomic.Uint64           // sequence numbers asked for again
	retried atomic.Uint64           // of them, asked for before
	frames  [thinRing]atomic.Uint64 // sent frames: first<<32 | count<<16 | offset
	head    atomic.Uint32           // frames recorded
	rr      struct {
		sync.Mutex
		loss     float64   // the latest report's fraction lost; < 0 none since the writer looked
		prev, at time.Time // when the report before it, and it, arrived
	}
}

// share is the reader's share of the source's frames, in eighths.
func (t *thinState) share() int { return thinSteps - t.cut }

// take says whether the reader gets the frame now being sent.
func (t *thinState) take() bool {
	t.credit += t.share()
	if t.credit < thinSteps {
		return false
	}
	t.credit -= thinSteps
	return true
}

// look runs the policy once a window: packets and dropped are the reader's
// counters of packets sent and lost in this server, group the mean share
// of the fan-out's thinned readers (thinGroup). It returns -1 when the
// reader stepped down, +1 up, and the loss the verdict was made on.
func (t *thinState) look(now time.Time, packets, dropped uint64, group float64) (step int, loss float64) {
	if t.winStart.IsZero() {
		t.restart(now, packets, dropped)
		t.cleanSince = now
		return 0, 0
	}
	if now.Before(t.winEnd) {
		return 0, 0
	}
	offered := packets + dropped - t.winPackets - t.winDropped
	nacked := t.nacked.Load() - t.winNACKed
	if offered < thinMinPackets && now.Sub(t.winStart) < thinWindowMax && (nacked > 0 || dropped > t.winDropped) {
		// Too few packets to tell a loss rate from chance: wait for more.
		// A window that lost none is clean however small, so a reader at
		// a small share climbs on the clock like the rest (see
		// thinMinPackets).
		t.winEnd = t.boundary(now, 0)
		return 0, 0
	}
	if offered > 0 {
		loss = float64(max(nacked, dropped-t.winDropped)) / float64(offered)
	}
	if nacked >= thinMinRetrySample {
		if r := float64(t.retried.Load()-t.winRetried) / float64(nacked); r > thinRetryHigh {
			loss = max(loss, r)
		}
	}
	if rr, ok := t.report(); ok {
		loss = max(loss, rr)
	}
	t.restart(now, packets, dropped)
	lossy, episode := loss > thinLossHigh, !t.lossyLast
	t.lossyLast = lossy
	switch {
	case lossy:
		t.cleanSince = now
		if episode {
			// The share that overflowed: the climb back aims for it.
			t.held = t.share()
		}
		if float64(t.share()) < group && loss < thinLossSevere {
			// Below the mean of the thinned: the readers above it give
			// way first (see thinLossSevere).
			return 0, loss
		}
		if t.share() > 1 {
			if episode {
				t.cut++
			} else {
				t.cut = thinSteps - t.after(loss)
			}
			t.changed = now
			// A phase of its own: readers at one share behind one link
			// would otherwise take the same frames, and their bursts
			// together overflow the queue each alone fits.
			t.credit = rand.IntN(thinSteps)
			return -1, loss
		}
	case t.cut > 0 && now.Sub(t.cleanSince)+thinWindow/4 >= t.cleanFor(group):
		// (A quarter window of slack: verdicts fall on the clock's
		// boundaries, give or take a frame.)
		t.cut--
		t.cleanSince, t.changed = now, now
		return 1, loss
	}
	return 0, loss
}

// cleanFor is how long the reader must be clean to step up: half as long
// below the share it held before its last episode of loss, or below
// group, the mean share of the fan-out's thinned readers. (A reader that
// a second episode caught low, still climbing back, held that low share
// from then on, and climbed from it a step a second while the others
// climbed twice as fast: 2/8 for four seconds while they were at 5/8 to
// 8/8, the slowest of eight viewers behind 20 Mbit/s at 0.69 of the
// median. A reader alone on a bad link is its own mean.) Every reader
// behind one link loses at once when it overflows (a viewer probing a
// larger rendition, a phone joining), and each halves once or twice
// within the second it takes to drain; climbing back an eighth a second
// took seven seconds, and with eight viewers probing at random the link
// was seldom back before the next episode (BenchmarkLadderEightViewers,
// cmd/lsview). Above that share the climb probes new room, slowly.
func (t *thinState) cleanFor(group float64) time.Duration {
	if t.share() < t.held || float64(t.share()) < group {
		return thinCleanFor / 2
	}
	return thinCleanFor
}

// after is the share to step down to from a window that lost loss of
// what it was sent: what got through, at least one eighth less and at
// most half. A link that was sent a little too much (eight readers of a
// rendition that just fills it) loses a few per cent, and each reader
// gives up a step, not half its frames: halving them all at once left
// the link carrying 60 % of what it could (BenchmarkLadderEightViewers,
// cmd/lsview). A link that collapsed loses most and is halved as before,
// so the step down takes as long.
func (t *thinState) after(loss float64) int {
	s := t.share()
	return min(max(int(float64(s)*(1-loss)), s/2, 1), s-1)
}

func (t *thinState) restart(now time.Time, packets, dropped uint64) {
	if t.epoch.IsZero() {
		t.epoch = now
	}
	t.winStart, t.winEnd, t.winPackets, t.winDropped = now, t.boundary(now, thinWindow/2), packets, dropped
	t.winNACKed, t.winRetried = t.nacked.Load(), t.retried.Load()
}

// boundary is the first boundary of the window clock later than now
// plus at least: windows end on the epoch's multiples of thinWindow, so
// that every reader of a fan-out judges the same stretch of time. Readers
// behind one queue that overflows then all see the same overflow in one
// window, and the same recovery in the next; with a window of its own
// each, one saw an overflow end in its window and another saw it go on
// into a second, which cut it once more (eight viewers behind 20 Mbit/s:
// the shares after one overflow 1/8 for some readers, 3/8 or 4/8 for the
// others). A look after a first window started late still ends on the
// clock: the first window is half to one and a half long.
func (t *thinState) boundary(now time.Time, least time.Duration) time.Time {
	since := now.Add(least).Sub(t.epoch)
	return t.epoch.Add((since/thinWindow + 1) * thinWindow)
}

// report is the fraction lost of a receiver report that arrived since the
// last look and covers no change of share.
func (t *thinState) report() (float64, bool) {
	t.rr.Lock()
	defer t.rr.Unlock()
	loss := t.rr.loss
	t.rr.loss = -1
	if loss < 0 || t.rr.at.IsZero() || (!t.changed.IsZero() && !t.rr.prev.After(t.changed)) {
		return 0, false
	}
	return loss, true
}

// noteReport takes a receiver report's first block: a session plays one
// media, one source, so that is the only one a reader has to report on.
func (t *thinState) noteReport(rr *rtcp.ReceiverReport, now time.Time) {
	if len(rr.Reports) == 0 {
		return
	}
	t.rr.Lock()
	t.rr.loss = float64(rr.Reports[0].FractionLost) / 256
	t.rr.prev, t.rr.at = t.rr.at, now
	t.rr.Unlock()
}

// base is the reader's sequence number for the first packet of a frame
// whose stream number is first: the stream's own for a reader that has
// missed nothing yet.
func (t *thinState) base(first uint16) uint16 {
	if !t.started {
		t.started, t.next = true, first
	}
	return t.next
}

// numbered records a frame of count packets from stream number first as
// numbered from t.base(first) on, before it is sent: a reader that sees a
// gap asks at once, while the rest of the picture is still being written.
func (t *thinState) numbered(first uint16, count int) {
	h := t.head.Load()
	t.frames[h%thinRing].Store(uint64(t.next)<<32 | uint64(uint16(count))<<16 | uint64(first-t.next))
	t.head.Store(h + 1)
}

// sent moves the reader's numbering past a frame numbered; a frame the
// reader got none of (the uplink's budget ran out) takes no numbers, so
// it leaves no gap either (the next frame's record, looked at first,
// takes its numbers over).
func (t *thinState) sent(count int, none bool) {
	if !none {
		t.next += uint16(count)
	}
}

// source maps a sequence number of the reader's to the stream's, if it
// names a packet of a frame the reader was sent recently.
func (t *thinState) source(seq uint16) (uint16, bool) {
	h := t.head.Load()
	for i := range min(h, thinRing) {
		e := t.frames[(h-1-i)%thinRing].Load()
		start, count, off := uint16(e>>32), uint16(e>>16), uint16(e)
		if seq-start < count {
			return seq + off, true
		}
	}
	return 0, false
}

// thinGroup is a fan-out's readers as thinning sees them, counted once a
// frame: mean is the mean share, in eighths, of the readers that are
// thinned (0 when none is), what a lossy reader's share is compared with
// before it is cut (thinLossSevere) and below which it climbs back fast
// (cleanFor); thinned counts those, whole the readers that have looked
// and are not thinned (a reader new this frame is neither).
type thinGroup struct {
	mean           float64
	thinned, whole int
}

func groupOf(readers []*udpReader) thinGroup {
	var g thinGroup
	var sum int
	for _, r := range readers {
		switch {
		case r.thin.cut > 0:
			sum, g.thinned = sum+r.thin.share(), g.thinned+1
		case !r.thin.epoch.IsZero():
			g.whole++
		}
	}
	if g.thinned > 0 {
		g.mean = float64(sum) / float64(g.thinned)
	}
	return g
}

// joinShare is the share, in eighths, a reader new to the fan-out starts
// at: the group's mean share, rounded, when at least two readers are
// thinned and they are at least as many as the whole ones; else the full
// share. Behind one queue, a viewer that leaves a rendition to probe
// another and comes back is a new reader: at the full share it ran at
// 24–25 fps while the readers that had stayed, thinned to a quarter or
// half, ran at 18–21, and the slowest of eight was always one of those
// (BenchmarkLadderEightViewers, cmd/lsview). A reader alone on a bad
// link, or among readers that are mostly whole, starts whole.
func (g thinGroup) joinShare() int {
	if g.thinned < 2 || g.thinned < g.whole {
		return thinSteps
	}
	return int(math.Round(g.mean))
}

// join starts a reader new to the fan-out at share s, and says whether
// that is below the full share: then it climbs back at the fast pace
// (held full, cleanFor), so a reader that joined readers thinned by a
// passing overflow is not kept under the link's room for long.
func (t *thinState) join(s int) bool {
	if s <= 0 || s >= thinSteps {
		return false
	}
	t.cut, t.held = thinSteps-s, thinSteps
	return true
}
