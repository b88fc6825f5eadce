package main

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// BenchmarkRelayPiCost runs lsbroadcast on the 1280×720 30 fps test
// pattern with N RTSP readers over TCP (in a farm process), either on the
// Pi directly or on MediaMTX (packaging/relay/mediamtx.yml) that the Pi
// publishes to, and reports the Pi's CPU per frame and its uplink (bytes
// it wrote, on loopback all TCP) per second. With a relay the Pi's cost
// should not grow with N.
func BenchmarkRelayPiCost(b *testing.B) {
	for _, n := range []int{1, 16, 64} {
		for _, via := range []string{"pi", "relay"} {
			b.Run(fmt.Sprintf("readers=%d/via=%s", n, via), func(b *testing.B) { benchRelayPiCost(b, via, n) })
		}
	}
}

func benchRelayPiCost(b *testing.B, via string, n int) {
	args := []string{"--source", "pattern", "--size", "1280x720", "--fps", "30", "--rtsp-max-per-address", "64"}
	var relay *testenv.Relay
	if via == "relay" {
		relay = testenv.StartRelay(b, nil)
		args = append(args, "--relay", relay.PublishURL(testenv.RelayUser, testenv.RelayPassword))
	}
	bc := startBroadcaster(b, "127.0.0.1", nil, args...)
	url := bc.URL
	if relay != nil {
		waitRelayState(b, bc.HTTPBase, "publishing", 20*time.Second)
		url = relay.ReadURL()
	}
	mark := startViewerFarm(b, "rtsp-tcp", n, url)
	time.Sleep(time.Second) // every reader past its first frames
	pid := bc.Cmd.Process.Pid
	frames0, got0 := state(b, bc.HTTPBase).Frames, mark()
	cpu0 := testenv.TreeCPUTime(pid)
	wrote0, err := testenv.Written(pid)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		time.Sleep(100 * time.Millisecond)
	}
	secs := time.Since(start).Seconds()
	cpu1 := testenv.TreeCPUTime(pid)
	wrote1, err := testenv.Written(pid)
	if err != nil {
		b.Fatal(err)
	}
	frames := state(b, bc.HTTPBase).Frames - frames0
	if frames == 0 {
		b.Fatal("no frames captured in the window")
	}
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(frames), "cpu-ms/frame")
	b.ReportMetric(float64(wrote1-wrote0)/secs/1e6, "uplink-MB/s")
	b.ReportMetric(float64(mark()-got0)/float64(int64(frames)*int64(n)), "delivered")
}

// BenchmarkRelayAddedLatency reads the same stream from the Pi and from
// MediaMTX at once, over TCP, and reports how much later each picture
// arrives through the relay (matched by RTP timestamp, which the relay
// keeps), p50 and p99. It does not trust RTCP through MediaMTX v1.12.3,
// whose sender reports carry a wrong NTP fraction (gortsplib#869).
func BenchmarkRelayAddedLatency(b *testing.B) {
	relay, bc := startPublishing(b)
	var mu sync.Mutex
	atPi := map[uint32]time.Time{}
	var added []time.Duration
	stop := runClient(b, bc.URL, func(f rtsp.Frame) {
		mu.Lock()
		if len(atPi) > 1000 { // pictures the relay never delivered
			clear(atPi)
		}
		atPi[f.RTPTime] = f.Received
		mu.Unlock()
	})
	defer stop()
	stopRelay := runClient(b, relay.ReadURL(), func(f rtsp.Frame) {
		mu.Lock()
		if t, ok := atPi[f.RTPTime]; ok {
			added = append(added, f.Received.Sub(t))
			delete(atPi, f.RTPTime)
		}
		mu.Unlock()
	})
	defer stopRelay()
	time.Sleep(time.Second)
	mu.Lock()
	added = added[:0]
	mu.Unlock()
	for b.Loop() {
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	d := slices.Clone(added)
	mu.Unlock()
	if len(d) < 10 {
		b.Fatalf("%d pictures seen both ways", len(d))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "added-p50-ms")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds())/1000, "added-p99-ms")
	b.ReportMetric(float64(len(d)), "pictures")
}
