package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
)

// binary is the lsbroadcast under test, built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lsbroadcast-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "lsbroadcast")
	// The OpenCV helper goes beside lsbroadcast, where it looks for it.
	if out, err := exec.Command("go", "build", "-o", dir+"/", ".", "../lsbroadcast-cv").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build lsbroadcast: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// need fails the test under CI when a tool is missing, and skips it
// elsewhere.
func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable(t, "%s not installed (make deps installs it)", tool)
		}
	}
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "needs root for network namespaces")
	}
}

func unavailable(t testing.TB, format string, a ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run under CI: "+format, a...)
	}
	t.Skipf(format, a...)
}

// freePorts finds an even UDP port p with p+1 free (for RTP/RTCP) and a
// free TCP port for RTSP, on host.
func freePorts(t testing.TB, host string) (rtspPort, rtpPort int) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	rtspPort = l.Addr().(*net.TCPAddr).Port
	l.Close()
	for range 100 {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port &^ 1
		c.Close()
		a, errA := net.ListenPacket("udp", fmt.Sprintf("%s:%d", host, p))
		b, errB := net.ListenPacket("udp", fmt.Sprintf("%s:%d", host, p+1))
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
		if errA == nil && errB == nil && p != rtspPort && p+1 != rtspPort {
			return rtspPort, p
		}
	}
	t.Fatal("no free RTP port pair")
	return 0, 0
}

// broadcaster is a running lsbroadcast process.
type broadcaster struct {
	cmd      *exec.Cmd
	URL      string
	ChatAddr string
	HTTPBase string // http://HOST:PORT of the web viewer
	StateDir string
	mu       sync.Mutex
	log      strings.Builder
	exited   chan struct{}
	err      error
}

// Log returns what the process logged so far.
func (b *broadcaster) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.log.String()
}

// startBroadcaster runs lsbroadcast on loopback with discovery off (or as
// prefix, e.g. ip netns exec, says) and waits until it serves. The process
// is stopped with SIGTERM when the test ends.
func startBroadcaster(t testing.TB, host string, prefix []string, args ...string) *broadcaster {
	t.Helper()
	rtspPort, rtpPort, chatPort, httpPort := 8554, 8000, 4000, 8080
	if host == "127.0.0.1" {
		rtspPort, rtpPort = freePorts(t, host)
		chatPort, _ = freePorts(t, host)
		httpPort, _ = freePorts(t, host)
	}
	state := t.TempDir()
	full := append([]string{"--listen", host, "--mdns", "off", "--state-dir", state,
		"--rtsp-port", fmt.Sprint(rtspPort), "--rtp-port", fmt.Sprint(rtpPort), "--chat-port", fmt.Sprint(chatPort),
		"--http-port", fmt.Sprint(httpPort)}, args...)
	argv := append(append([]string{}, prefix...), binary)
	argv = append(argv, full...)
	b := &broadcaster{cmd: exec.Command(argv[0], argv[1:]...), exited: make(chan struct{}),
		URL: fmt.Sprintf("rtsp://%s:%d/live", host, rtspPort), ChatAddr: fmt.Sprintf("%s:%d", host, chatPort),
		HTTPBase: fmt.Sprintf("http://%s:%d", host, httpPort), StateDir: state}
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			b.mu.Lock()
			b.log.WriteString(sc.Text() + "\n")
			b.mu.Unlock()
			if strings.Contains(sc.Text(), "msg=broadcasting") {
				once.Do(func() { close(ready) })
			}
		}
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(5 * time.Second):
			b.cmd.Process.Kill()
			<-b.exited
		}
		if t.Failed() {
			t.Logf("lsbroadcast log:\n%s", b.Log())
		}
	})
	select {
	case <-ready:
	case <-b.exited:
		t.Fatalf("lsbroadcast exited before serving: %v\n%s", b.err, b.Log())
	case <-time.After(20 * time.Second):
		t.Fatalf("lsbroadcast not serving after 20 s\n%s", b.Log())
	}
	return b
}

// readFrames runs a decoder command that writes greyscale frames of w×h to
// its standard output, and returns n of them.
func readFrames(t testing.TB, argv []string, w, h, n int) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	frames := make([][]byte, 0, n)
	for len(frames) < n {
		f := make([]byte, w*h)
		if _, err := io.ReadFull(out, f); err != nil {
			t.Fatalf("%s: after %d frames: %v\n%s", argv[0], len(frames), err, stderr.String())
		}
		frames = append(frames, f)
	}
	return frames
}

func ffmpegGray(url, transport string, n int) []string {
	return []string{"ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", transport, "-i", url,
		"-frames:v", fmt.Sprint(n), "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"}
}

func gstGray(url, protocols string) []string {
	return []string{"gst-launch-1.0", "-q", "rtspsrc", "location=" + url, "protocols=" + protocols, "latency=0", "!",
		"rtpjpegdepay", "!", "jpegdec", "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1"}
}

// checkCounter asserts that every frame shows the pattern's strip and that
// the frame counter strictly advances.
func checkCounter(t testing.TB, frames [][]byte, w, h int) {
	t.Helper()
	var prev uint32
	for i, f := range frames {
		seq, _, ok := pattern.Read(f, w, h)
		if !ok {
			t.Fatalf("frame %d of %d: no test pattern strip", i, len(frames))
		}
		if i > 0 && seq <= prev {
			t.Fatalf("frame %d: counter %d after %d, want it to advance", i, seq, prev)
		}
		prev = seq
	}
	first, _, _ := pattern.Read(frames[0], w, h)
	t.Logf("%d frames, counter %d → %d", len(frames), first, prev)
}
