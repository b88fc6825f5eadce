package device

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/encode"
	"github.com/lsbroadcast/lsbroadcast/netio"
)

// rungDivisors are the renditions --ladder may name, each a fraction of
// the full picture's sides that libjpeg-turbo decodes to in its IDCT.
var rungDivisors = map[string]int{netio.Half: 2, netio.Quarter: 4}

// rtspRungs is what the ladder needs of the RTSP server (rtsp.Server).
type rtspRungs interface {
	WriteRendition(name string, jpeg []byte, captured time.Time) error
	Readers(name string) int
}

// webRungs is what the ladder needs of the web viewer (web.Server).
type webRungs interface {
	WriteRendition(name string, seq uint64, captured time.Time, jpeg []byte)
	Watching(name string) int
}

// ladder makes the smaller renditions of the stream, one goroutine a
// rung, each only while somebody watches it: an RTSP reader on its path
// or a browser shown it.
type ladder struct {
	rungs   []*rung
	rtsp    rtspRungs
	web     webRungs // nil without a web viewer
	quality func() int
	log     *slog.Logger
}

// rung is one rendition. emit leaves it the newest frame in a one-slot
// mailbox (next, wake): a rung that falls behind skips frames, and never
// holds up the capture.
type rung struct {
	name string
	div  int
	next atomic.Pointer[rungFrame]
	wake chan struct{}
	// active is whether the last frame found it watched (emit's alone).
	active bool
	// Counters: frames made, frames that failed.
	made, failed atomic.Uint64
}

// rungFrame is a full frame on its way to a rung; seq is the web viewer's
// frame number for it.
type rungFrame struct {
	frame capture.Frame
	seq   uint64
}

// newLadder has a rung for each name (names rungDivisors knows, largest
// first, as Config.Ladder holds them).
func newLadder(names []string, rtsp rtspRungs, web webRungs, quality func() int, log *slog.Logger) *ladder {
	l := &ladder{rtsp: rtsp, web: web, quality: quality, log: log}
	for _, n := range names {
		l.rungs = append(l.rungs, &rung{name: n, div: rungDivisors[n], wake: make(chan struct{}, 1)})
	}
	return l
}

// run runs every rung until ctx ends.
func (l *ladder) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range l.rungs {
		wg.Go(func() { l.runRung(ctx, r) })
	}
	wg.Wait()
}

// watched says whether anybody watches rung name now: two atomic loads.
func (l *ladder) watched(name string) (rtsp, web bool) {
	return l.rtsp.Readers(name) > 0, l.web != nil && l.web.Watching(name) > 0
}

// offer hands a frame the readers got (seq: its web frame number) to
// every rung somebody watches, replacing the one a rung has not taken
// yet. Called from emit's goroutine. No copy: a capture.Frame's JPEG is
// never written again, so the rung reads it beside the services that
// keep it.
func (l *ladder) offer(f capture.Frame, seq uint64) {
	for _, r := range l.rungs {
		rtsp, web := l.watched(r.name)
		if on := rtsp || web; on != r.active {
			r.active = on
			if on {
				l.log.Info("rendition watched: making it", "rendition", r.name)
			} else {
				l.log.Info("rendition unwatched: idle", "rendition", r.name, "made", r.made.Load())
			}
		}
		if !r.active {
			continue
		}
		r.next.Store(&rungFrame{frame: f, seq: seq})
		select {
		case r.wake <- struct{}{}:
		default: // already woken: it takes the newest
		}
	}
}

// runRung transcodes r's newest frame whenever there is one and
// somebody still watches, and writes it to whoever does.
func (l *ladder) runRung(ctx context.Context, r *rung) {
	tr, err := encode.NewTranscoder()
	if err != nil {
		l.log.Error("rendition not made", "rendition", r.name, "error", err)
		return
	}
	defer tr.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		rf := r.next.Swap(nil)
		if rf == nil {
			continue
		}
		// Asked again: the last reader may have left since emit.
		rtsp, web := l.watched(r.name)
		if !rtsp && !web {
			continue
		}
		jpeg, _, err := tr.Transcode(rf.frame.JPEG, r.div, l.quality())
		if err != nil {
			if r.failed.Add(1)%100 == 1 {
				l.log.Warn("rendition frame not made", "rendition", r.name, "error", err, "errors", r.failed.Load())
			}
			continue
		}
		r.made.Add(1)
		if rtsp {
			if err := l.rtsp.WriteRendition(r.name, jpeg, rf.frame.Captured); err != nil && r.failed.Add(1)%100 == 1 {
				l.log.Warn("rendition frame not sent", "rendition", r.name, "error", err, "errors", r.failed.Load())
			}
		}
		if web {
			l.web.WriteRendition(r.name, rf.seq, rf.frame.Captured, jpeg)
		}
	}
}

// renditions describes the rungs for a main stream of size at path:
// sizes as RTP/JPEG carries them, rounded up to 8 like the main stream's
// (rounding that size first changes nothing: 8/div divides a multiple
// of 8).
func (l *ladder) renditions(path string, size capture.Size) []netio.Rendition {
	if l == nil || len(l.rungs) == 0 || size.W <= 0 || size.H <= 0 {
		return nil
	}
	out := make([]netio.Rendition, 0, len(l.rungs))
	for _, r := range l.rungs {
		s := encode.ScaledDown(size.W, size.H, r.div)
		out = append(out, netio.Rendition{Name: r.name, Path: path + "/" + r.name, Width: roundUp8(s.X), Height: roundUp8(s.Y)})
	}
	return out
}

// counts is each rung's count of frames made, for the log: half=12
// quarter=0.
func (l *ladder) counts() string {
	var s string
	for i, r := range l.rungs {
		if i > 0 {
			s += " "
		}
		s += r.name + "=" + strconv.FormatUint(r.made.Load(), 10)
	}
	return s
}
