package main

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, testenv.Children{viewerFarmEnv: viewerFarm}) }

// lsbroadcast is the command under test, built once, with its OpenCV
// helper beside it, where it looks for it.
func lsbroadcast(t testing.TB) string {
	t.Helper()
	return testenv.Build(t, "cmd/lsbroadcast", "cmd/lsbroadcast-cv")[0]
}

// broadcaster is a running lsbroadcast process.
type broadcaster struct {
	*testenv.Proc
	URL      string
	ChatAddr string
	HTTPBase string // http://HOST:PORT of the web viewer
	StateDir string
}

// startBroadcaster runs lsbroadcast on loopback with discovery off (or as
// prefix, e.g. ip netns exec, says) and waits until it serves. The process
// is stopped with SIGTERM when the test ends.
func startBroadcaster(t testing.TB, host string, prefix []string, args ...string) *broadcaster {
	t.Helper()
	rtspPort, rtpPort, chatPort, httpPort := 8554, 8000, 4000, 8080
	if host == "127.0.0.1" {
		var err error
		if rtpPort, err = testenv.FreeUDPRun(host, 2); err != nil {
			t.Fatal(err)
		}
		tcp := testenv.FreePorts(t, host, 3)
		rtspPort, chatPort, httpPort = tcp[0], tcp[1], tcp[2]
	}
	state := t.TempDir()
	full := append([]string{"--listen", host, "--mdns", "off", "--state-dir", state,
		"--rtsp-port", fmt.Sprint(rtspPort), "--rtp-port", fmt.Sprint(rtpPort), "--chat-port", fmt.Sprint(chatPort),
		"--http-port", fmt.Sprint(httpPort)}, args...)
	argv := append(append([]string{}, prefix...), lsbroadcast(t))
	argv = append(argv, full...)
	b := &broadcaster{Proc: testenv.Start(t, exec.Command(argv[0], argv[1:]...)),
		URL: fmt.Sprintf("rtsp://%s:%d/live", host, rtspPort), ChatAddr: fmt.Sprintf("%s:%d", host, chatPort),
		HTTPBase: fmt.Sprintf("http://%s:%d", host, httpPort), StateDir: state}
	b.WaitOutput(t, "msg=broadcasting", 20*time.Second)
	return b
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
