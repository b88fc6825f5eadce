package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/lsbroadcast/lsbroadcast/device"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const minFrames = 60

func TestPatternPlaysInFFmpeg(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "640x480", "--fps", "30")
			frames := testenv.ReadFrames(t, ffmpegGray(b.URL, transport, minFrames), 640, 480, minFrames)
			checkCounter(t, frames, 640, 480)
			if want := "transport=" + strings.ToUpper(transport); !strings.Contains(b.Stderr.String(), want) {
				t.Errorf("log does not show a reader with %s", want)
			}
		})
	}
}

func TestPatternPlaysInGStreamer(t *testing.T) {
	testenv.NeedTools(t, "gst-launch-1.0")
	for _, protocols := range []string{"udp", "tcp"} {
		t.Run(protocols, func(t *testing.T) {
			b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "320x240", "--fps", "30")
			frames := testenv.ReadFrames(t, gstGray(b.URL, protocols), 320, 240, minFrames)
			checkCounter(t, frames, 320, 240)
		})
	}
}

func TestFullHD(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "1920x1080", "--fps", "30")
	frames := testenv.ReadFrames(t, ffmpegGray(b.URL, "udp", minFrames), 1920, 1080, minFrames)
	checkCounter(t, frames, 1920, 1080)
}

// TestMulticast plays the stream over UDP multicast between two network
// namespaces joined by a veth pair: a "pi" and a "laptop".
func TestMulticast(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	net := testenv.NetPair(t)
	b := startBroadcaster(t, net.IPA, net.InA(), "--source", "pattern", "--size", "320x240")
	frames := testenv.ReadFrames(t, net.InB(ffmpegGray(b.URL, "udp_multicast", minFrames)...), 320, 240, minFrames)
	checkCounter(t, frames, 320, 240)
	if !strings.Contains(b.Stderr.String(), "transport=UDP-multicast") {
		t.Errorf("the reader did not use multicast:\n%s", b.Stderr.String())
	}
}

func TestGoCVFile(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "ffprobe")
	// RTP/JPEG carries sizes in units of 8; the OpenCV source scales a
	// file's 320×180 to 320×176.
	for _, tc := range []struct{ size, sent string }{{"320x240", "320x240"}, {"320x180", "320x176"}} {
		t.Run(tc.size, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "clip.avi")
			// Two seconds of testsrc, whose counter and sweep change every
			// frame, so a looping file must still show motion.
			if out, err := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
				"testsrc=size="+tc.size+":rate=25", "-t", "2", "-c:v", "mjpeg", "-q:v", "3", file).CombinedOutput(); err != nil {
				t.Fatalf("make clip: %v\n%s", err, out)
			}
			b := startBroadcaster(t, "127.0.0.1", nil, "--source", "gocv:"+file)
			out, err := exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
				"-show_entries", "stream=width,height", "-of", "csv=s=x:p=0", b.URL).CombinedOutput()
			if got := strings.TrimSpace(string(out)); err != nil || got != tc.sent {
				t.Fatalf("ffprobe: %q (%v), want %s\n%s", got, err, tc.sent, b.Stderr.String())
			}
			var w, h int
			fmt.Sscanf(tc.sent, "%dx%d", &w, &h)
			frames := testenv.ReadFrames(t, ffmpegGray(b.URL, "tcp", minFrames), w, h, minFrames)
			checkMotion(t, frames)
			if !strings.Contains(b.Stderr.String(), "clip.avi") {
				t.Errorf("log does not name the file")
			}
			if strings.Contains(b.Stderr.String(), "frame not sent") {
				t.Errorf("frames were dropped:\n%s", b.Stderr.String())
			}
		})
	}
}

func TestGoCVGStreamerPipeline(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "gst-launch-1.0")
	pipeline := "videotestsrc pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! video/x-raw,format=BGR ! appsink"
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "gocv:gst:"+pipeline)
	frames := testenv.ReadFrames(t, ffmpegGray(b.URL, "tcp", minFrames), 320, 240, minFrames)
	checkMotion(t, frames)
}

// checkMotion asserts that consecutive frames are not all the same.
func checkMotion(t *testing.T, frames [][]byte) {
	t.Helper()
	changes := 0
	for i := 1; i < len(frames); i++ {
		if !bytes.Equal(frames[i], frames[i-1]) {
			changes++
		}
	}
	if changes < len(frames)/2 {
		t.Fatalf("only %d of %d frames differ from the previous one", changes, len(frames)-1)
	}
}

func TestBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := fmt.Sprint(busy.Addr().(*net.TCPAddr).Port)
	freeTCP := fmt.Sprint(testenv.FreePortOn(t, "127.0.0.1"))
	rtp, err := testenv.FreeUDPRun("127.0.0.1", 2)
	if err != nil {
		t.Fatal(err)
	}
	freeUDP := fmt.Sprint(rtp)
	notVideo := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notVideo, []byte("not a video"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown source", []string{"--source", "webcam"}, `invalid source "webcam"`},
		{"device that can't be opened", []string{"--source", "v4l2:/dev/video99"}, "/dev/video99"},
		{"missing file", []string{"--source", "gocv:/nonexistent/clip.mp4"}, "no such file"},
		{"path that is not a video device", []string{"--source", "v4l2:/etc/hostname"}, "not a video capture device"},
		{"node that can't capture", []string{"--source", "v4l2:/dev/null"}, "not a video capture device"},
		{"file that is not a video", []string{"--source", "gocv:" + notVideo}, "cannot open"},
		{"file source that is not MJPEG", []string{"--source", "file:" + notVideo}, "neither an MJPEG stream"},
		{"file source missing", []string{"--source", "file:/nonexistent/clip.mjpeg"}, "no such file"},
		{"port in use", []string{"--source", "pattern", "--rtsp-port", busyPort}, "address already in use"},
		{"chat port in use", []string{"--source", "pattern", "--rtsp-port", freeTCP, "--rtp-port", freeUDP, "--chat-port", busyPort}, "chat server"},
		{"size without height", []string{"--size", "640x"}, "invalid size"},
		{"size not a multiple of 8", []string{"--size", "1366x768"}, "multiples of 8"},
		{"size too large", []string{"--size", "4096x2160"}, "invalid size"},
		{"rate zero", []string{"--fps", "0"}, "invalid fps 0"},
		{"rate too high", []string{"--fps", "1000"}, "invalid fps 1000"},
		{"rate not a number", []string{"--fps", "fast"}, "invalid value"},
		{"quality zero", []string{"--quality", "0"}, "invalid quality 0"},
		{"quality too high", []string{"--quality", "101"}, "invalid quality 101"},
		{"unknown flag", []string{"--colour", "red"}, "flag provided but not defined"},
		{"stray argument", []string{"pattern"}, "unexpected argument"},
		{"listen not an IP", []string{"--listen", "my-pi"}, "invalid listen address"},
		{"missing config", []string{"--config", "/nonexistent.conf"}, "config"},
		{"mdns interface that does not exist", []string{"--source", "pattern", "--mdns", "nosuch0"}, "nosuch0"},
		{"mdns value malformed", []string{"--mdns", "eth0,,"}, "mdns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--state-dir", t.TempDir(), "--mdns", "off", "--listen", "127.0.0.1"}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, lsbroadcast(t), args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			if code != 2 {
				t.Fatalf("exit status %d (%v), want 2; stderr:\n%s", code, err, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want one:\n%s", len(lines), stderr.String())
			}
			if !strings.Contains(lines[0], tc.want) || !strings.HasPrefix(lines[0], "lsbroadcast: ") {
				t.Fatalf("stderr %q, want a line naming %q", lines[0], tc.want)
			}
		})
	}
}

func TestUnknownPathIs404(t *testing.T) {
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "320x240")
	host := strings.TrimPrefix(strings.TrimSuffix(b.URL, "/live"), "rtsp://")
	for _, path := range []string{"/nope", "/live/extra", "/"} {
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "DESCRIBE rtsp://%s%s RTSP/1.0\r\nCSeq: 1\r\n\r\n", host, path)
		status, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(status, "RTSP/1.0 404") {
			t.Errorf("DESCRIBE %s: %q, want 404", path, strings.TrimSpace(status))
		}
	}
}

func TestConfigFile(t *testing.T) {
	testenv.NeedTools(t, "ffprobe")
	conf := filepath.Join(t.TempDir(), "lsbroadcast.conf")
	os.WriteFile(conf, []byte("# test\nsource = pattern\nsize = 320x240\nfps = 15\nquality = 150\n"), 0o644)
	// The command line overrides the file's bad quality.
	b := startBroadcaster(t, "127.0.0.1", nil, "--config", conf, "--quality", "70")
	out, err := exec.Command("ffprobe", "-loglevel", "error", "-rtsp_transport", "tcp", "-select_streams", "v",
		"-show_entries", "stream=width,height", "-of", "csv=p=0", b.URL).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "320,240" {
		t.Fatalf("ffprobe size %q, want 320,240 from the config file", got)
	}
}

func TestSignalsStopWithinASecond(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "640x480")
			sent := time.Now()
			b.Cmd.Process.Signal(sig)
			select {
			case <-b.Done():
			case <-time.After(time.Second):
				t.Fatalf("still running 1 s after %v", sig)
			}
			if b.Err() != nil {
				t.Fatalf("exit after %v: %v", sig, b.Err())
			}
			t.Logf("stopped %v after %v", time.Since(sent).Round(time.Millisecond), sig)
		})
	}
}

// TestSourceLossShowsSlate uses a GStreamer pipeline that ends after 45
// frames, as a camera does when unplugged: the stream must stay up, show the
// NO SIGNAL slate, and carry real frames again once the source reopens.
func TestSourceLossShowsSlate(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg", "gst-launch-1.0")
	pipeline := "videotestsrc pattern=ball num-buffers=45 ! video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! video/x-raw,format=BGR ! appsink"
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "gocv:gst:"+pipeline)
	frames := testenv.ReadFrames(t, ffmpegGray(b.URL, "tcp", 100), 320, 240, 100)
	// The ball's background is black; the slate's is grey.
	isSlate := func(f []byte) bool { v := f[120*320+4]; return v > 30 && v < 70 }
	phase, phases := "", []string{}
	for _, f := range frames {
		p := "camera"
		if isSlate(f) {
			p = "slate"
		}
		if p != phase {
			phases = append(phases, p)
			phase = p
		}
	}
	if len(phases) < 3 || phases[0] != "camera" || phases[1] != "slate" || phases[2] != "camera" {
		t.Fatalf("stream phases %v, want camera, slate, camera", phases)
	}
	if !strings.Contains(b.Stderr.String(), "source lost") || !strings.Contains(b.Stderr.String(), "source back") {
		t.Errorf("log does not tell of the loss and the return")
	}
}

// TestChatBesideVideo: the chat service runs on its port, its welcome names
// the stream, and the host key made at first start makes its holder host.
func TestChatBesideVideo(t *testing.T) {
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "320x240", "--name", "Classroom")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	viewer, w, err := chat.Dial(ctx, b.ChatAddr, chat.Hello{Name: "pupil"})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	if w.Stream == nil || w.Stream.Name != "Classroom" || "rtsp://127.0.0.1:"+fmt.Sprint(w.Stream.RTSPPort)+w.Stream.RTSPPath != b.URL {
		t.Fatalf("welcome stream %+v, want it to name %s", w.Stream, b.URL)
	}
	key, err := os.ReadFile(device.FilesIn(b.StateDir).HostKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(device.FilesIn(b.StateDir).HostKey); fi.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(b.Stderr.String(), "host key created") {
		t.Errorf("the new host key was not logged")
	}
	host, w, err := chat.Dial(ctx, b.ChatAddr, chat.Hello{Name: "teacher", HostKey: strings.TrimSpace(string(key))})
	if err != nil || w.Role != chat.RoleHost {
		t.Fatalf("host: %v %+v", err, w)
	}
	defer host.Close()
	host.Announce("post", 0, "Welcome to the class")
	for m := range viewer.Events() {
		if m.Type == chat.TypeAnnouncement {
			if m.Text != "Welcome to the class" {
				t.Fatalf("announcement %+v", m)
			}
			break
		}
	}
}
