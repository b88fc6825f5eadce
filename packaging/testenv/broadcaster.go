package testenv

import (
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Broadcaster is the real lsbroadcast serving its test pattern on
// loopback with discovery off: what the viewers' tests (cmd/lsview,
// netio/viewer) play against.
type Broadcaster struct {
	*Proc
	RTSPPort, RTPPort, ChatPort, HTTPPort int
	StateDir                              string
}

// StartBroadcaster builds lsbroadcast (see Build) and runs its size@fps
// pattern until the test ends, and returns once its RTSP and chat ports
// listen. Given the Broadcaster of an earlier run, it restarts on the same
// ports and state (so the same chat history). Extra flags go last.
func StartBroadcaster(t testing.TB, size string, fps int, earlier *Broadcaster, extra ...string) *Broadcaster {
	t.Helper()
	var b Broadcaster
	if earlier != nil {
		b = *earlier
	} else {
		rtp, err := FreeUDPRun("127.0.0.1", 2)
		if err != nil {
			t.Fatal(err)
		}
		tcp := FreePorts(t, "127.0.0.1", 3)
		b = Broadcaster{RTSPPort: tcp[0], RTPPort: rtp, ChatPort: tcp[1], HTTPPort: tcp[2], StateDir: t.TempDir()}
	}
	b.Proc = Start(t, exec.Command(Build(t, "cmd/lsbroadcast")[0], append([]string{"--source", "pattern", "--size", size, "--fps", strconv.Itoa(fps),
		"--listen", "127.0.0.1", "--mdns", "off", "--rtsp-port", strconv.Itoa(b.RTSPPort),
		"--rtp-port", strconv.Itoa(b.RTPPort), "--chat-port", strconv.Itoa(b.ChatPort),
		"--http-port", strconv.Itoa(b.HTTPPort), "--state-dir", b.StateDir}, extra...)...))
	WaitPort(t, addr(b.RTSPPort), 10*time.Second)
	WaitPort(t, b.ChatAddr(), 10*time.Second)
	return &b
}

// PageURL is the web viewer's address.
func (b *Broadcaster) PageURL() string { return "http://" + addr(b.HTTPPort) + "/" }

// URL is the stream's RTSP URL.
func (b *Broadcaster) URL() string { return "rtsp://" + addr(b.RTSPPort) + "/live" }

// ChatAddr is the chat's host:port.
func (b *Broadcaster) ChatAddr() string { return addr(b.ChatPort) }

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
