package viewer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// The quality ladder as a viewer climbs it: which rungs a broadcaster
// offers (Rungs), which one to play (chooser), and the user's hold on one
// (Quality). Session moves between rungs (feed.go).

// Quality is what the user asks of the ladder: a rung's name to hold it,
// or QualityAuto to let the chooser pick.
type Quality string

// QualityAuto lets the viewer pick the rung from what the link delivers.
const QualityAuto Quality = "auto"

// Qualities are what ParseQuality accepts, in the order a key cycles them.
var Qualities = []Quality{QualityAuto, netio.Full, netio.Half, netio.Quarter}

// ParseQuality reads auto, full, half or quarter.
func ParseQuality(s string) (Quality, error) {
	for _, q := range Qualities {
		if strings.EqualFold(s, string(q)) {
			return q, nil
		}
	}
	return "", fmt.Errorf("invalid quality %q: want auto, full, half or quarter", s)
}

// Next is the quality after q in Qualities, wrapping: what a key press
// turns q into.
func (q Quality) Next() Quality {
	for i, c := range Qualities {
		if c == q {
			return Qualities[(i+1)%len(Qualities)]
		}
	}
	return QualityAuto
}

// Rung is one rendition a viewer can play.
type Rung struct {
	Name          string // netio.Full for the stream itself
	URL           string // rtsp:// where it plays
	Width, Height int    // 0 when not announced
}

// Size is WxH, or "" when unknown.
func (r Rung) Size() string {
	return netio.Stream{Width: r.Width, Height: r.Height}.Size()
}

// maxRenditions bounds what a header may name: the server offers 4 at most.
const maxRenditions = 4

// ParseRenditions reads an rtsp.RenditionsHeader: name=path pairs
// separated by commas. Names are [a-z0-9-]{1,16}, paths absolute and
// printable; anything else, duplicates and full (the stream itself) are
// left out, so a broken entry costs that entry only.
func ParseRenditions(header string) []netio.Rendition {
	var out []netio.Rendition
	for item := range strings.SplitSeq(header, ",") {
		if len(out) == maxRenditions {
			break
		}
		name, path, ok := strings.Cut(strings.TrimSpace(item), "=")
		name, path = strings.TrimSpace(name), strings.TrimSpace(path)
		if !ok || !renditionName(name) || name == netio.Full || !renditionPath(path) {
			continue
		}
		dup := false
		for _, r := range out {
			dup = dup || r.Name == name
		}
		if !dup {
			out = append(out, netio.Rendition{Name: name, Path: path})
		}
	}
	return out
}

func renditionName(s string) bool {
	if len(s) == 0 || len(s) > 16 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// renditionPath accepts an absolute path of printable ASCII without
// spaces, short enough for a request line.
func renditionPath(s string) bool {
	if len(s) < 2 || len(s) > 256 || s[0] != '/' {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || c == '?' || c == '#' {
			return false
		}
	}
	return true
}

// Rungs are the rungs of st's ladder, largest first: the stream itself,
// then each rendition it names, at its path on the stream's own server.
// A stream played through a relay, or one whose URL doesn't parse, has
// the one rung: a relay serves the main stream only.
func Rungs(st Stream, via Via) []Rung {
	full := Rung{Name: netio.Full, URL: st.URL, Width: st.Width, Height: st.Height}
	u, err := url.Parse(st.URL)
	if via == ViaRelay || err != nil || st.URL == st.RelayURL {
		return []Rung{full}
	}
	rungs := []Rung{full}
	for _, r := range st.Renditions {
		if !renditionName(r.Name) || r.Name == netio.Full || !renditionPath(r.Path) || len(rungs) > maxRenditions {
			continue
		}
		v := *u
		v.Path, v.RawPath, v.RawQuery = r.Path, "", ""
		rungs = append(rungs, Rung{Name: r.Name, URL: v.String(), Width: r.Width, Height: r.Height})
	}
	return rungs
}

// The chooser's constants. A look is one sample of what the playing rung
// delivered; the others are reasoned where they are used.
const (
	// ladderLook is how often the chooser looks: long enough for 15
	// pictures at 30 fps, so one late picture doesn't read as trouble;
	// short enough that two bad looks step down within the 1–2 s a
	// viewer tolerates a stutter.
	ladderLook = 500 * time.Millisecond
	// downAfter is how long a rung must be bad to be left: over two
	// looks, the latest not clean, so a single burst of loss (Wi-Fi
	// retries a frame, a microwave) does not cost a rung.
	downAfter = time.Second
	// badShare: a rung that delivers under this share of the source's
	// pictures (24 of 30 fps) over downAfter is thinned by the server or
	// lost by the link: the link doesn't carry it, and the next rung down
	// needs well under half the bytes (see need). A viewer that stayed
	// on a rung thinned to 20 fps kept 12 Mbit/s of a 20 Mbit/s link that
	// seven others shared at 8 fps.
	badShare = 0.85
	// badLoss: more than this share of pictures lost after
	// retransmission is a link that cannot carry the rung.
	badLoss = 0.15
	// cleanShare and cleanLoss make a look clean: near the source's rate
	// (a look of 500 ms counts 15 ± 1 pictures at 30 fps), almost nothing
	// lost. Only clean time counts towards a probe up.
	cleanShare = 0.9
	cleanLoss  = 0.02
	// cleanRepair: and at most this share of the packets asked for
	// again. Retransmission keeps pictures whole on a link that
	// overflows, so whole pictures alone don't say the link carries the
	// rung: a viewer that probed up onto a full link, its pictures kept
	// whole by resends, held the bigger rung for seconds while the server
	// thinned the seven behind the same link (BenchmarkLadderEightViewers:
	// slowest 0.70 of the median). Wi-Fi's usual 1–2 % random loss stays
	// under it.
	cleanRepair = 0.03
	// probeAbortRepair: a probe up is abandoned at the first look that
	// is bad, or that had more than this share of its packets asked for
	// again: a link the probe overflows drops a tenth or more of
	// everyone's packets once its queue fills, and every look spent there
	// costs the viewers sharing it their frames. Twice Wi-Fi's usual loss,
	// so random loss alone does not abandon a probe.
	probeAbortRepair = 0.06
	// probeBase is the clean time before the first probe up; each failed
	// probe to a rung doubles it for that rung, up to probeMax, and every
	// wait is drawn at random from 0.5–1.5 times it, so viewers behind
	// one link that stepped down together don't all probe together.
	probeBase = 5 * time.Second
	probeMax  = 80 * time.Second
	// probeHold: a rung held this long after a probe up has proved
	// itself, and its probe back-off is forgotten.
	probeHold = 10 * time.Second
	// peakMemory is how long the best rate seen stands for the source's
	// rate until that is known (see Session.sourceFPS).
	peakMemory = 10 * time.Second
	// fitShare: a rung fits a measured throughput when it needs at most
	// this share of it, the rest headroom for bursts and retransmission.
	fitShare = 0.8
	// areaExponent: see need.
	areaExponent = 0.65
)

// sample is what the playing rung delivered over one look.
type sample struct {
	Span    time.Duration
	Frames  uint64 // complete pictures
	Lost    uint64 // pictures lost
	Bytes   uint64 // JPEG bytes of the complete pictures
	Payload uint64 // RTP payload bytes received, complete pictures or not
	Packets uint64 // RTP packets sent to the viewer: received (resends included) or given up
	Missing uint64 // of them, found missing and asked for again (UDP with NACKs; else 0)
}

// chooser picks the rung to play from the looks at the one playing: down
// fast when it is bad, straight to the rung the measured throughput
// carries; up one rung at a time after a clean stretch, backing off at
// random after a failed probe. It is the Session's play loop's alone; its
// decisions depend only on the looks and its random source, so tests
// drive it with synthetic ones.
type chooser struct {
	rungs   []Rung
	cur     int
	nominal float64 // the source's rate (Session.sourceFPS); 0 unknown
	rng     *rand.Rand

	peaks   []float64 // rates of the looks within peakMemory, newest last
	window  []sample  // the looks at cur within downAfter, newest last
	clean   time.Duration
	since   time.Duration // at cur
	probing bool          // cur was reached by a probe up, not yet held probeHold
	wait    time.Duration // clean time before the next probe up
	fails   []int         // failed probes to each rung in a row
	bpf     []float64     // bytes per picture learnt at each rung; 0 unknown
}

func newChooser(rungs []Rung, cur int, nominal float64, rng *rand.Rand) *chooser {
	c := &chooser{rungs: rungs, cur: cur, nominal: nominal, rng: rng,
		fails: make([]int, len(rungs)), bpf: make([]float64, len(rungs))}
	// The named rate stands for the first peakMemory: a link choked from
	// the start shows no better one.
	for range peakMemory / ladderLook {
		c.peaks = append(c.peaks, nominal)
	}
	c.arrive(cur, false)
	return c
}

// rate takes the source's rate as now known: measured from the first
// pictures' RTP times, which also says when a camera delivers fewer than
// it is set to (a dark room lengthens the exposure), else as named.
func (c *chooser) rate(fps float64) {
	if fps <= 0 || fps == c.nominal {
		return
	}
	c.nominal = fps
	for i := range c.peaks {
		c.peaks[i] = fps
	}
}

// ref is the rate a good rung delivers: the source's, or while that is
// unknown the best seen lately, the mean of the top quarter of the looks'
// rates (one look of 500 ms counts 15 ± 1 pictures at 30 fps, and the
// single highest would set the bar a picture too high). Never lower than
// a known source rate: a server thinning this reader for long would
// otherwise pass for the source.
func (c *chooser) ref() float64 {
	if c.nominal > 0 {
		return c.nominal
	}
	top := slices.Sorted(slices.Values(c.peaks))
	top = top[len(top)-max(1, len(top)/4):]
	best := 0.0
	for _, p := range top {
		best += p / float64(len(top))
	}
	return best
}

// look takes one look at the rung playing and returns the rung to play:
// cur to stay.
func (c *chooser) look(l sample) int {
	if l.Span <= 0 {
		return c.cur
	}
	fps, loss := rates(l)
	repair := repairs(l)
	c.remember(fps, l)
	ref := c.ref()
	c.since += l.Span
	if c.probing && c.since >= probeHold {
		c.probing, c.fails[c.cur] = false, 0
	}
	if l.Frames > 0 && loss < badLoss {
		c.learn(c.cur, float64(l.Bytes)/float64(l.Frames))
	}
	c.window = append(c.window, l)
	var w sample
	for i := len(c.window) - 1; i >= 0; i-- {
		if w.Span >= downAfter {
			c.window = c.window[i+1:]
			break
		}
		s := c.window[i]
		w.Span, w.Frames, w.Lost, w.Payload = w.Span+s.Span, w.Frames+s.Frames, w.Lost+s.Lost, w.Payload+s.Payload
	}
	// A probe that hurts is left at once, before the viewers sharing its
	// link pay for it with more than a look's frames.
	if c.probing && c.cur < len(c.rungs)-1 && (badLook(fps, loss, ref) || repair > probeAbortRepair) {
		return c.cur + 1
	}
	clean := fps >= cleanShare*ref && loss <= cleanLoss && repair <= cleanRepair
	switch {
	case clean:
		c.clean += l.Span
		if c.clean >= c.wait && c.cur > 0 {
			return c.cur - 1
		}
	case badLook(fps, loss, ref):
		c.clean = 0
	}
	// Bad over the last downAfter, and not clean now: a server thinning
	// a reader steps it between rates (30, 15, 30 fps), so a window, not
	// each look, says whether the rung is carried.
	wfps, wloss := rates(w)
	if !clean && w.Span >= downAfter && badLook(wfps, wloss, ref) && c.cur < len(c.rungs)-1 {
		return c.down(float64(w.Payload)/w.Span.Seconds(), ref)
	}
	return c.cur
}

// badLook says whether a rate and a loss are a rung the link can't carry.
func badLook(fps, loss, ref float64) bool {
	return (ref > 0 && fps < badShare*ref) || loss > badLoss
}

// rates are a sample's pictures a second and share of pictures lost.
func rates(l sample) (fps, loss float64) {
	fps = float64(l.Frames) / l.Span.Seconds()
	if n := l.Frames + l.Lost; n > 0 {
		loss = float64(l.Lost) / float64(n)
	}
	return fps, loss
}

// repairs is the share of a sample's packets that were asked for again.
func repairs(l sample) float64 {
	if l.Packets == 0 {
		return 0
	}
	return float64(l.Missing) / float64(l.Packets)
}

// remember keeps the look's rate for ref, forgetting those past
// peakMemory; rates above the named one are jitter, not the source.
func (c *chooser) remember(fps float64, l sample) {
	if c.nominal > 0 {
		fps = min(fps, c.nominal)
	}
	c.peaks = append(c.peaks, fps)
	if n := int(peakMemory / max(l.Span, time.Millisecond)); len(c.peaks) > n {
		c.peaks = append(c.peaks[:0], c.peaks[len(c.peaks)-n:]...)
	}
}

// learn averages a rung's bytes per picture: pictures vary with the scene.
func (c *chooser) learn(i int, bpf float64) {
	if c.bpf[i] == 0 {
		c.bpf[i] = bpf
		return
	}
	c.bpf[i] += (bpf - c.bpf[i]) / 8
}

// down is the rung to step down to from cur, bad over a stretch that
// received throughput bytes a second: the largest whose pictures at the
// reference rate fit in it, at least one rung lower, the lowest when
// nothing fits or nothing is known.
func (c *chooser) down(throughput, ref float64) int {
	for i := c.cur + 1; i < len(c.rungs); i++ {
		if need := c.need(i) * ref; need > 0 && need <= fitShare*throughput {
			return i
		}
	}
	return len(c.rungs) - 1
}

// need is the bytes per picture rung i takes: learnt there, else scaled
// from the nearest rung learnt by the rungs' areas; 0 when nothing is
// known. JPEG spends more bytes per pixel on a smaller picture (detail
// packs tighter, and headers weigh more), so bytes scale with area to the
// power areaExponent rather than linearly: the test pattern's quarter
// takes 1/5.7 of its full picture's bytes, not 1/16 (area^0.63). Erring
// high for a smaller rung, a step down lands where it fits.
func (c *chooser) need(i int) float64 {
	if c.bpf[i] > 0 {
		return c.bpf[i]
	}
	ai := c.area(i)
	for d := 1; d < len(c.rungs); d++ {
		for _, j := range []int{i - d, i + d} {
			if j < 0 || j >= len(c.rungs) || c.bpf[j] == 0 {
				continue
			}
			if aj := c.area(j); ai > 0 && aj > 0 {
				return c.bpf[j] * math.Pow(ai/aj, areaExponent)
			}
			return 0
		}
	}
	return 0
}

// area is rung i's picture area as a share of the full one: from its
// announced size, else from its name.
func (c *chooser) area(i int) float64 {
	r, full := c.rungs[i], c.rungs[0]
	if r.Width > 0 && r.Height > 0 && full.Width > 0 && full.Height > 0 {
		return float64(r.Width*r.Height) / float64(full.Width*full.Height)
	}
	switch r.Name {
	case netio.Full:
		return 1
	case netio.Half:
		return 1.0 / 4
	case netio.Quarter:
		return 1.0 / 16
	}
	return 0
}

// moved says the Session now plays rung i.
func (c *chooser) moved(i int) {
	probe := i < c.cur
	if i > c.cur && c.probing {
		// Left the rung a probe reached before it held: that probe failed.
		c.fails[c.cur] = min(c.fails[c.cur]+1, 16)
	}
	c.arrive(i, probe)
}

// failed says a switch to rung i never delivered a picture: a failed
// probe, backed off like one.
func (c *chooser) failed(i int) {
	c.fails[i] = min(c.fails[i]+1, 16)
	c.arrive(c.cur, false)
}

// arrive starts the count at rung i afresh and draws the wait before the
// next probe up, from the back-off of the rung above.
func (c *chooser) arrive(i int, probe bool) {
	c.cur, c.probing, c.since = i, probe, 0
	c.window, c.clean = c.window[:0], 0
	wait := probeBase
	if i > 0 {
		for range c.fails[i-1] {
			wait = min(2*wait, probeMax)
		}
	}
	c.wait = time.Duration(float64(wait) * (0.5 + c.rng.Float64()))
}
