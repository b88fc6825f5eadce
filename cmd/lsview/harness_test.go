package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"github.com/lsbroadcast/lsbroadcast/netio/mdns/mdnstest"
)

// The harness builds the real lsview and lsbroadcast once per test run and
// drives them as a person would, on loopback or in network namespaces.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries returns the paths of freshly built lsview and lsbroadcast.
func binaries(t testing.TB) (lsview, lsbroadcast string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "lsview-test-bin-")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"github.com/lsbroadcast/lsbroadcast/cmd/lsview", "github.com/lsbroadcast/lsbroadcast/cmd/lsbroadcast"} {
			out, err := exec.Command("go", "build", "-o", binDir+"/", pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v: %s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "lsview"), filepath.Join(binDir, "lsbroadcast")
}

// need fails under CI and skips elsewhere when a tool is missing.
func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("needs %s (make deps installs it)", tool)
			}
			t.Skipf("needs %s", tool)
		}
	}
}

// proc is a child process the test owns; it is stopped when the test ends.
type proc struct {
	cmd    *exec.Cmd
	stdout mdnstest.SyncBuffer
	stderr mdnstest.SyncBuffer
	done   chan struct{}
	err    error
}

func start(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(cmd.Args[0]), p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM, then kills after 5 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits at most d for the process to exit.
func (p *proc) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s still running after %v", p.cmd.Args, d)
	}
}

// broadcaster is a running lsbroadcast on loopback.
type broadcaster struct {
	*proc
	rtspPort, rtpPort, chatPort int
	stateDir                    string
}

func (b *broadcaster) url() string { return "rtsp://127.0.0.1:" + strconv.Itoa(b.rtspPort) + "/live" }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startBroadcaster runs lsbroadcast's test pattern on loopback with
// discovery off; b's ports are reused when it is given (a restart).
func startBroadcaster(t testing.TB, size string, fps int, b *broadcaster) *broadcaster {
	t.Helper()
	_, bin := binaries(t)
	if b == nil {
		b = &broadcaster{rtspPort: freePort(t), rtpPort: 20000 + 2*rand.IntN(10000), chatPort: freePort(t), stateDir: t.TempDir()}
	}
	cmd := exec.Command(bin, "--source", "pattern", "--size", size, "--fps", strconv.Itoa(fps),
		"--listen", "127.0.0.1", "--mdns", "off", "--rtsp-port", strconv.Itoa(b.rtspPort),
		"--rtp-port", strconv.Itoa(b.rtpPort), "--chat-port", strconv.Itoa(b.chatPort), "--state-dir", b.stateDir)
	nb := &broadcaster{proc: start(t, cmd), rtspPort: b.rtspPort, rtpPort: b.rtpPort, chatPort: b.chatPort, stateDir: b.stateDir}
	waitPort(t, nb.rtspPort, 10*time.Second)
	return nb
}

func waitPort(t testing.TB, port int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d after %v", port, d)
}

// headless runs lsview --headless with args and returns its stats.
func headless(t testing.TB, args ...string) (stats, *proc) {
	t.Helper()
	bin, _ := binaries(t)
	p := start(t, exec.Command(bin, append([]string{"--headless", "--log-level", "info"}, args...)...))
	p.wait(t, 60*time.Second)
	if p.err != nil {
		t.Fatalf("lsview %q: %v\n%s", args, p.err, p.stderr.String())
	}
	var st stats
	if err := json.Unmarshal(bytes.TrimSpace([]byte(p.stdout.String())), &st); err != nil {
		t.Fatalf("lsview printed no stats JSON: %v: %q", err, p.stdout.String())
	}
	return st, p
}

func TestHeadlessAgainstLsbroadcast(t *testing.T) {
	b := startBroadcaster(t, "640x360", 30, nil)
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			st, _ := headless(t, "--frames", "60", "--transport", tr, b.url())
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
	h264 := startH264(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad flag", []string{"--headless", "--transport", "x"}, 2, "unknown transport"},
		{"unknown name, no discovery", []string{"--headless", "--mdns", "off", "no-such-camera.invalid"}, 1, "no video from rtsp://no-such-camera.invalid:8554/live"},
		{"unreachable host", []string{"--headless", "127.0.0.1:" + strconv.Itoa(freePort(t))}, 1, "connection refused"},
		{"not JPEG", []string{"--headless", "rtsp://" + h264 + "/live"}, 1, "no RTP/JPEG"},
		{"window, unreachable", []string{"rtsp://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/live"}, 1, "connection refused"},
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
	b := startBroadcaster(t, "320x240", 30, nil)
	bin, _ := binaries(t)
	view := start(t, exec.Command(bin, "--headless", "--seconds", "9", "--transport", "tcp", "--log-level", "info", b.url()))
	time.Sleep(2 * time.Second)
	b.stop()
	time.Sleep(time.Second)
	startBroadcaster(t, "320x240", 30, b)
	view.wait(t, 30*time.Second)
	if view.err != nil {
		t.Fatalf("lsview: %v", view.err)
	}
	var st stats
	if err := json.Unmarshal([]byte(view.stdout.String()), &st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(view.stderr.String(), "reconnecting") {
		t.Error("lsview did not say it was reconnecting")
	}
	// About 2 s before and 5 s after the restart at 30 fps.
	if st.State != "playing" || st.Frames < 150 {
		t.Fatalf("after the restart: %+v", st)
	}
}

// h264Handler serves a stream of a codec lsview doesn't show.
type h264Handler struct{ stream *gortsplib.ServerStream }

func (h *h264Handler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, h.stream, nil
}

func startH264(t *testing.T) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	h := &h264Handler{}
	srv := &gortsplib.Server{Handler: h, RTSPAddress: addr}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	h.stream = &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{{
		Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 96, PacketizationMode: 1}},
	}}}}
	if err := h.stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stream.Close)
	return addr
}

// TestOneAddressIsEnough: given only the chat address of the real
// lsbroadcast, lsview learns the RTSP address from the welcome and joins
// the chat.
func TestOneAddressIsEnough(t *testing.T) {
	b := startBroadcaster(t, "320x240", 30, nil)
	waitPort(t, b.chatPort, 10*time.Second)
	st, _ := headless(t, "--seconds", "2", "--name", "probe", "127.0.0.1:"+strconv.Itoa(b.chatPort))
	if st.URL != b.url() || st.Shown == 0 || !strings.Contains(st.Chat, "as probe") {
		t.Fatalf("stats %+v: want video from %s and the chat joined", st, b.url())
	}
}
