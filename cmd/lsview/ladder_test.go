package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/packaging/netlab"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// The ladder harness: the real lsbroadcast in namespace A (1280×720 30 fps
// test pattern, its default ladder of half and quarter) behind a 20 Mbit/s
// token bucket, eight lsview --headless in B over UDP, each choosing its
// rung; ffprobe plays every rendition meanwhile. One broadcaster for the
// whole harness; every wait is bounded. TestLadderEightViewers, the
// assertion, is in ladder_fair_test.go (its own stage of make test).

// Figures of the harness.
const (
	ladderViewers = 8
	ladderMbit    = 20
	// ladderQueueMS is the token bucket's queue: a Wi-Fi access point
	// buffers some tens of milliseconds.
	ladderQueueMS = 50
	// ladderSecs is how long each viewer plays: time to step down from
	// the full picture at the start, settle, and probe up a few times.
	ladderSecs = 20
	// ladderMinFPS and ladderMinFair are issue 14's bars: complete frames
	// a second for each viewer, and the slowest's share of the median.
	ladderMinFPS  = 10
	ladderMinFair = 0.8
)

// BenchmarkLadderEightViewers reports the harness's complete frames a
// second: the median, the slowest, and the slowest's share of the median
// (issue 14 asks for at least 10 and 0.8). Run it with -benchtime 1x.
func BenchmarkLadderEightViewers(b *testing.B) {
	var fps []float64
	for b.Loop() {
		fps = ladderEightViewers(b)
	}
	median, slowest := ladderSpread(fps)
	b.ReportMetric(median, "median-fps")
	b.ReportMetric(slowest, "slowest-fps")
	b.ReportMetric(slowest/median, "slowest/median")
}

// ladderSpread is the median and the slowest of the viewers' complete
// frames a second.
func ladderSpread(fps []float64) (median, slowest float64) {
	sorted := slices.Sorted(slices.Values(fps))
	return (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2, sorted[0]
}

// ladderEightViewers runs the harness once and returns each viewer's
// complete frames a second.
func ladderEightViewers(t testing.TB) []float64 {
	testenv.NeedTools(t, "ffprobe")
	net, url, _ := lossyLink(t, "--rtsp-max-per-address", "32")
	if err := net.SetRate(ladderMbit, ladderQueueMS); err != nil {
		t.Fatal(err)
	}
	// RTP/JPEG carries sides in multiples of 8: a quarter of 720 is 184.
	sizes := map[string]string{netio.Full: "1280,720", netio.Half: "640,360", netio.Quarter: "320,184"}
	paths := map[string]string{netio.Full: url, netio.Half: url + "/" + netio.Half, netio.Quarter: url + "/" + netio.Quarter}

	start := time.Now()
	var wg sync.WaitGroup
	results := make([]stats, ladderViewers)
	errs := make([]error, ladderViewers)
	for i := range ladderViewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = viewLadder(t, net, url)
		}()
	}
	// ffprobe plays each rendition twice while the viewers do: early,
	// while they settle, and late; one at a time, a few pictures each,
	// over TCP. The full picture (12 Mbit/s) doesn't fit beside the
	// viewers: the server drops its stale pictures whole (tcpstale.go in
	// netio/rtsp), so ffprobe gets fewer of them, but whole.
	for _, at := range []time.Duration{4 * time.Second, 12 * time.Second} {
		time.Sleep(time.Until(start.Add(at)))
		for _, name := range []string{netio.Quarter, netio.Half, netio.Full} {
			t0 := time.Now()
			got, err := probeRung(net, paths[name])
			t.Logf("ffprobe %s at %v: %q in %v", name, at, got, time.Since(t0).Round(10*time.Millisecond))
			if err != nil || !strings.HasPrefix(got, "mjpeg,"+sizes[name]+",") {
				t.Errorf("ffprobe %s at %v: %q, %v; want mjpeg,%s,N>0", name, at, got, err, sizes[name])
			}
		}
	}
	wg.Wait()

	fps := make([]float64, 0, ladderViewers)
	for i, st := range results {
		if errs[i] != nil {
			t.Fatalf("viewer %d: %v", i, errs[i])
		}
		f := float64(st.Frames) / st.Seconds
		fps = append(fps, f)
		t.Logf("viewer %d: %.1f complete fps, rung %s, %d switches, seconds by rung %s, lost %d, bad %d",
			i, f, st.Rung, st.Switches, rungSeconds(st.RungSeconds), st.Lost, st.BadJPEG)
		if st.BadJPEG != 0 || st.Transport != "UDP" {
			t.Errorf("viewer %d: %+v", i, st)
		}
		// It may probe the full picture again later, and hold it while the
		// others pay for it: that is the fairness the benchmark reports.
		if st.RungSeconds[netio.Half]+st.RungSeconds[netio.Quarter] == 0 {
			t.Errorf("viewer %d never left the full picture, which the link can't carry for 8", i)
		}
	}
	median, slowest := ladderSpread(fps)
	t.Logf("%d viewers at %d Mbit/s: complete fps median %.1f, slowest %.1f (%.2f of the median), fastest %.1f",
		ladderViewers, ladderMbit, median, slowest, slowest/median, slices.Max(fps))
	return fps
}

// viewLadder runs one lsview --headless in B on url for ladderSecs.
func viewLadder(t testing.TB, net *netlab.Pair, url string) (stats, error) {
	bin, _ := binaries(t)
	argv := net.InB(bin, "--headless", "--mdns", "off", "--transport", "udp", "--log-level", "info",
		"--seconds", strconv.Itoa(ladderSecs), url)
	p := testenv.Start(t, exec.Command(argv[0], argv[1:]...))
	select {
	case <-p.Done():
	case <-time.After((ladderSecs + 30) * time.Second):
		p.Stop()
		return stats{}, fmt.Errorf("lsview did not end: %s", p.Stderr.String())
	}
	if err := p.Err(); err != nil {
		return stats{}, fmt.Errorf("lsview: %w\n%s", err, p.Stderr.String())
	}
	var st stats
	if err := json.Unmarshal(bytes.TrimSpace([]byte(p.Stdout.String())), &st); err != nil {
		return stats{}, fmt.Errorf("no stats JSON: %w: %q", err, p.Stdout.String())
	}
	return st, nil
}

// probeRung has ffprobe in B read three pictures of url over TCP, within
// 8 s, and returns "codec,width,height,frames". It probes the stream from
// its first picture (-probesize 32 -analyzeduration 0: 0.3 s of the full
// picture on loopback instead of 0.9 s): a TCP reader of the full
// picture takes more than half the link while it reads, and for that
// long the viewers lose packets and are thinned.
func probeRung(net *netlab.Pair, url string) (string, error) {
	argv := net.InB("timeout", "8", "ffprobe", "-v", "error", "-probesize", "32", "-analyzeduration", "0",
		"-rtsp_transport", "tcp", "-select_streams", "v:0",
		"-read_intervals", "%+#3", "-count_frames", "-show_entries", "stream=codec_name,width,height,nb_read_frames",
		"-of", "csv=p=0", url)
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	got := strings.TrimSpace(string(out))
	if err == nil && strings.HasSuffix(got, ",0") {
		err = fmt.Errorf("no frame read")
	}
	return got, err
}

// rungSeconds prints a viewer's time by rung, largest rung first.
func rungSeconds(m map[string]float64) string {
	var b strings.Builder
	for _, n := range []string{netio.Full, netio.Half, netio.Quarter} {
		fmt.Fprintf(&b, "%s %.1f ", n, m[n])
	}
	return strings.TrimSpace(b.String())
}
