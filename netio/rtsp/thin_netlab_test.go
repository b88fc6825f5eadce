package rtsp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/netlab"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// The thinning harness: this test binary as the server in namespace A
// (1280×720 pictures at 30 fps, the size of lsbroadcast's), one reader
// beside it in A (over A's loopback: a clean link) and one in B behind a
// `tc tbf` rate limit on A's side of the veth (a viewer's slow Wi-Fi),
// both with lsview's client (NACKs on), each a child process.
const (
	thinServerEnv = "LSB_RTSP_THIN_SERVER" // "HOST thin|full [WxH]": serve until stdin closes, then print Stats
	thinReaderEnv = "LSB_RTSP_THIN_READER" // "URL SECONDS [MS]": print complete frames each second (or MS)
)

// thinServer serves 1280×720 (or WxH) at 30 fps on HOST:DefaultPort,
// thinning or not, prints "ready", and when standard input closes prints
// its Stats as JSON.
func thinServer(spec string) int {
	f := strings.Fields(spec)
	host, mode := f[0], f[1]
	w, h := 1280, 720
	if len(f) > 2 {
		if _, err := fmt.Sscanf(f[2], "%dx%d", &w, &h); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	s := &Server{Host: host, NoThinning: mode != "thin",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if err := s.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	jpg, err := makeJPEG(w, h)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	stdinClosed := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	fmt.Println("ready", len(jpg))
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for deadline := time.After(5 * time.Minute); ; {
		select {
		case <-stdinClosed:
		case <-deadline:
		case <-tick.C:
			s.WriteJPEG(jpg, time.Now())
			continue
		}
		break
	}
	st := s.Stats()
	cancel()
	<-served
	json.NewEncoder(os.Stdout).Encode(st)
	return 0
}

// thinReader plays URL over UDP for SECONDS and prints its complete
// frames so far once a second (or every MS milliseconds), one number a
// line.
func thinReader(spec string) int {
	f := strings.Fields(spec)
	n, _ := strconv.Atoi(f[1])
	period := time.Second
	if len(f) > 2 {
		ms, _ := strconv.Atoi(f[2])
		period = time.Duration(ms) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*time.Second)
	defer cancel()
	c := &Client{URL: f[0], Transport: TransportUDP, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				fmt.Println(c.Stats().Frames)
			}
		}
	}()
	if err := c.Run(ctx, func(Frame) {}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// inNS is the child role env=value of this test binary run by ip netns
// exec (argv's prefix).
func inNS(prefix []string, env, value string) *exec.Cmd {
	child := testenv.Child(env, value)
	argv := append(prefix, child.Args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = child.Env
	return cmd
}

// childServer is the thinServerEnv role of this test binary in net's
// namespace A, started and ready: closing stdin has it print its Stats on
// out and end; stop kills it whatever it does.
type childServer struct {
	stdin io.WriteCloser
	out   *bufio.Scanner
	log   *testenv.SyncBuffer
	ready string // what its ready line says after "ready"
	cmd   *exec.Cmd
}

// startChildServer starts the server with args after its address and waits
// for its ready line.
func startChildServer(t testing.TB, net *netlab.Pair, args string) *childServer {
	t.Helper()
	s := &childServer{cmd: inNS(net.InA(), thinServerEnv, net.IPA+" "+args), log: &testenv.SyncBuffer{}}
	s.stdin, _ = s.cmd.StdinPipe()
	stdout, _ := s.cmd.StdoutPipe()
	s.cmd.Stderr = s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.out = bufio.NewScanner(stdout)
	if !s.out.Scan() || !strings.HasPrefix(s.out.Text(), "ready") {
		s.stop()
		t.Fatalf("server: %s", s.log.String())
	}
	s.ready = strings.TrimSpace(strings.TrimPrefix(s.out.Text(), "ready"))
	return s
}

func (s *childServer) stop() {
	s.stdin.Close()
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// thinRun is one run of the harness: the server (thinning or not) and
// the two readers for secs, with the rate limit lifted after limited
// seconds (never if limited >= secs). It returns each reader's complete
// frames by second and the server's Stats.
func thinRun(t testing.TB, net *netlab.Pair, thin bool, secs, limited int, mbit float64) (clean, slow []int, st Stats) {
	counts, st := thinReaders(t, net, [][]string{net.InA(), net.InB()}, thin, secs, limited, mbit)
	return counts[0], counts[1], st
}

// thinReaders is thinRun with readers in the namespaces of the prefixes.
func thinReaders(t testing.TB, net *netlab.Pair, prefixes [][]string, thin bool, secs, limited int, mbit float64) (counts [][]int, st Stats) {
	t.Helper()
	mode := "full"
	if thin {
		mode = "thin"
	}
	srv := startChildServer(t, net, mode)
	defer srv.stop()
	t.Logf("server %s: picture of %s bytes", mode, srv.ready)
	if err := net.SetRate(mbit, 100); err != nil {
		t.Fatal(err)
	}
	defer net.SetRate(0, 0)
	url := fmt.Sprintf("rtsp://%s:%d%s %d", net.IPA, DefaultPort, DefaultPath, secs)
	counts = make([][]int, len(prefixes))
	done := make(chan error, len(prefixes))
	for i, prefix := range prefixes {
		rd := inNS(prefix, thinReaderEnv, url)
		out, _ := rd.StdoutPipe()
		var errb testenv.SyncBuffer
		rd.Stderr = &errb
		if err := rd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			rs := bufio.NewScanner(out)
			for rs.Scan() {
				v, _ := strconv.Atoi(rs.Text())
				counts[i] = append(counts[i], v)
			}
			err := rd.Wait()
			if err != nil {
				err = fmt.Errorf("reader %d: %w: %s", i, err, errb.String())
			}
			done <- err
		}()
	}
	if limited < secs {
		time.Sleep(time.Duration(limited) * time.Second)
		if err := net.SetRate(0, 0); err != nil {
			t.Fatal(err)
		}
	}
	for range prefixes {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	srv.stdin.Close()
	if !srv.out.Scan() || json.Unmarshal(srv.out.Bytes(), &st) != nil {
		t.Fatalf("server printed no stats: %s", srv.log.String())
	}
	if thin && !strings.Contains(srv.log.String(), "reader thinned: fewer frames") {
		t.Errorf("no line about thinning in the server's log:\n%s", srv.log.String())
	}
	return counts, st
}

// between is the frames a second from second a to second b of a reader's
// counts (counts[i] is the total after i+1 seconds).
func between(counts []int, a, b int) float64 {
	if b > len(counts) || a < 1 || b <= a {
		return 0
	}
	return float64(counts[b-1]-counts[a-1]) / float64(b-a)
}

// TestThinningOnASlowLink: the reader behind a link that carries a third
// of the stream gets more complete frames thinned than sent everything,
// the reader on a clean link keeps the full rate either way, and once the
// link is fast again the slow reader steps back up to the full rate.
func TestThinningOnASlowLink(t *testing.T) {
	net := testenv.NetPair(t)
	const mbit = 10
	_, full, _ := thinRun(t, net, false, 12, 12, mbit)
	clean, slow, st := thinRun(t, net, true, 24, 12, mbit)
	t.Logf("slow link, everything sent: %.1f complete frames/s (seconds 5–12: %v)", between(full, 5, 12), full)
	t.Logf("slow link, thinned: %.1f complete frames/s (seconds 5–12); after the link recovered: %.1f/s (%v)",
		between(slow, 5, 12), between(slow, 20, 23), slow)
	t.Logf("clean link beside it: %.1f/s; server: %+v", between(clean, 3, 23), st)
	if between(slow, 5, 12) <= 1.5*between(full, 5, 12) || between(slow, 5, 12) < 2 {
		t.Errorf("thinning gave the slow reader %.1f frames/s, sending everything %.1f",
			between(slow, 5, 12), between(full, 5, 12))
	}
	if between(clean, 3, 23) < 28 {
		t.Errorf("the clean reader got %.1f frames/s beside a thinned one", between(clean, 3, 23))
	}
	if between(slow, 20, 23) < 27 {
		t.Errorf("the slow reader did not step back up: %.1f frames/s 8 s after its link recovered", between(slow, 20, 23))
	}
	if st.Thinned == 0 {
		t.Errorf("nothing thinned: %+v", st)
	}
}

// BenchmarkThinShares: two readers behind one link that carries a third of
// the stream, thinned: each one's complete frames a second (seconds 6–19)
// and the smaller over the larger. A share step is an eighth of the
// stream, 4.2 Mbit/s here, so two readers at the floor fill most of the
// link and every step up overflows it: the shares stay close to the floor
// and uneven from second to second; the ladder's smaller renditions are
// the answer for links this small.
func BenchmarkThinShares(b *testing.B) {
	net := testenv.NetPair(b)
	var lo, hi float64
	for b.Loop() {
		counts, _ := thinReaders(b, net, [][]string{net.InB(), net.InB()}, true, 20, 20, 10)
		r0, r1 := between(counts[0], 6, 19), between(counts[1], 6, 19)
		lo, hi = lo+min(r0, r1), hi+max(r0, r1)
	}
	n := float64(b.N)
	b.ReportMetric(lo/n, "slower-complete-fps")
	b.ReportMetric(hi/n, "faster-complete-fps")
	b.ReportMetric(lo/hi, "slower/faster")
}

// BenchmarkThinSteps: how long the slow reader of the harness takes to
// get complete frames again once its link drops to 10 Mbit/s (a third of
// the stream) and to get the full 30 frames a second again once the link
// is back, in seconds, read from its complete frames every 100 ms; and
// the server's first step down after the drop.
func BenchmarkThinSteps(b *testing.B) {
	net := testenv.NetPair(b)
	var down, firstStep, up float64
	for b.Loop() {
		d, s, u := stepTimes(b, net)
		down, firstStep, up = down+d, firstStep+s, up+u
	}
	n := float64(b.N)
	b.ReportMetric(firstStep/n, "first-step-down-s")
	b.ReportMetric(down/n, "complete-again-s")
	b.ReportMetric(up/n, "full-rate-again-s")
}

// stepTimes is one run of BenchmarkThinSteps.
func stepTimes(b *testing.B, net *netlab.Pair) (down, firstStep, up float64) {
	srv := startChildServer(b, net, "thin")
	defer srv.stop()
	const tick, secs = 100 * time.Millisecond, 30
	rd := inNS(net.InB(), thinReaderEnv, fmt.Sprintf("rtsp://%s:%d%s %d %d", net.IPA, DefaultPort, DefaultPath, secs, tick.Milliseconds()))
	out, _ := rd.StdoutPipe()
	if err := rd.Start(); err != nil {
		b.Fatal(err)
	}
	var at []time.Time
	var counts []int
	read := make(chan struct{})
	go func() {
		defer close(read)
		for rs := bufio.NewScanner(out); rs.Scan(); {
			v, _ := strconv.Atoi(rs.Text())
			at, counts = append(at, time.Now()), append(counts, v)
		}
	}()
	time.Sleep(4 * time.Second)
	limited := time.Now()
	if err := net.SetRate(10, 100); err != nil {
		b.Fatal(err)
	}
	time.Sleep(12 * time.Second)
	freed := time.Now()
	if err := net.SetRate(0, 0); err != nil {
		b.Fatal(err)
	}
	<-read
	rd.Wait()
	// The first 100 ms after the drop with a complete frame, and the first
	// second after the link is back with 27 frames or more.
	down, up = -1, -1
	for i := 1; i < len(counts); i++ {
		switch {
		case down < 0 && at[i-1].After(limited.Add(time.Second)) && at[i].Before(freed) && counts[i] > counts[i-1]:
			down = at[i].Sub(limited).Seconds()
		case up < 0 && at[i].After(freed) && i >= 10 && at[i-10].After(freed) && counts[i]-counts[i-10] >= 27:
			up = at[i].Sub(freed).Seconds()
		}
	}
	for _, l := range strings.Split(srv.log.String(), "\n") {
		if !strings.Contains(l, "fewer frames") {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(l, "time="), " ")
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && t.After(limited) {
			firstStep = t.Sub(limited).Seconds()
			break
		}
	}
	if down < 0 || up < 0 {
		b.Fatalf("no complete frames after the drop (%v) or no full rate after the link came back (%v): %v", down, up, counts)
	}
	return down, firstStep, up
}
