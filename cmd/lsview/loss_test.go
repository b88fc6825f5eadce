package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/netlab"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// The loss harness: the real lsbroadcast in namespace A (1280×720 30 fps
// test pattern), the real lsview --headless over UDP in B, whose side
// drops UDP at random (packaging/netlab).

// lossyLink starts lsbroadcast in A of a fresh namespace pair, with extra
// flags.
func lossyLink(t testing.TB, extra ...string) (*netlab.Pair, string, *testenv.Proc) {
	t.Helper()
	_, bcast := binaries(t)
	net := testenv.NetPair(t)
	argv := net.InA(append([]string{bcast, "--source", "pattern", "--size", "1280x720", "--fps", "30",
		"--listen", net.IPA, "--mdns", "off", "--http-port", "off", "--state-dir", t.TempDir()}, extra...)...)
	b := testenv.Start(t, exec.Command(argv[0], argv[1:]...))
	b.WaitOutput(t, "msg=broadcasting", 20*time.Second)
	return net, fmt.Sprintf("rtsp://%s:%d%s", net.IPA, rtsp.DefaultPort, rtsp.DefaultPath), b
}

// viewLossy runs lsview --headless in B for secs over UDP and returns its
// stats and the CPU it used, in cores.
func viewLossy(t testing.TB, net *netlab.Pair, url string, secs int, extra ...string) (stats, float64) {
	t.Helper()
	bin, _ := binaries(t)
	args := append([]string{bin, "--headless", "--mdns", "off", "--transport", "udp", "--seconds", strconv.Itoa(secs)}, extra...)
	argv := net.InB(append(args, url)...)
	t0 := time.Now()
	p := testenv.Start(t, exec.Command(argv[0], argv[1:]...))
	if err := p.Wait(t, time.Duration(secs+30)*time.Second); err != nil {
		t.Fatalf("lsview: %v\n%s", err, p.Stderr.String())
	}
	var st stats
	if err := json.Unmarshal(bytes.TrimSpace([]byte(p.Stdout.String())), &st); err != nil {
		t.Fatalf("lsview printed no stats JSON: %v: %q", err, p.Stdout.String())
	}
	ps := p.Cmd.ProcessState
	return st, (ps.UserTime() + ps.SystemTime()).Seconds() / time.Since(t0).Seconds()
}

// TestLossRecovered: at 0 % and 2 % random loss lsview receives at least
// 95 % of the frames complete at full size, asking for what is lost.
func TestLossRecovered(t *testing.T) {
	net, url, _ := lossyLink(t)
	const secs = 8
	for _, pct := range []float64{0, 2} {
		t.Run(fmt.Sprintf("%g%%", pct), func(t *testing.T) {
			if err := net.SetLoss(pct); err != nil {
				t.Fatal(err)
			}
			st, _ := viewLossy(t, net, url, secs)
			t.Logf("%g%% loss: %d frames (%.1f/s), %d lost, complete %.3f, NACKs %d, recovered %d, NACK rtt %.2f ms, latency p50 %.1f p99 %.1f ms (%s)",
				pct, st.Frames, float64(st.Frames)/st.Seconds, st.Lost, st.Complete, st.NACKs, st.Recovered, st.NACKRTTMS,
				st.Latency.P50, st.Latency.P99, st.Latency.Source)
			// Of the frames that came and of the frames sent (30 a
			// second since the first), whole, at full size: the
			// broadcaster offers its ladder, and recovered losses are
			// no reason to step down it.
			sent := 30 * st.Seconds
			if st.Rung != netio.Full || st.Switches != 0 || st.Transport != "UDP" || st.Complete < 0.95 || float64(st.Frames) < 0.95*sent-2 || st.BadJPEG != 0 {
				t.Fatalf("at %g%% loss: %+v", pct, st)
			}
			if pct > 0 && st.Recovered == 0 {
				t.Errorf("nothing recovered at %g%% loss: %+v", pct, st)
			}
		})
	}
}

// BenchmarkLoss: complete frames a second, and the share of frames
// complete, at 0–5 % random loss with lsview asking for lost packets and
// without (--nack=false), and the CPU of lsview and of lsbroadcast (which
// keeps the history and answers the NACKs), in cores.
func BenchmarkLoss(b *testing.B) {
	net, url, bcast := lossyLink(b)
	const secs = 8
	for _, pct := range []float64{0, 1, 2, 5} {
		for _, nack := range []bool{true, false} {
			b.Run(fmt.Sprintf("loss=%g%%/nack=%v", pct, nack), func(b *testing.B) {
				if err := net.SetLoss(pct); err != nil {
					b.Fatal(err)
				}
				var fps, complete, p99, cores, sendCores float64
				for b.Loop() {
					cpu0, t0 := testenv.TreeCPUTime(bcast.Cmd.Process.Pid), time.Now()
					st, c := viewLossy(b, net, url, secs, "--nack="+strconv.FormatBool(nack))
					sendCores += (testenv.TreeCPUTime(bcast.Cmd.Process.Pid) - cpu0).Seconds() / time.Since(t0).Seconds()
					cores += c
					fps += float64(st.Frames) / st.Seconds
					complete += st.Complete
					p99 += st.Latency.P99
				}
				n := float64(b.N)
				b.ReportMetric(fps/n, "complete-fps")
				b.ReportMetric(complete/n, "complete-share")
				b.ReportMetric(p99/n, "latency-p99-ms")
				b.ReportMetric(cores/n, "lsview-cores")
				b.ReportMetric(sendCores/n, "lsbroadcast-cores")
			})
		}
	}
}
