package viewer

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// The chooser's decisions on synthetic looks: a 1280×720 30 fps stream
// whose pictures are 52 kB at full size, 21 kB at half and 9 kB at a
// quarter (about what lsbroadcast's test pattern weighs).

var testRungs = []Rung{
	{Name: netio.Full, Width: 1280, Height: 720},
	{Name: netio.Half, Width: 640, Height: 360},
	{Name: netio.Quarter, Width: 320, Height: 180},
}

var testBPF = []uint64{52_000, 21_000, 9_000}

const (
	full, half, quarter = 0, 1, 2
	srcFPS              = 30
)

func newTestChooser(seed uint64) *chooser {
	return newChooser(testRungs, full, srcFPS, rand.New(rand.NewPCG(seed, 1)))
}

// link is a synthetic link: it carries capacity bytes a second and loses
// loss of the pictures it carries; what doesn't fit is thinned (whole
// pictures missing, nothing lost), as the server does. Of the packets,
// repair were lost and sent again (retransmission's work, invisible in
// the pictures).
type link struct {
	capacity float64
	loss     float64
	repair   float64
}

// packetSize is the RTP payload of a packet, for the synthetic counts.
const packetSize = 1400

// look is what rung i delivers over one look through l.
func (l link) look(i int) sample {
	secs := ladderLook.Seconds()
	bpf := float64(testBPF[i])
	fps := min(srcFPS, l.capacity/bpf)
	frames := fps * secs
	lost := frames * l.loss
	packets := frames * bpf / packetSize
	return sample{Span: ladderLook, Frames: uint64(frames - lost), Lost: uint64(lost),
		Bytes: uint64((frames - lost) * bpf), Payload: uint64(frames * bpf),
		Packets: uint64(packets), Missing: uint64(packets * l.repair)}
}

// drive runs c on l for d, moving as it says at once, and returns the
// rung at each look.
func drive(c *chooser, l link, d time.Duration) []int {
	var at []int
	for range int(d / ladderLook) {
		if want := c.look(l.look(c.cur)); want != c.cur {
			c.moved(want)
		}
		at = append(at, c.cur)
	}
	return at
}

// firstAt is the look at which rungs first shows want, or -1.
func firstAt(rungs []int, want int) int { return slices.Index(rungs, want) }

func TestChooserStepsDownFastToWhatFits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		link     link
		want     int
		maxLooks int
	}{
		// 20 Mbit/s shared by 8: 312 kB/s each. Half needs 630 kB/s:
		// straight to quarter, within 1 s.
		{"thinned to a share", link{capacity: 312_000}, quarter, 2},
		// 900 kB/s: full thinned to 17 fps; half fits.
		{"half fits", link{capacity: 900_000}, half, 2},
		// Losing a third of the pictures at any rung.
		{"lossy", link{capacity: 10e6, loss: 0.3}, quarter, 4},
		// Nothing at all arrives: the lowest, at once.
		{"choked", link{capacity: 0}, quarter, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestChooser(1)
			at := drive(c, tc.link, 3*time.Second)
			if got := at[len(at)-1]; got != tc.want {
				t.Fatalf("settled on %d, want %d: %v", got, tc.want, at)
			}
			if n := firstAt(at, tc.want); n < 0 || n+1 > tc.maxLooks {
				t.Fatalf("reached %d after %d looks, want within %d: %v", tc.want, n+1, tc.maxLooks, at)
			}
		})
	}
}

// TestChooserLearnsTheRate: without a named rate a link choked from the
// start looks normal until the rate measured from RTP times arrives.
func TestChooserLearnsTheRate(t *testing.T) {
	c := newChooser(testRungs, full, 0, rand.New(rand.NewPCG(1, 1)))
	choked := link{capacity: 312_000}
	if at := drive(c, choked, 2*time.Second); at[len(at)-1] != full {
		t.Fatalf("moved on no reference: %v", at)
	}
	c.rate(30)
	if at := drive(c, choked, 2*time.Second); at[len(at)-1] != quarter {
		t.Fatalf("with the rate known: %v", at)
	}
}

// TestChooserLeavesAThinnedRung: a server thinning the reader steps its
// rate between 30 and 15 fps, or holds it at 20: neither is a rung the
// link carries.
func TestChooserLeavesAThinnedRung(t *testing.T) {
	for _, rates := range [][]uint64{{7, 15}, {10, 10}} { // pictures a look: 14 and 30 fps, 20 fps
		c := newTestChooser(2)
		var at []int
		for i := range 8 {
			n := rates[i%2]
			if want := c.look(sample{Span: ladderLook, Frames: n, Bytes: n * testBPF[c.cur], Payload: n * testBPF[c.cur]}); want != c.cur {
				c.moved(want)
			}
			at = append(at, c.cur)
		}
		if n := firstAt(at, half); n < 0 || n > 3 {
			t.Errorf("pictures a look %v: rungs %v, want half within 2 s", rates, at)
		}
	}
}

func TestChooserRidesOutOneBadLook(t *testing.T) {
	c := newTestChooser(1)
	good := link{capacity: 10e6}
	drive(c, good, time.Second)
	c.look(link{capacity: 100_000}.look(full))
	if at := drive(c, good, time.Second); at[0] != full || at[len(at)-1] != full {
		t.Fatalf("one bad look moved it: %v", at)
	}
}

func TestChooserStepsUpAfterACleanStretch(t *testing.T) {
	c := newTestChooser(1)
	c.moved(quarter)
	at := drive(c, link{capacity: 10e6}, 40*time.Second)
	h, f := firstAt(at, half), firstAt(at, full)
	if h < 0 || f < 0 {
		t.Fatalf("never climbed: %v", at)
	}
	// One rung at a time, each after 0.5–1.5 × probeBase of clean time.
	lo, hi := int(probeBase/2/ladderLook), int(probeBase*3/2/ladderLook)+1
	if h+1 < lo || h+1 > hi || f-h < lo || f-h > hi {
		t.Fatalf("half after %d looks, full %d later; want each in %d–%d: %v", h+1, f-h, lo, hi, at)
	}
}

// TestChooserBacksOffFailedProbes: a link that carries half but not full;
// each probe to full fails, and the wait before the next doubles, up to
// probeMax.
func TestChooserBacksOffFailedProbes(t *testing.T) {
	c := newTestChooser(7)
	l := link{capacity: 850_000}
	at := drive(c, l, 10*time.Minute)
	var probes []int // looks at which full was tried again
	for i := 1; i < len(at); i++ {
		if at[i] == full && at[i-1] != full {
			probes = append(probes, i)
		}
	}
	if len(probes) < 3 {
		t.Fatalf("%d probes in 10 minutes: %v", len(probes), probes)
	}
	var gaps []time.Duration
	for i := 1; i < len(probes); i++ {
		gaps = append(gaps, time.Duration(probes[i]-probes[i-1])*ladderLook)
	}
	t.Logf("probes to full %d apart: %v", len(probes), gaps)
	if gaps[len(gaps)-1] < 4*probeBase/2 || slices.Max(gaps) > probeMax*3/2+downAfter+2*ladderLook {
		t.Fatalf("back-off between probes %v: want growing to tens of seconds, at most %v", gaps, probeMax*3/2)
	}
	// Never longer than downAfter (+ a look) at full: it steps down fast.
	run := 0
	for _, r := range at {
		if r == full {
			run++
			if time.Duration(run)*ladderLook > downAfter+ladderLook {
				t.Fatalf("stayed %d looks at full on a link that can't carry it", run)
			}
		} else {
			run = 0
		}
	}
	// Most of the time at half, the most the link carries.
	n := 0
	for _, r := range at {
		if r == half {
			n++
		}
	}
	if share := float64(n) / float64(len(at)); share < 0.9 {
		t.Fatalf("at half %.2f of the time", share)
	}
}

// TestChooserProbesSpreadOut: eight viewers that stepped down together
// probe up at different times, not in one herd.
func TestChooserProbesSpreadOut(t *testing.T) {
	var firsts []int
	for seed := range uint64(8) {
		c := newTestChooser(seed + 100)
		c.moved(quarter)
		at := drive(c, link{capacity: 10e6}, 20*time.Second)
		firsts = append(firsts, firstAt(at, half))
	}
	slices.Sort(firsts)
	distinct := slices.Compact(slices.Clone(firsts))
	if len(distinct) < 5 || firsts[len(firsts)-1]-firsts[0] < int(probeBase/2/ladderLook) {
		t.Fatalf("first probes at looks %v: want spread over seconds", firsts)
	}
}

// TestChooserAbandonsAProbeThatOverflows: a probe up onto a link it
// overflows, its pictures kept whole and at full rate by retransmission,
// is left at the first look, and counts as failed.
func TestChooserAbandonsAProbeThatOverflows(t *testing.T) {
	c := newTestChooser(11)
	c.moved(quarter)
	c.moved(half) // a probe
	if want := c.look(link{capacity: 10e6, repair: 0.12}.look(half)); want != quarter {
		t.Fatalf("after one look repairing 12%% of the packets: rung %d, want quarter", want)
	}
	c.moved(quarter)
	if c.fails[half] != 1 {
		t.Fatalf("failed probes to half %d, want 1", c.fails[half])
	}
	// Outside a probe, the same look is not clean: it counts no time
	// towards the next probe, and steps nothing down.
	for range 4 * probeBase / ladderLook {
		if want := c.look(link{capacity: 10e6, repair: 0.12}.look(quarter)); want != quarter {
			t.Fatalf("moved to %d on whole pictures at full rate", want)
		}
	}
}

// TestChooserClimbsThroughRandomLoss: Wi-Fi's usual 2 % random loss,
// repaired by retransmission, neither abandons a probe nor stops one.
func TestChooserClimbsThroughRandomLoss(t *testing.T) {
	c := newTestChooser(13)
	c.moved(quarter)
	at := drive(c, link{capacity: 10e6, repair: 0.02}, 40*time.Second)
	if f := firstAt(at, full); f < 0 || at[len(at)-1] != full {
		t.Fatalf("did not climb to full and stay there at 2%% repaired loss: %v", at)
	}
}

// TestChooserProbeHeldForgetsBackOff: a probe that holds probeHold clears
// its rung's back-off.
func TestChooserProbeHeldForgetsBackOff(t *testing.T) {
	c := newTestChooser(3)
	c.moved(half)
	c.fails[full] = 4
	c.moved(full) // a probe
	drive(c, link{capacity: 10e6}, probeHold+ladderLook)
	if c.cur != full || c.fails[full] != 0 || c.probing {
		t.Fatalf("at %d, fails %v, probing %v", c.cur, c.fails, c.probing)
	}
}

// TestChooserDarkCamera: a camera that sends 15 fps while it is set to
// 30 is not a bad link: once the session has measured the rate from the
// RTP times (a second in), a chooser that stepped down on the named rate
// climbs back.
func TestChooserDarkCamera(t *testing.T) {
	c := newTestChooser(5)
	var at []int
	for i := range int(2 * time.Minute / ladderLook) {
		if i == 2 {
			c.rate(15)
		}
		l := sample{Span: ladderLook, Frames: 15 / 2, Bytes: 15 / 2 * testBPF[c.cur], Payload: 15 / 2 * testBPF[c.cur]}
		if want := c.look(l); want != c.cur {
			c.moved(want)
		}
		at = append(at, c.cur)
	}
	if last := at[len(at)-20:]; slices.Max(last) != full {
		t.Fatalf("not back at full after two minutes: %v", at)
	}
}

// TestChooserThinnedForLong: a reader thinned to 20 fps for a minute at
// the lowest rung never takes that for the source's rate: it doesn't
// probe up.
func TestChooserThinnedForLong(t *testing.T) {
	c := newTestChooser(6)
	c.moved(quarter)
	for range int(time.Minute / ladderLook) {
		if want := c.look(sample{Span: ladderLook, Frames: 10, Bytes: 10 * testBPF[quarter], Payload: 10 * testBPF[quarter]}); want != c.cur {
			t.Fatalf("moved to %d", want)
		}
	}
}

func TestChooserFailedSwitchBacksOff(t *testing.T) {
	c := newTestChooser(9)
	c.moved(half)
	w0 := c.wait
	for range 5 {
		c.failed(full)
	}
	if c.cur != half || c.fails[full] != 5 || c.wait < 8*probeBase || c.wait <= w0 {
		t.Fatalf("after failed switches: at %d, fails %v, wait %v", c.cur, c.fails, c.wait)
	}
}

func TestParseRenditions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []netio.Rendition
	}{
		{"half=/live/half, quarter=/live/quarter", []netio.Rendition{{Name: "half", Path: "/live/half"}, {Name: "quarter", Path: "/live/quarter"}}},
		{"", nil},
		{"half=/live/half,half=/other", []netio.Rendition{{Name: "half", Path: "/live/half"}}},
		{"full=/live, Half=/x, half=live/half, q=/a b, r=/ok", []netio.Rendition{{Name: "r", Path: "/ok"}}},
		{"a=/1,b=/2,c=/3,d=/4,e=/5", []netio.Rendition{{Name: "a", Path: "/1"}, {Name: "b", Path: "/2"}, {Name: "c", Path: "/3"}, {Name: "d", Path: "/4"}}},
		{"x=/p?q=1", nil},
	} {
		if got := ParseRenditions(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseRenditions(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzParseRenditions(f *testing.F) {
	f.Add("half=/live/half, quarter=/live/quarter")
	f.Add("a=/1,,=,b=")
	f.Fuzz(func(t *testing.T, s string) {
		rs := ParseRenditions(s)
		if len(rs) > maxRenditions {
			t.Fatalf("%d renditions", len(rs))
		}
		st := Stream{Stream: netio.Stream{Renditions: rs}, URL: "rtsp://10.0.0.1:8554/live"}
		for i, r := range Rungs(st, ViaAuto)[1:] {
			if !renditionName(r.Name) || r.Name != rs[i].Name {
				t.Fatalf("rung %+v from %q", r, s)
			}
			if _, err := URLStream(r.URL); err != nil {
				t.Fatalf("rung URL %q from %q: %v", r.URL, s, err)
			}
		}
	})
}

func TestRungs(t *testing.T) {
	st := Stream{Stream: netio.Stream{Width: 1280, Height: 720, Renditions: []netio.Rendition{
		{Name: "half", Path: "/live/half", Width: 640, Height: 360}, {Name: "bad name", Path: "/x"}}},
		URL: "rtsp://user:pw@10.0.0.1:8554/live?token=1"}
	got := Rungs(st, ViaAuto)
	want := []Rung{{Name: "full", URL: st.URL, Width: 1280, Height: 720},
		{Name: "half", URL: "rtsp://user:pw@10.0.0.1:8554/live/half", Width: 640, Height: 360}}
	if !slices.Equal(got, want) {
		t.Fatalf("rungs %+v\nwant %+v", got, want)
	}
	if got := Rungs(st, ViaRelay); len(got) != 1 {
		t.Fatalf("through a relay: %+v", got)
	}
}

func TestQualityCycles(t *testing.T) {
	q, seen := QualityAuto, []Quality{}
	for range 5 {
		seen = append(seen, q)
		q = q.Next()
	}
	if !slices.Equal(seen, []Quality{"auto", "full", "half", "quarter", "auto"}) {
		t.Fatalf("cycle %v", seen)
	}
	if _, err := ParseQuality("best"); err == nil {
		t.Fatal("ParseQuality took best")
	}
	if q, err := ParseQuality("Half"); err != nil || q != netio.Half {
		t.Fatalf("ParseQuality(Half) = %q, %v", q, err)
	}
}
