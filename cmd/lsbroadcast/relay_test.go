package main

// The relay against the real engine: MediaMTX (built by testenv at a pinned
// version) runs packaging/relay/mediamtx.yml on loopback; lsbroadcast
// publishes to it with --relay; ffprobe and lsview read from it.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

const relayFPS = 30

// relayState is the relay's part of the broadcaster's /state.
type relayState struct {
	URL       string `json:"url"`
	State     string `json:"state"`
	LastError string `json:"last_error"`
	Frames    uint64 `json:"frames"`
}

func getRelayState(t testing.TB, base string) relayState {
	t.Helper()
	resp, err := http.Get(base + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Relay *relayState }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("/state: %v", err)
	}
	if st.Relay == nil {
		t.Fatal("/state has no relay")
	}
	return *st.Relay
}

// waitRelayState waits at most d for /state to say want.
func waitRelayState(t testing.TB, base, want string, d time.Duration) relayState {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := getRelayState(t, base)
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay state %+v after %v, want %s", st, d, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startPublishing runs MediaMTX and an lsbroadcast publishing to it, and
// returns once the relay serves the stream.
func startPublishing(t testing.TB, extra ...string) (*testenv.Relay, *broadcaster) {
	t.Helper()
	relay := testenv.StartRelay(t, nil)
	args := append([]string{"--source", "pattern", "--size", "640x360", "--fps", strconv.Itoa(relayFPS),
		"--relay", relay.PublishURL(testenv.RelayUser, testenv.RelayPassword)}, extra...)
	b := startBroadcaster(t, "127.0.0.1", nil, args...)
	waitRelayState(t, b.HTTPBase, "publishing", 20*time.Second)
	return relay, b
}

// frameCounter plays url in the background until the test ends, counting
// frames and remembering the RTP timestamp of each picture.
type frameCounter struct {
	frames atomic.Int64
	mu     sync.Mutex
	byTime map[uint32][]byte
}

func countFrames(t testing.TB, url string, keep bool) *frameCounter {
	t.Helper()
	fc := &frameCounter{byTime: map[uint32][]byte{}}
	t.Cleanup(runClient(t, url,
		func(f rtsp.Frame) {
			fc.frames.Add(1)
			if keep {
				fc.mu.Lock()
				if len(fc.byTime) < 1000 {
					fc.byTime[f.RTPTime] = f.JPEG
				}
				fc.mu.Unlock()
			}
		}))
	return fc
}

// runClient plays url over TCP in the background and returns what stops
// it; it reconnects while it runs, as a player would.
func runClient(t testing.TB, url string, onFrame func(rtsp.Frame)) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			c := &rtsp.Client{URL: url, Transport: rtsp.TransportTCP, ReadTimeout: 5 * time.Second}
			c.Run(ctx, onFrame)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// TestRelayPublishesTheSameStream: what MediaMTX re-serves is the Pi's
// stream unchanged (same JPEG bytes under the same RTP timestamps), ffprobe
// reads it at full rate, and lsview --via relay plays it from the relay at
// full rate while it chats with the Pi.
func TestRelayPublishesTheSameStream(t *testing.T) {
	testenv.NeedTools(t, "ffprobe")
	relay, b := startPublishing(t)
	st := getRelayState(t, b.HTTPBase)
	if st.URL != relay.ReadURL() {
		t.Errorf("/state relay url %q, want %q", st.URL, relay.ReadURL())
	}
	if strings.Contains(b.Stderr.String(), testenv.RelayPassword) {
		t.Error("the log shows the relay password")
	}

	pi, viaRelay := countFrames(t, b.URL, true), countFrames(t, relay.ReadURL(), true)
	time.Sleep(2 * time.Second)
	pi.mu.Lock()
	viaRelay.mu.Lock()
	same, differ := 0, 0
	for ts, jpg := range viaRelay.byTime {
		if p, ok := pi.byTime[ts]; ok {
			if bytes.Equal(p, jpg) {
				same++
			} else {
				differ++
			}
		}
	}
	pi.mu.Unlock()
	viaRelay.mu.Unlock()
	if same < relayFPS || differ > 0 {
		t.Errorf("pictures with the same RTP time: %d identical, %d different; want %d+ identical, none different",
			same, differ, relayFPS)
	}

	// ffprobe reads 3 s of the relay's stream: full rate, our size.
	out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
		"-read_intervals", "%+3", "-count_frames", "-show_entries", "stream=codec_name,width,height,nb_read_frames",
		"-of", "csv=p=0", relay.ReadURL()).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", relay.ReadURL(), err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ",")
	if len(f) != 4 || f[0] != "mjpeg" || f[1] != "640" || f[2] != "360" {
		t.Fatalf("ffprobe: %q, want mjpeg,640,360,N", out)
	}
	if n, _ := strconv.Atoi(f[3]); n < 3*relayFPS*8/10 {
		t.Errorf("ffprobe read %d frames in 3 s from the relay, want about %d", n, 3*relayFPS)
	}

	lsview := testenv.Build(t, "cmd/lsview")[0]
	cmd := exec.Command(lsview, "--headless", "--seconds", "4", "--mdns", "off", "--via", "relay", "--name", "relayprobe", b.ChatAddr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("lsview --via relay: %v\n%s", err, stderr.String())
	}
	var vs struct {
		URL     string
		FPS     float64
		Chat    string
		Latency struct {
			Source   string
			P50, P99 float64
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal(out, &vs); err != nil {
		t.Fatalf("lsview output %q: %v", out, err)
	}
	if vs.URL != relay.ReadURL() || vs.FPS < relayFPS*0.8 || !strings.Contains(vs.Chat, b.ChatAddr+" as relayprobe") {
		t.Errorf("lsview --via relay: %s\nwant the relay's url, %d fps, the chat with the Pi", out, relayFPS)
	}
	// MediaMTX v1.12.3's sender reports carry the NTP fraction in
	// nanoseconds (gortsplib#869) and are off by up to 0.77 s; lsview
	// maps RTP time through the welcome's rtp_epoch_us instead, which
	// the relay keeps, so its latency holds through the relay.
	t.Logf("lsview via the relay: %.1f fps, latency p50 %.1f ms p99 %.1f ms (%s)",
		vs.FPS, vs.Latency.P50, vs.Latency.P99, vs.Latency.Source)
	if vs.Latency.Source != "rtp" || vs.Latency.P50 <= 0 || vs.Latency.P50 > 200 {
		t.Errorf("latency through the relay: p50 %.1f ms from %q; want a loopback figure (0–200 ms) from the RTP epoch", vs.Latency.P50, vs.Latency.Source)
	}
}

// TestRelayRestartResumesAndLocalReadersNeverStall kills MediaMTX and
// starts it again: the broadcaster publishes again by itself within
// seconds, and a reader of the Pi keeps its full rate through the outage.
func TestRelayRestartResumesAndLocalReadersNeverStall(t *testing.T) {
	relay, b := startPublishing(t)
	local := countFrames(t, b.URL, false)
	time.Sleep(time.Second)
	before := local.frames.Load()
	outage := time.Now()
	relay.Cmd.Process.Kill()
	<-relay.Done()
	waitRelayState(t, b.HTTPBase, "error", 10*time.Second)
	time.Sleep(2 * time.Second)
	relay = testenv.StartRelay(t, relay)
	waitRelayState(t, b.HTTPBase, "publishing", 15*time.Second)
	resumed := time.Since(outage)
	during := local.frames.Load() - before
	if want := int64(resumed.Seconds() * relayFPS * 0.8); during < want {
		t.Errorf("the local reader got %d frames in the %v the relay was away, want %d+", during, resumed.Round(time.Millisecond), want)
	}
	viaRelay := countFrames(t, relay.ReadURL(), false)
	deadline := time.Now().Add(5 * time.Second)
	for viaRelay.frames.Load() < relayFPS && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := viaRelay.frames.Load(); n < relayFPS {
		t.Errorf("the restarted relay served %d frames in 5 s", n)
	}
	// One line a change, not one a retry.
	if n := strings.Count(b.Stderr.String(), "relay: failed"); n > 4 {
		t.Errorf("%d failure lines for one outage:\n%s", n, b.Stderr.String())
	}
	t.Logf("publishing again %v after the kill (relay away for 2 s)", resumed.Round(time.Millisecond))
}

// TestRelayWrongCredentialsIsAClearError: a refused password is one clear
// line in the log and the state in /state; the broadcaster keeps serving
// and keeps retrying quietly, never crashes.
func TestRelayWrongCredentialsIsAClearError(t *testing.T) {
	relay := testenv.StartRelay(t, nil)
	const wrong = "not-the-password"
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "320x240", "--fps", "10",
		"--relay", relay.PublishURL(testenv.RelayUser, wrong))
	st := waitRelayState(t, b.HTTPBase, "error", 15*time.Second)
	if !strings.Contains(st.LastError, "401") {
		t.Errorf("/state relay error %q, want it to say 401 Unauthorized", st.LastError)
	}
	time.Sleep(6 * time.Second) // several retries
	select {
	case <-b.Done():
		t.Fatalf("lsbroadcast exited: %v\n%s", b.Err(), b.Stderr.String())
	default:
	}
	log := b.Stderr.String()
	if n := strings.Count(log, "relay: failed"); n != 1 || !strings.Contains(log, "401") {
		t.Errorf("want one failure line naming 401, got %d:\n%s", n, log)
	}
	if strings.Contains(log, wrong) {
		t.Error("the log shows the relay password")
	}
	if c := countFrames(t, b.URL, false); waitFrames(c, 5, 5*time.Second) < 5 {
		t.Error("the local stream does not play while the relay refuses")
	}
}

func waitFrames(c *frameCounter, n int64, d time.Duration) int64 {
	deadline := time.Now().Add(d)
	for c.frames.Load() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return c.frames.Load()
}
