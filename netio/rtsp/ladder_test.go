package rtsp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// The quality ladder: renditions served at Path+"/"+name beside the main
// stream (limitServer feeds them 160×120, the main stream 320×240).

func ladderServer(t *testing.T, set func(*rtsp.Server)) *rtsp.Server {
	t.Helper()
	return limitServer(t, func(s *rtsp.Server) {
		s.Renditions = []string{netio.Half, netio.Quarter}
		if set != nil {
			set(s)
		}
	})
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rtcpAddr is the server's RTCP port on 127.0.0.1.
func rtcpAddr(s *rtsp.Server) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.RTCPPort}
}

// dialPath is dialFrom for the stream at the server's path plus sub.
func dialPath(t *testing.T, local string, s *rtsp.Server, sub string) *rawConn {
	t.Helper()
	rc, err := dialFrom(t, local, s)
	if err != nil {
		t.Fatal(err)
	}
	rc.url += sub
	return rc
}

// playUDPPath is playUDP for the stream at the server's path plus sub.
func playUDPPath(t *testing.T, local string, s *rtsp.Server, sub string) (*rawConn, *udpReader) {
	t.Helper()
	rc := dialPath(t, local, s, sub)
	u := newUDPReader(t, local)
	if st, err := rc.describe(); err != nil || st != 200 {
		t.Fatalf("DESCRIBE %s: %d %v", rc.url, st, err)
	}
	if st, err := rc.setupUDP(u); err != nil || st != 200 {
		t.Fatalf("SETUP %s: %d %v", rc.control, st, err)
	}
	if st, _, _, err := rc.do("PLAY", rc.url, "Range: npt=0-"); err != nil || st != 200 {
		t.Fatalf("PLAY %s: %d %v", rc.url, st, err)
	}
	return rc, u
}

// TestRenditionPlayers: ffprobe, ffmpeg and GStreamer play a rendition as
// they play the main stream, at the rendition's size, over UDP (the
// fan-out) and TCP (gortsplib's stream).
func TestRenditionPlayers(t *testing.T) {
	s := ladderServer(t, nil)
	url := s.URL("127.0.0.1") + "/" + netio.Half
	t.Run("ffprobe", func(t *testing.T) {
		testenv.NeedTools(t, "ffprobe")
		for _, tr := range []string{"udp", "tcp"} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-rtsp_transport", tr, "-i", url,
				"-select_streams", "v", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0").CombinedOutput()
			cancel()
			if got := strings.TrimSpace(string(out)); err != nil || got != "mjpeg,160,120" {
				t.Errorf("ffprobe over %s: %q %v, want mjpeg,160,120", tr, got, err)
			}
		}
	})
	const frames = 15
	for name, argv := range map[string][]string{
		"ffmpeg": {"ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", url,
			"-frames:v", fmt.Sprint(frames), "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"},
		"gstreamer": {"gst-launch-1.0", "-q", "rtspsrc", "location=" + url, "protocols=udp", "latency=0", "!",
			"rtpjpegdepay", "!", "jpegdec", "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1"},
	} {
		t.Run(name, func(t *testing.T) {
			testenv.NeedTools(t, argv[0])
			testenv.ReadFrames(t, argv, 160, 120, frames)
		})
	}
	if st := s.Stats(); st.UDPDrops != 0 {
		t.Errorf("server dropped %d packets", st.UDPDrops)
	}
}

// TestRenditionDescribe: each path answers with its own SDP title, every
// answer (a wrong path's too) lists the renditions, and a path that is
// no rendition is not found.
func TestRenditionDescribe(t *testing.T) {
	s := ladderServer(t, nil)
	const want = "half=/live/half, quarter=/live/quarter"
	for _, tc := range []struct {
		sub    string
		status int
		title  string
	}{
		{"", 200, "lsbroadcast"},
		{"/half", 200, "lsbroadcast half"},
		{"/quarter/", 200, "lsbroadcast quarter"},
		{"/full", 404, ""},
		{"/third", 404, ""},
		{"/half/x", 404, ""},
	} {
		rc := dialPath(t, "127.0.0.1", s, tc.sub)
		st, hdr, body, err := rc.do("DESCRIBE", rc.url, "Accept: application/sdp")
		if err != nil || st != tc.status {
			t.Errorf("DESCRIBE %s: %d %v, want %d", rc.url, st, err, tc.status)
			continue
		}
		if got := hdr[strings.ToLower(rtsp.RenditionsHeader)]; got != want {
			t.Errorf("DESCRIBE %s: %s %q, want %q", rc.url, rtsp.RenditionsHeader, got, want)
		}
		if tc.title != "" && !strings.Contains(body, "\ns="+tc.title+"\r\n") {
			t.Errorf("DESCRIBE %s: SDP without s=%s:\n%s", rc.url, tc.title, body)
		}
	}
	// SETUP of a path that is no rendition, as a client that skips
	// DESCRIBE would.
	rc := dialPath(t, "127.0.0.1", s, "/third")
	rc.control = rc.url + "/trackID=0"
	if st, err := rc.setupUDP(newUDPReader(t, "127.0.0.1")); err != nil || st != 404 {
		t.Errorf("SETUP of an unknown path: %d %v, want 404", st, err)
	}
	// Without renditions, no header.
	plain := limitServer(t, nil)
	rc = dialPath(t, "127.0.0.1", plain, "")
	if _, hdr, _, err := rc.do("DESCRIBE", rc.url); err != nil || hdr[strings.ToLower(rtsp.RenditionsHeader)] != "" {
		t.Errorf("DESCRIBE without renditions: %v %q", err, hdr[strings.ToLower(rtsp.RenditionsHeader)])
	}
}

// waitReaders waits until the server counts want readers of name, at most
// 5 s.
func waitReaders(t *testing.T, s *rtsp.Server, name string, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Readers(name) != want; {
		if time.Now().After(deadline) {
			t.Fatalf("Readers(%q) = %d, want %d", name, s.Readers(name), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRenditionReadersPerPath: readers are counted on the path they play,
// each path's readers get that path's own stream (its SSRC), and a frame
// has the same RTP time on every path.
func TestRenditionReadersPerPath(t *testing.T) {
	s := ladderServer(t, nil)
	halfRC, half := playUDPPath(t, "127.0.0.1", s, "/half")
	_, half2 := playUDPPath(t, "127.0.0.1", s, "/half")
	_, main := playUDPPath(t, "127.0.0.1", s, "")
	waitFlowing(t, half)
	waitFlowing(t, half2)
	waitFlowing(t, main)
	for name, want := range map[string]int{"": 1, netio.Full: 1, netio.Half: 2, netio.Quarter: 0, "nonesuch": 0} {
		if got := s.Readers(name); got != want {
			t.Errorf("Readers(%q) = %d, want %d", name, got, want)
		}
	}
	st := s.Stats()
	if st.Readers != 3 || st.ByRendition[netio.Half] != 2 || st.ByRendition[netio.Quarter] != 0 || len(st.ByRendition) != 2 {
		t.Errorf("stats: %d readers, by rendition %v; want 3, half 2, quarter 0", st.Readers, st.ByRendition)
	}
	if half.ssrc.Load() == main.ssrc.Load() || half.ssrc.Load() != half2.ssrc.Load() {
		t.Errorf("SSRCs: half %x and %x, main %x; want the half's shared and the main's its own",
			half.ssrc.Load(), half2.ssrc.Load(), main.ssrc.Load())
	}
	if st, _, _, err := halfRC.do("TEARDOWN", halfRC.url); err != nil || st != 200 {
		t.Fatalf("TEARDOWN: %d %v", st, err)
	}
	waitReaders(t, s, netio.Half, 1)

	// The same RTP time for the same picture: two readers, one a rung.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	times := map[string]map[uint32]bool{}
	var wg sync.WaitGroup
	for _, sub := range []string{"", "/" + netio.Quarter} {
		times[sub] = map[uint32]bool{}
		c := &rtsp.Client{URL: s.URL("127.0.0.1") + sub, Transport: rtsp.TransportTCP, Logger: quiet()}
		wg.Go(func() {
			c.Run(ctx, func(f rtsp.Frame) {
				mu.Lock()
				defer mu.Unlock()
				times[sub][f.RTPTime] = true
				if len(times[""]) >= 30 && len(times["/"+netio.Quarter]) >= 30 {
					cancel()
				}
			})
		})
	}
	wg.Wait()
	common := 0
	for ts := range times["/"+netio.Quarter] {
		if times[""][ts] {
			common++
		}
	}
	if n := len(times["/"+netio.Quarter]); n < 30 || common < n*2/3 {
		t.Errorf("%d of the quarter's %d RTP times are the main stream's", common, n)
	}
}

// TestRenditionLimitsAcrossPaths: the limits count readers whatever they
// play.
func TestRenditionLimitsAcrossPaths(t *testing.T) {
	s := ladderServer(t, func(s *rtsp.Server) { s.MaxReaders = 3; s.MaxReadersPerAddr = 2 })
	playUDPPath(t, "127.0.0.2", s, "")
	playUDPPath(t, "127.0.0.2", s, "/half")
	setupFrom := func(local, sub string, want int) {
		t.Helper()
		rc := dialPath(t, local, s, sub)
		if st, err := rc.describe(); err != nil || st != 200 {
			t.Fatalf("DESCRIBE: %d %v", st, err)
		}
		if st, err := rc.setupUDP(newUDPReader(t, local)); err != nil || st != want {
			t.Errorf("SETUP %s from %s: %d %v, want %d", rc.url, local, st, err, want)
		}
	}
	setupFrom("127.0.0.2", "/quarter", 503) // the address's share is full
	playUDPPath(t, "127.0.0.3", s, "/quarter")
	setupFrom("127.0.0.4", "/half", 453) // the total is full
	setupFrom("127.0.0.4", "", 453)
	if st := s.Stats(); st.Readers != 3 || st.ByRendition[netio.Half] != 1 || st.ByRendition[netio.Quarter] != 1 || s.Readers("") != 1 {
		t.Errorf("%d readers (%v, main %d), want 3: one on each path", st.Readers, st.ByRendition, s.Readers(""))
	}
}

// TestRenditionNames: WriteRendition knows only the renditions; Listen
// refuses a ladder it could not serve.
func TestRenditionNames(t *testing.T) {
	s := ladderServer(t, nil)
	for _, name := range []string{"", netio.Full, "third", "Half"} {
		if err := s.WriteRendition(name, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "rendition") {
			t.Errorf("WriteRendition(%q): %v, want no such rendition", name, err)
		}
	}
	if err := s.WriteRendition(netio.Half, []byte("not a jpeg"), time.Now()); err == nil {
		t.Error("WriteRendition accepted garbage")
	}
	for _, bad := range [][]string{
		{""}, {"Half"}, {"half", "half"}, {netio.Full}, {"a/b"}, {"trackID=0"}, {"a b"},
		{strings.Repeat("x", 17)}, {"a", "b", "c", "d", "e"},
	} {
		s := &rtsp.Server{Host: "127.0.0.1", Port: 1, Renditions: bad, Logger: quiet()}
		if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "rendition") {
			t.Errorf("Renditions %q: Listen %v, want refused", bad, err)
		}
	}
}

// TestRenditionRetransmits: a rendition's reader gets a packet it asks
// for again, from the rendition's own history, as it was sent.
func TestRenditionRetransmits(t *testing.T) {
	s := ladderServer(t, nil)
	_, u := playUDPPath(t, "127.0.0.1", s, "/"+netio.Quarter)
	waitFlowing(t, u)
	time.Sleep(200 * time.Millisecond) // a budget to spend
	before, repeats := s.Stats().Retransmit, u.repeats.Load()
	if _, err := u.rtcp.WriteToUDP(nackPacket(t, u.ssrc.Load(), uint16(u.lastSeq.Load())-1), rtcpAddr(s)); err != nil {
		t.Fatal(err)
	}
	after := waitCounted(s)
	for deadline := time.Now().Add(time.Second); u.repeats.Load() == repeats && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if after.NACKs == before.NACKs || after.Resent == before.Resent || u.repeats.Load() == repeats {
		t.Fatalf("a rendition's packet asked for was not resent as it was: %+v → %+v, repeats %d → %d",
			before, after, repeats, u.repeats.Load())
	}
}
