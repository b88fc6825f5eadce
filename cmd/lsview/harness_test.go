package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// The harness builds the real lsview and lsbroadcast once per test run and
// drives them as a person would, on loopback or in network namespaces.

func TestMain(m *testing.M) { testenv.Main(m, nil) }

// binaries returns the paths of freshly built lsview and lsbroadcast.
func binaries(t testing.TB) (lsview, lsbroadcast string) {
	t.Helper()
	bins := testenv.Build(t, "cmd/lsview", "cmd/lsbroadcast")
	return bins[0], bins[1]
}

// headless runs lsview --headless with args and returns its stats.
func headless(t testing.TB, args ...string) (stats, *testenv.Proc) {
	t.Helper()
	bin, _ := binaries(t)
	p := testenv.Start(t, exec.Command(bin, append([]string{"--headless", "--log-level", "info"}, args...)...))
	if err := p.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("lsview %q: %v\n%s", args, err, p.Stderr.String())
	}
	var st stats
	if err := json.Unmarshal(bytes.TrimSpace([]byte(p.Stdout.String())), &st); err != nil {
		t.Fatalf("lsview printed no stats JSON: %v: %q", err, p.Stdout.String())
	}
	return st, p
}

func TestHeadlessAgainstLsbroadcast(t *testing.T) {
	b := testenv.StartBroadcaster(t, "640x360", 30, nil)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			st, _ := headless(t, "--frames", "60", "--transport", tr, b.URL())
			want := map[string]string{"udp": "UDP", "tcp": "TCP"}[tr]
			if st.Transport != want || st.Shown < 60 || st.Frames < st.Shown || st.Lost != 0 || st.BadJPEG != 0 {
				t.Fatalf("stats %+v", st)
			}
			if st.Latency.Source == "" || st.State != "playing" {
				t.Errorf("no latency measured or not playing: %+v", st)
			}
		})
	}
}

func TestBadTargets(t *testing.T) {
	bin, _ := binaries(t)
	h264 := testenv.H264Server(t)
	free := testenv.FreePort(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad flag", []string{"--headless", "--transport", "x"}, 2, "unknown transport"},
		{"unknown name, no discovery", []string{"--headless", "--mdns", "off", "no-such-camera.invalid"}, 1, "no-such-camera.invalid:4000 (port 4000)"},
		{"unreachable host", []string{"--headless", "127.0.0.1:" + strconv.Itoa(free)}, 1, "connection refused"},
		{"wrong port, named", []string{"--headless", "127.0.0.1:" + strconv.Itoa(free)}, 1, "127.0.0.1:" + strconv.Itoa(free) + " (port " + strconv.Itoa(free) + ")"},
		{"not JPEG", []string{"--headless", "rtsp://" + h264 + "/live"}, 1, "no RTP/JPEG"},
		{"window, unreachable", []string{"rtsp://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/live"}, 1, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tc.args...)
			cmd.Env = append(os.Environ(), "DISPLAY=:none") // the window must fail before it opens
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatal("lsview hung")
			}
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if code != tc.code || !strings.Contains(last, tc.msg) || !strings.HasPrefix(last, "lsview: ") {
				t.Fatalf("exit %d, last line %q; want exit %d and %q", code, last, tc.code, tc.msg)
			}
		})
	}
}

func TestReconnectAfterBroadcasterRestart(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 30, nil)
	bin, _ := binaries(t)
	view := testenv.Start(t, exec.Command(bin, "--headless", "--seconds", "9", "--transport", "tcp", "--log-level", "info", b.URL()))
	time.Sleep(2 * time.Second)
	b.Stop()
	time.Sleep(time.Second)
	testenv.StartBroadcaster(t, "320x240", 30, b)
	if err := view.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("lsview: %v", err)
	}
	var st stats
	if err := json.Unmarshal([]byte(view.Stdout.String()), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(view.Stderr.String(), "reconnecting") {
		t.Error("lsview did not say it was reconnecting")
	}
	// About 2 s before and 5 s after the restart at 30 fps.
	if st.State != "playing" || st.Frames < 150 {
		t.Fatalf("after the restart: %+v", st)
	}
}

// TestOneAddressIsEnough: given only the chat address of the real
// lsbroadcast, lsview learns the RTSP address from the welcome and joins
// the chat.
func TestOneAddressIsEnough(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 30, nil)
	st, _ := headless(t, "--seconds", "2", "--name", "probe", "127.0.0.1:"+strconv.Itoa(b.ChatPort))
	if st.URL != b.URL() || st.Shown == 0 || !strings.Contains(st.Chat, "as probe") {
		t.Fatalf("stats %+v: want video from %s and the chat joined", st, b.URL())
	}
}
