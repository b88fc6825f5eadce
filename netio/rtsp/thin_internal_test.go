package rtsp

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// window feeds t one window of offered packets of which nacked were asked
// for again, and returns the step it took.
func window(t *thinState, now time.Time, packets *uint64, offered, nacked uint64) int {
	*packets += offered
	t.nacked.Add(nacked)
	step, _ := t.look(now, *packets, 0, 0)
	return step
}

// TestThinPolicy: loss over 5 % cuts the share by an eighth, and loss
// that goes on to what got through, an eighth at least and half at most,
// down to an eighth; a clean link adds
// an eighth a window back up to the share held before the loss, and an
// eighth a second above it.
func TestThinPolicy(t *testing.T) {
	var th thinState
	var packets uint64
	now := time.Unix(1000, 0)
	th.look(now, 0, 0, 0)
	var shares []int
	for range 5 {
		now = now.Add(thinWindow)
		window(&th, now, &packets, 1000, 100)
		shares = append(shares, th.share())
	}
	if want := []int{7, 6, 5, 4, 3}; !equal(shares, want) {
		t.Fatalf("shares under 10 %% loss %v, want %v", shares, want)
	}
	// Most lost: halved, not lower.
	now = now.Add(thinWindow)
	window(&th, now, &packets, 1000, 900)
	if th.share() != 1 {
		t.Fatalf("share %d/8 after 90 %% loss at 3/8, want 1/8", th.share())
	}
	// 2 % loss is retransmission's to recover, not thinning's: back to
	// the 8/8 held before the loss, an eighth a window.
	start := now
	for th.share() < thinSteps && now.Sub(start) < time.Minute {
		now = now.Add(thinWindow)
		window(&th, now, &packets, 1000, 20)
	}
	if up := now.Sub(start); th.share() != thinSteps || up != 7*thinWindow {
		t.Fatalf("back to %d/8 in %v, want 8/8 in %v", th.share(), up, 7*thinWindow)
	}
	// Loss at 4/8 after the climb: the episode's first window takes an
	// eighth, however much it lost (a shared queue that overflowed once
	// drops some readers' bursts whole and others' not at all); back to
	// 4/8 fast, slowly above it.
	th.cut = thinSteps - 4
	now = now.Add(thinWindow)
	window(&th, now, &packets, 1000, 500)
	if th.share() != 3 {
		t.Fatalf("share %d/8 after a first window losing half at 4/8, want 3/8", th.share())
	}
	start = now
	for th.share() < thinSteps && now.Sub(start) < time.Minute {
		now = now.Add(thinWindow)
		window(&th, now, &packets, 1000, 0)
	}
	if up, want := now.Sub(start), thinWindow+4*thinCleanFor; up != want {
		t.Fatalf("2/8 to 8/8 in %v, want %v", up, want)
	}
	// Retries: one of 16 is a late resend; half of 12, a path losing
	// the resends too.
	now = now.Add(thinWindow)
	th.retried.Add(1)
	if step := window(&th, now, &packets, 1000, 16); step != 0 {
		t.Fatalf("stepped on 1 retry of 16 requests")
	}
	now = now.Add(thinWindow)
	th.retried.Add(6)
	if step := window(&th, now, &packets, 1000, 12); step != -1 {
		t.Fatalf("no step on 6 retries of 12 requests")
	}
	for th.share() < thinSteps {
		now = now.Add(thinWindow)
		window(&th, now, &packets, 1000, 0)
	}
	// A window with too few packets waits for more, up to thinWindowMax.
	now = now.Add(thinWindow)
	if step := window(&th, now, &packets, 5, 5); step != 0 {
		t.Fatalf("stepped on 5 packets")
	}
	now = now.Add(thinWindowMax)
	if step := window(&th, now, &packets, 5, 0); step != -1 {
		t.Fatalf("no step on 5 of 10 packets lost over %v", thinWindowMax)
	}
}

// TestThinSmallWindowsClimb: a reader at the floor share of a small
// rendition sends fewer packets a window than a loss rate needs, but a
// window that lost none is clean: it climbs back on the clock, an eighth
// every half second below the mean, as a reader of a large one does.
func TestThinSmallWindowsClimb(t *testing.T) {
	var th thinState
	var packets uint64
	now := time.Unix(1000, 0)
	th.look(now, 0, 0, 0)
	th.cut, th.held = thinSteps-1, 1
	start := now
	for th.share() < 4 && now.Sub(start) < 10*time.Second {
		now = now.Add(thinWindow)
		packets += 10
		th.look(now, packets, 0, 4)
	}
	if up, want := now.Sub(start), 3*thinWindow; th.share() != 4 || up != want {
		t.Fatalf("1/8 to %d/8 in %v on windows of 10 clean packets, want 4/8 in %v", th.share(), up, want)
	}
}

// TestThinGroupMean: behind one queue, a lossy reader whose share is
// below the mean of its fan-out's thinned readers is not cut (the readers
// above the mean give way) unless its loss is severe; at or above the
// mean it is cut as before.
func TestThinGroupMean(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		group  float64
		nacked uint64 // of 1000
		want   int    // the share after the window, from 4/8
	}{
		{0, 100, 3},   // no thinned readers to compare with: cut
		{6, 100, 4},   // below the mean at 10 %: spared
		{6, 300, 3},   // below the mean at 30 % (severe): cut
		{4, 100, 3},   // at the mean: cut
		{3.5, 100, 3}, // above the mean: cut
	} {
		var th thinState
		var packets uint64
		th.look(now, 0, 0, 0)
		th.cut = thinSteps - 4
		packets += 1000
		th.nacked.Add(tc.nacked)
		th.look(now.Add(thinWindow), packets, 0, tc.group)
		if th.share() != tc.want {
			t.Errorf("share 4/8, group mean %.1f, loss %d/1000: %d/8 after the window, want %d/8",
				tc.group, tc.nacked, th.share(), tc.want)
		}
	}
}

// TestThinClimbToMean: a reader below the mean of the fan-out's thinned
// readers climbs as fast as one below the share it held, also when a
// second episode of loss caught it low and it holds that low share now.
func TestThinClimbToMean(t *testing.T) {
	th := thinState{cut: thinSteps - 2, held: 2}
	if got := th.cleanFor(5); got != thinCleanFor/2 {
		t.Errorf("2/8 beside a mean of 5/8: a step every %v, want %v", got, thinCleanFor/2)
	}
	if got := th.cleanFor(2); got != thinCleanFor {
		t.Errorf("2/8, its own mean: a step every %v, want %v", got, thinCleanFor)
	}
}

// TestThinJoinsAtTheMean: a reader new to a fan-out whose readers are
// mostly thinned starts at their rounded mean share and climbs back at
// the fast pace; among readers mostly whole, or with fewer than two
// thinned, it starts whole.
func TestThinJoinsAtTheMean(t *testing.T) {
	for _, tc := range []struct {
		shares []int // the readers already here
		want   int
	}{
		{[]int{3, 4, 4, 8}, 4},
		{[]int{2, 3, 8, 8}, 3},
		{[]int{1, 8, 8, 8}, 8},
		{[]int{2, 2, 8, 8, 8}, 8},
		{nil, 8},
	} {
		readers := []*udpReader{{}} // the new one: no epoch yet
		for _, s := range tc.shares {
			r := &udpReader{}
			r.thin.epoch = time.Unix(1000, 0)
			r.thin.cut = thinSteps - s
			readers = append(readers, r)
		}
		var th thinState
		if got := th.join(groupOf(readers).joinShare()); got != (tc.want < thinSteps) {
			t.Errorf("joining readers at %v: join says %v", tc.shares, got)
		}
		if th.share() != tc.want {
			t.Errorf("joining readers at %v: %d/8, want %d/8", tc.shares, th.share(), tc.want)
		}
		if tc.want < thinSteps && th.cleanFor(0) != thinCleanFor/2 {
			t.Errorf("joining readers at %v: climbs a step every %v, want %v", tc.shares, th.cleanFor(0), thinCleanFor/2)
		}
	}
}

// TestThinSharedClock: readers that joined at different times judge the
// same windows of the fan-out's clock, so one overflow of the queue they
// share cuts them alike, and they climb back alike; each on a window of
// its own, one saw the overflow go on into a second window and was cut
// once more.
func TestThinSharedClock(t *testing.T) {
	epoch := time.Unix(1000, 0)
	const frame = 33 * time.Millisecond
	readers := make([]*thinState, 4)
	packets := make([]uint64, len(readers))
	shares := make([][]int, len(readers))
	for i := range readers {
		readers[i] = &thinState{epoch: epoch}
	}
	for now := epoch; now.Before(epoch.Add(6 * time.Second)); now = now.Add(frame) {
		overflow := !now.Before(epoch.Add(1100*time.Millisecond)) && now.Before(epoch.Add(1900*time.Millisecond))
		for i, th := range readers {
			if now.Before(epoch.Add(time.Duration(i) * 110 * time.Millisecond)) {
				continue // not joined yet
			}
			packets[i] += 40
			if overflow {
				th.nacked.Add(20)
			}
			th.look(now, packets[i], 0, 0)
			shares[i] = append(shares[i], th.share())
		}
	}
	for i := range readers {
		got := shares[i][len(shares[i])-len(shares[len(readers)-1]):] // since the last joined
		if !equal(got, shares[len(readers)-1]) {
			t.Errorf("reader %d's shares %v,\nthe last to join %v", i, got, shares[len(readers)-1])
		}
	}
	if low := slices.Min(shares[0]); low == thinSteps {
		t.Fatalf("no reader was cut by the overflow: %v", shares[0])
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestThinTake: a share of k eighths takes k frames of every 8, spread.
func TestThinTake(t *testing.T) {
	for k := 1; k <= thinSteps; k++ {
		th := thinState{cut: thinSteps - k}
		taken, gap, maxGap := 0, 0, 0
		for range 8 * thinSteps {
			if th.take() {
				taken++
				gap = 0
			} else if gap++; gap > maxGap {
				maxGap = gap
			}
		}
		if taken != 8*k || maxGap > thinSteps/k {
			t.Errorf("share %d/8: took %d of 64, longest run skipped %d", k, taken, maxGap)
		}
	}
}

// TestThinReport: a receiver report is believed only if the share did
// not change in the time it covers.
func TestThinReport(t *testing.T) {
	var th thinState
	now := time.Unix(1000, 0)
	th.look(now, 0, 0, 0)
	rr := &rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 1, FractionLost: 64}}} // 25 %
	th.noteReport(rr, now.Add(100*time.Millisecond))
	now = now.Add(thinWindow)
	if step, loss := th.look(now, thinMinPackets, 0, 0); step != -1 || loss != 0.25 {
		t.Fatalf("25 %% reported: step %d, loss %v", step, loss)
	}
	// Covers the change: the previous report came before it. (The clean
	// window climbs back an eighth: below the share held before.)
	th.noteReport(rr, now.Add(100*time.Millisecond))
	now = now.Add(thinWindow)
	if step, _ := th.look(now, 2*thinMinPackets, 0, 0); step == -1 {
		t.Fatalf("a report spanning the change made a step down")
	}
	th.noteReport(rr, now.Add(50*time.Millisecond))
	th.noteReport(rr, now.Add(100*time.Millisecond))
	now = now.Add(thinWindow)
	if step, _ := th.look(now, 3*thinMinPackets, 0, 0); step != -1 {
		t.Fatalf("a report after the change made no step")
	}
}

// loopFanout is a fan-out sending from a loopback socket, not running:
// the test calls send.
func loopFanout(t testing.TB) *fanout {
	t.Helper()
	lc := listenConfig(true)
	pc, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn := pc.(*net.UDPConn)
	rtcpConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newFanout(conn, rtcpConn, 1)
	t.Cleanup(func() { f.close(); conn.Close(); rtcpConn.Close() })
	return f
}

// sink is a reader's socket on loopback.
func sink(t testing.TB) (*net.UDPConn, *udpReader) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	a := c.LocalAddr().(*net.UDPAddr)
	return c, &udpReader{rtp: a, rtcp: a}
}

// drain reads what arrived at c.
func drain(c *net.UDPConn) [][]byte {
	var got [][]byte
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			return got
		}
		got = append(got, buf[:n])
	}
}

// TestThinnedSequenceSpace: a reader sent half the frames numbers their
// packets on without a gap, with the stream's payloads; its numbers map
// back to the stream's for NACKs; a reader beside it gets every packet
// with the stream's numbers.
func TestThinnedSequenceSpace(t *testing.T) {
	f := loopFanout(t)
	fullC, full := sink(t)
	halfC, half := sink(t)
	f.add(full)
	f.add(half)
	now := time.Now()
	half.thin.look(now, 0, 0, 0) // windows start: no verdict within the test
	half.thin.cut = thinSteps / 2
	src := map[uint16][]byte{} // the stream's packets by number
	const frames = 10
	seq := uint16(65530)
	for i := range frames {
		fr := putJPEG(t, f, testJPEG(t, 160+16*i, 120+8*i), seq, now) // frames of different lengths
		for j := range fr.ends {
			src[seq] = append([]byte(nil), fr.packet(j)...)
			seq++
		}
		f.send(&f.ring[f.written%historyFrames], f.written)
	}
	got := drain(fullC)
	if len(got) != len(src) {
		t.Fatalf("full reader got %d packets of %d", len(got), len(src))
	}
	for _, p := range got {
		if !bytes.Equal(p, src[binary.BigEndian.Uint16(p[2:4])]) {
			t.Fatalf("full reader: packet %d differs from the stream's", binary.BigEndian.Uint16(p[2:4]))
		}
	}
	got = drain(halfC)
	wholes := 0
	for i, p := range got {
		seq := binary.BigEndian.Uint16(p[2:4])
		if i > 0 && seq != binary.BigEndian.Uint16(got[i-1][2:4])+1 {
			t.Fatalf("half reader: gap before %d", seq)
		}
		s, ok := half.thin.source(seq)
		want := src[s]
		if !ok || len(want) != len(p) || !bytes.Equal(p[:2], want[:2]) || !bytes.Equal(p[4:], want[4:]) {
			t.Fatalf("half reader's %d maps to the stream's %d (%v), another packet", seq, s, ok)
		}
		if p[1]&0x80 != 0 {
			wholes++
		}
	}
	if wholes != frames/2 || half.thinned.Load() != frames/2 || f.thinned.Load() != frames/2 {
		t.Fatalf("half reader: %d frames, %d thinned (fan-out: %d), want %d each", wholes,
			half.thinned.Load(), f.thinned.Load(), frames/2)
	}
	if _, ok := half.thin.source(binary.BigEndian.Uint16(got[len(got)-1][2:4]) + 1); ok {
		t.Fatal("a number past the last sent maps to a packet")
	}
}

// TestThinnedPlayersDecode: while two readers are thinned down to an
// eighth and back up (their NACK counts say they lose much, then nothing),
// lsview's gortsplib client among them sees no gap in its sequence
// numbers and no frame lost, ffmpeg decodes what it gets without a
// warning, and the reader beside them gets every frame.
func TestThinnedPlayersDecode(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	s := startServer(t)
	jpg := testJPEG(t, 320, 240)
	var written atomic.Int64
	stopWrite := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for range 30 * 60 { // bounded: a minute
			select {
			case <-stopWrite:
				return
			case <-tick.C:
			}
			if s.WriteJPEG(jpg, time.Now()) == nil {
				written.Add(1)
			}
		}
	}()
	defer func() { close(stopWrite); <-wrote }()
	waitReaders := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); s.main.fan.count() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d readers, want %d", s.main.fan.count(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ff := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "warning", "-rtsp_transport", "udp",
		"-i", s.URL("127.0.0.1"), "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	var ffErr strings.Builder
	ff.Stderr = &ffErr
	ffOut, _ := ff.StdoutPipe()
	if err := ff.Start(); err != nil {
		t.Fatal(err)
	}
	var ffBytes atomic.Int64
	ffDone := make(chan struct{})
	go func() { defer close(ffDone); n, _ := io.Copy(io.Discard, ffOut); ffBytes.Store(n) }()
	defer cancel()
	waitReaders(1)

	clients := make([]*Client, 2)
	runs := make(chan error, len(clients))
	for i := range clients {
		clients[i] = &Client{URL: s.URL("127.0.0.1"), Transport: TransportUDP, Logger: s.Logger}
		go func() { runs <- clients[i].Run(ctx, func(Frame) {}) }()
		waitReaders(2 + i)
	}
	readers := *s.main.fan.readers.Load()
	thinned, beside := readers[:2], readers[2] // ffmpeg and the first client; the second
	w0 := written.Load()

	// Two seconds of "loss": each of them asks for more than it is sent.
	for range 20 {
		for _, r := range thinned {
			r.thin.nacked.Add(1000)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Back up takes 7 s from an eighth: wait for a second in which
	// neither was thinned, 30 s at most (a loaded machine's readers
	// lose packets of their own, and may step down again on the way).
	time.Sleep(7 * time.Second)
	for deadline := time.Now().Add(30 * time.Second); ; {
		last := thinned[0].thinned.Load() + thinned[1].thinned.Load()
		time.Sleep(time.Second)
		if thinned[0].thinned.Load()+thinned[1].thinned.Load() == last {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("still thinned 40 s after the loss ended")
			break
		}
	}
	thin, full := clients[0].Stats(), clients[1].Stats()
	sent := written.Load() - w0
	st := s.Stats()
	cancel()
	for range clients {
		<-runs
	}
	<-ffDone
	ff.Wait()
	t.Logf("written %d since the readers started; thinned client %+v; full client %d frames; ffmpeg %d frames; server thinned %d",
		sent, thin, full.Frames, ffBytes.Load()/(320*240), st.Thinned)
	if thin.LostPackets != 0 || thin.LostFrames != 0 {
		t.Errorf("the thinned client saw gaps: %+v", thin)
	}
	if thin.Frames == 0 || float64(thin.Frames) > 0.85*float64(full.Frames) {
		t.Errorf("thinned client %d frames, full one %d", thin.Frames, full.Frames)
	}
	if full.LostFrames != 0 || full.LostPackets != 0 || int64(full.Frames)+3 < sent || beside.thinned.Load() != 0 {
		t.Errorf("the reader beside: %+v of %d frames, thinned %d", full, sent, beside.thinned.Load())
	}
	if thinned[0].thinned.Load() == 0 || st.Thinned != thinned[0].thinned.Load()+thinned[1].thinned.Load() {
		t.Errorf("ffmpeg's reader thinned %d, server's count %d", thinned[0].thinned.Load(), st.Thinned)
	}
	// What would say ffmpeg saw loss or a broken picture: rtpdec's
	// "RTP: missed N packets", the JPEG decoder's complaints. (It also
	// warns of yuvj pixel formats, and of two frames whose capture times
	// round to one tick of the output's 1/30 s time base.)
	broken := false
	for _, l := range strings.Split(strings.ToLower(ffErr.String()), "\n") {
		broken = broken || strings.Contains(l, "missed") || strings.Contains(l, "jpeg") ||
			strings.Contains(l, "corrupt") || strings.Contains(l, "error")
	}
	if ffBytes.Load() < 320*240*30 || broken {
		t.Errorf("ffmpeg decoded %d frames; said:\n%s", ffBytes.Load()/(320*240), ffErr.String())
	}
}
