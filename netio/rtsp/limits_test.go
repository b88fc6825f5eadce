package rtsp_test

// These tests are the attacks of issue 11, finding 3, written from RFC 2326
// alone: raw RTSP over a real socket, RTP counted at the client's own UDP
// ports.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// limitServer starts a server on 127.0.0.1 with the given limits, fed 30
// small pictures a second until the test ends: 320×240, and 160×120 to
// each rendition, with the same capture times.
func limitServer(t *testing.T, set func(*rtsp.Server)) *rtsp.Server {
	t.Helper()
	var img, small bytes.Buffer
	if err := jpeg.Encode(&img, image.NewYCbCr(image.Rect(0, 0, 320, 240), image.YCbCrSubsampleRatio420), nil); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&small, image.NewYCbCr(image.Rect(0, 0, 160, 120), image.YCbCrSubsampleRatio420), nil); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Listen on all loopback addresses, so 127.0.0.2 and .3 are other
		// machines.
		s := &rtsp.Server{Host: "", Port: port, RTPPort: 20000 + 2*rand.IntN(10000), Multicast: "",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if set != nil {
			set(s)
		}
		if err := s.Listen(); err != nil {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan error, 1)
		go func() { served <- s.Serve(ctx) }()
		fed := make(chan struct{})
		go func() {
			defer close(fed)
			tick := time.NewTicker(time.Second / 30)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tick.C:
					s.WriteJPEG(img.Bytes(), now)
					for _, n := range s.Renditions {
						s.WriteRendition(n, small.Bytes(), now)
					}
				}
			}
		}()
		t.Cleanup(func() {
			cancel()
			<-fed
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
		return s
	}
	t.Fatal("no free ports")
	return nil
}

// rawConn is an RTSP client from RFC 2326 alone.
type rawConn struct {
	c       net.Conn
	r       *bufio.Reader
	url     string
	cseq    int
	session string
	control string // SETUP URL from the SDP
}

func dialFrom(t *testing.T, local string, s *rtsp.Server) (*rawConn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReader(c), url: s.URL("127.0.0.1")}, nil
}

// do sends a request and returns the response's status, headers and body.
func (rc *rawConn) do(method, url string, headers ...string) (int, map[string]string, string, error) {
	rc.cseq++
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, url, rc.cseq)
	if rc.session != "" {
		fmt.Fprintf(&req, "Session: %s\r\n", rc.session)
	}
	for _, h := range headers {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	rc.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(rc.c, req.String()); err != nil {
		return 0, nil, "", err
	}
	line, err := rc.r.ReadString('\n')
	if err != nil {
		return 0, nil, "", err
	}
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "RTSP/1.0" {
		return 0, nil, "", fmt.Errorf("status line %q", line)
	}
	status, _ := strconv.Atoi(f[1])
	hdr := map[string]string{}
	for {
		l, err := rc.r.ReadString('\n')
		if err != nil {
			return 0, nil, "", err
		}
		l = strings.TrimSpace(l)
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		hdr[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	n, _ := strconv.Atoi(hdr["content-length"])
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		return 0, nil, "", err
	}
	if sess, ok := hdr["session"]; ok {
		rc.session, _, _ = strings.Cut(sess, ";")
	}
	return status, hdr, string(body), nil
}

// describe asks for the SDP and learns the media's control URL.
func (rc *rawConn) describe() (int, error) {
	status, hdr, body, err := rc.do("DESCRIBE", rc.url, "Accept: application/sdp")
	if err != nil || status != 200 {
		return status, err
	}
	for _, l := range strings.Split(body, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(l), "a=control:"); ok && c != "*" {
			rc.control = c
		}
	}
	if !strings.HasPrefix(rc.control, "rtsp://") {
		rc.control = hdr["content-base"] + rc.control
	}
	return status, nil
}

// udpReader is a reader's pair of UDP ports, counting RTP as it comes.
type udpReader struct {
	rtp, rtcp *net.UDPConn
	packets   atomic.Int64
	bytes     atomic.Int64
	last      atomic.Int64 // unix nanoseconds of the last RTP packet
	lastSeq   atomic.Uint32
	ssrc      atomic.Uint32
	repeats   atomic.Int64 // packets whose sequence number came before, with the same SSRC
	done      chan struct{}
}

func newUDPReader(t *testing.T, local string) *udpReader {
	t.Helper()
	for range 50 {
		rtpC, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(local)})
		if err != nil {
			t.Fatal(err)
		}
		port := rtpC.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 {
			rtpC.Close()
			continue
		}
		rtcpC, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(local), Port: port + 1})
		if err != nil {
			rtpC.Close()
			continue
		}
		u := &udpReader{rtp: rtpC, rtcp: rtcpC, done: make(chan struct{})}
		go func() {
			defer close(u.done)
			buf := make([]byte, 2048)
			var seen [1 << 16]bool
			for {
				n, err := rtpC.Read(buf)
				if err != nil {
					return
				}
				if n >= 12 {
					seq := uint16(buf[2])<<8 | uint16(buf[3])
					ssrc := uint32(buf[8])<<24 | uint32(buf[9])<<16 | uint32(buf[10])<<8 | uint32(buf[11])
					if seen[seq] && ssrc == u.ssrc.Load() {
						u.repeats.Add(1)
					}
					seen[seq], seen[seq-32768] = true, false
					u.lastSeq.Store(uint32(seq))
					u.ssrc.Store(ssrc)
				}
				u.bytes.Add(int64(n))
				u.packets.Add(1)
				u.last.Store(time.Now().UnixNano())
			}
		}()
		t.Cleanup(func() { rtpC.Close(); rtcpC.Close(); <-u.done })
		return u
	}
	t.Fatal("no free even UDP port")
	return nil
}

func (u *udpReader) ports() string {
	p := u.rtp.LocalAddr().(*net.UDPAddr).Port
	return fmt.Sprintf("%d-%d", p, p+1)
}

// setupUDP sets up rc's session with u's ports and returns the status.
func (rc *rawConn) setupUDP(u *udpReader) (int, error) {
	status, _, _, err := rc.do("SETUP", rc.control, "Transport: RTP/AVP;unicast;client_port="+u.ports())
	return status, err
}

// playUDP runs OPTIONS, DESCRIBE, SETUP and PLAY and fails the test on
// anything but 200.
func playUDP(t *testing.T, local string, s *rtsp.Server) (*rawConn, *udpReader) {
	t.Helper()
	rc, err := dialFrom(t, local, s)
	if err != nil {
		t.Fatal(err)
	}
	u := newUDPReader(t, local)
	if st, _, _, err := rc.do("OPTIONS", rc.url); err != nil || st != 200 {
		t.Fatalf("OPTIONS: %d %v", st, err)
	}
	if st, err := rc.describe(); err != nil || st != 200 {
		t.Fatalf("DESCRIBE: %d %v", st, err)
	}
	if st, err := rc.setupUDP(u); err != nil || st != 200 {
		t.Fatalf("SETUP: %d %v", st, err)
	}
	if st, _, _, err := rc.do("PLAY", rc.url, "Range: npt=0-"); err != nil || st != 200 {
		t.Fatalf("PLAY: %d %v", st, err)
	}
	return rc, u
}

// waitFlowing waits until u has RTP, or fails.
func waitFlowing(t *testing.T, u *udpReader) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); u.packets.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no RTP within 5 s of PLAY")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rtcpRR is a receiver report with no report blocks (RFC 3550 §6.4.2).
var rtcpRR = []byte{0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78}

func TestGhostUDPReaderStops(t *testing.T) {
	s := limitServer(t, nil)
	const ghosts = 5
	var readers []*udpReader
	var conns []*rawConn
	for range ghosts {
		rc, u := playUDP(t, "127.0.0.1", s)
		conns, readers = append(conns, rc), append(readers, u)
	}
	// A real client that closes its connection but keeps sending receiver
	// reports, and one that keeps its connection and sends none: both must
	// keep playing.
	reporterConn, reporter := playUDP(t, "127.0.0.2", s)
	_, quiet := playUDP(t, "127.0.0.3", s)
	for _, u := range append(readers, reporter, quiet) {
		waitFlowing(t, u)
	}
	if got := s.Stats().Readers; got != ghosts+2 {
		t.Fatalf("%d readers, want %d", got, ghosts+2)
	}

	closed := time.Now()
	for _, rc := range conns {
		rc.c.Close()
	}
	// The reporter sends a receiver report every 2 s from its RTCP port,
	// as RFC 3550 clients do, and closes its connection after the first.
	serverRTCP := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.RTCPPort}
	stopReports := make(chan struct{})
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			reporter.rtcp.WriteToUDP(rtcpRR, serverRTCP)
			select {
			case <-stopReports:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stopReports); <-reported }()
	time.Sleep(100 * time.Millisecond)
	reporterConn.c.Close()

	// Bound: 10 s. A ghost has stopped once no packet came for 1.5 s.
	var stoppedAfter time.Duration
	for deadline := closed.Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var last int64
		for _, u := range readers {
			last = max(last, u.last.Load())
		}
		if time.Since(time.Unix(0, last)) > 1500*time.Millisecond {
			stoppedAfter = time.Unix(0, last).Sub(closed)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RTP still flowing to closed readers %v after their connections closed", time.Since(closed))
		}
	}
	t.Logf("ghost readers stopped receiving %v after their connections closed", stoppedAfter.Round(time.Millisecond))
	if stoppedAfter > 6*time.Second {
		t.Errorf("ghosts got RTP for %v after their connections closed, want at most 6 s", stoppedAfter)
	}
	if g := s.Stats().Ghosts; g != ghosts {
		t.Errorf("%d ghosts ended, want %d", g, ghosts)
	}
	for name, u := range map[string]*udpReader{"reporter without connection": reporter, "quiet reader with connection": quiet} {
		if since := time.Since(time.Unix(0, u.last.Load())); since > time.Second {
			t.Errorf("%s: no RTP for %v", name, since)
		}
	}
	if got := s.Stats().Readers; got != 2 {
		t.Errorf("%d readers left, want 2", got)
	}
}

func TestConnectionsPerAddressCapped(t *testing.T) {
	s := limitServer(t, nil) // defaults: 8 readers, 16 connections per address
	rss0 := rssKB(t)
	held := 0
	for i := range 100 {
		rc, err := dialFrom(t, "127.0.0.1", s)
		if err != nil {
			t.Fatal(err)
		}
		st, err := rc.describe()
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		if st != 200 {
			if st != 503 {
				t.Fatalf("connection %d refused with %d, want 503", i+1, st)
			}
			break
		}
		held++
	}
	t.Logf("connections held from one address before the first refusal: %d", held)
	if held != 2*rtsp.DefaultMaxReadersPerAddr {
		t.Errorf("%d connections held, want %d", held, 2*rtsp.DefaultMaxReadersPerAddr)
	}
	// Another machine is still served, up to playing.
	_, u := playUDP(t, "127.0.0.2", s)
	waitFlowing(t, u)

	// A flood of idle connections from the first address: each is closed
	// by the server within a few seconds, and costs little meanwhile.
	const flood = 3000
	floodConns := make([]net.Conn, 0, flood)
	for range flood {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
		c, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err != nil {
			break
		}
		floodConns = append(floodConns, c)
	}
	t.Cleanup(func() {
		for _, c := range floodConns {
			c.Close()
		}
	})
	time.Sleep(500 * time.Millisecond)
	t.Logf("RSS after %d idle connections from one address: +%d KiB", len(floodConns), rssKB(t)-rss0)
	open := 0
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range floodConns {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err != nil && os.IsTimeout(err) {
			open++
		}
	}
	if open > 0 {
		t.Errorf("%d of %d flooding connections still open after %v", open, len(floodConns), refuseGraceBound)
	}
	if got := s.Stats().Readers; got != 1 {
		t.Errorf("%d readers, want 1", got)
	}
}

// refuseGraceBound is how long a refused connection may stay (2 s grace).
const refuseGraceBound = 5 * time.Second

func rssKB(t *testing.T) int64 {
	t.Helper()
	n, err := testenv.RSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return n >> 10
}

func TestSessionsPerAddressCapped(t *testing.T) {
	s := limitServer(t, func(s *rtsp.Server) { s.MaxSessionsPerAddr = 2; s.MaxConnsPerAddr = 8 })
	for i := range 3 {
		rc, err := dialFrom(t, "127.0.0.1", s)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := rc.describe(); err != nil || st != 200 {
			t.Fatalf("DESCRIBE %d: %d %v", i+1, st, err)
		}
		st, err := rc.setupUDP(newUDPReader(t, "127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]int{true: 200, false: 503}[i < 2]
		if st != want {
			t.Errorf("SETUP %d: %d, want %d", i+1, st, want)
		}
	}
	_, u := playUDP(t, "127.0.0.2", s)
	waitFlowing(t, u)
}

func TestReadersCapped(t *testing.T) {
	s := limitServer(t, func(s *rtsp.Server) { s.MaxReaders = 3; s.MaxReadersPerAddr = 2 })
	playUDP(t, "127.0.0.1", s)
	playUDP(t, "127.0.0.1", s)
	refusedFrom := func(local string, want int) {
		t.Helper()
		rc, err := dialFrom(t, local, s)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := rc.describe(); err != nil || st != 200 {
			t.Fatalf("DESCRIBE: %d %v", st, err)
		}
		if st, err := rc.setupUDP(newUDPReader(t, local)); err != nil || st != want {
			t.Errorf("SETUP from %s: %d %v, want %d", local, st, err, want)
		}
	}
	refusedFrom("127.0.0.1", 503) // the address's share is full
	playUDP(t, "127.0.0.2", s)
	refusedFrom("127.0.0.3", 453) // the total is full
	if got := s.Stats().Readers; got != 3 {
		t.Errorf("%d readers, want 3", got)
	}
	if s.Stats().Refused < 2 {
		t.Errorf("refusals not counted: %+v", s.Stats())
	}
}

// TestFFmpegUDPPlaysPastGhostTimeout: a real player over UDP keeps its
// connection and is never taken for a ghost.
func TestFFmpegUDPPlaysPastGhostTimeout(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	s := limitServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "udp",
		"-i", s.URL("127.0.0.1"), "-t", "15", "-c", "copy", "-f", "null", "-")
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(12 * time.Second) // four ghost timeouts
	if st := s.Stats(); st.Readers != 1 || st.Ghosts != 0 {
		t.Errorf("after 12 s: %+v, want 1 reader and no ghosts", st)
	}
	if err := <-done; err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out.String())
	}
	if d := time.Since(start); d < 14*time.Second {
		t.Errorf("ffmpeg played for %v, want 15 s", d)
	}
	if g := s.Stats().Ghosts; g != 0 {
		t.Errorf("%d readers taken for ghosts", g)
	}
}
