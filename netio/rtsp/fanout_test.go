package rtsp_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestPlayersDecodeUDP: ffmpeg and GStreamer decode what the fan-out sends
// them over unicast UDP, and the server lost none of it.
func TestPlayersDecodeUDP(t *testing.T) {
	s := limitServer(t, nil)
	const frames = 30
	for name, argv := range map[string][]string{
		"ffmpeg": {"ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "udp", "-i", s.URL("127.0.0.1"),
			"-frames:v", fmt.Sprint(frames), "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", "-"},
		"gstreamer": {"gst-launch-1.0", "-q", "rtspsrc", "location=" + s.URL("127.0.0.1"), "protocols=udp", "latency=0", "!",
			"rtpjpegdepay", "!", "jpegdec", "!", "videoconvert", "!", "video/x-raw,format=GRAY8", "!", "fdsink", "fd=1"},
	} {
		t.Run(name, func(t *testing.T) {
			testenv.NeedTools(t, argv[0])
			testenv.ReadFrames(t, argv, 320, 240, frames)
		})
	}
	if st := s.Stats(); st.UDPDrops != 0 {
		t.Errorf("server dropped %d packets", st.UDPDrops)
	}
}

// rtpFrames counts the pictures that arrive whole at a UDP port: every
// packet from the one after the last marker to the next marker, without a
// gap in sequence numbers.
type rtpFrames struct {
	conn     *net.UDPConn
	whole    atomic.Int64
	packets  atomic.Int64
	lastRecv atomic.Int64 // unix nanoseconds
	srcPort  atomic.Int64 // where the last packet came from
	done     chan struct{}
}

func countFrames(t *testing.T, conn *net.UDPConn) *rtpFrames {
	f := &rtpFrames{conn: conn, done: make(chan struct{})}
	conn.SetReadBuffer(1 << 20)
	go func() {
		defer close(f.done)
		buf := make([]byte, 2048)
		var prev uint16
		started, broken := false, true
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			f.srcPort.Store(int64(from.Port))
			if n < 12 || buf[1]&0x7f != 26 {
				continue // gortsplib's empty hole-punching packets, or not RTP/JPEG
			}
			f.packets.Add(1)
			f.lastRecv.Store(time.Now().UnixNano())
			seq := binary.BigEndian.Uint16(buf[2:4])
			if started && seq != prev+1 {
				broken = true
			}
			prev, started = seq, true
			if buf[1]&0x80 != 0 { // marker: the picture's last packet
				if !broken {
					f.whole.Add(1)
				}
				broken = false
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-f.done })
	return f
}

// udpPair is a reader's RTP and RTCP sockets on consecutive ports, the
// RTP one even, neither read unless the test reads it.
func udpPair(t *testing.T) (rtpC, rtcpC *net.UDPConn) {
	t.Helper()
	for range 50 {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 {
			a.Close()
			continue
		}
		b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			a.Close()
			continue
		}
		t.Cleanup(func() { a.Close(); b.Close() })
		return a, b
	}
	t.Fatal("no free even UDP port")
	return nil, nil
}

// play runs DESCRIBE, SETUP with rtpC's ports and PLAY on a new connection.
func play(t *testing.T, s *rtsp.Server, rtpC *net.UDPConn) *rawConn {
	t.Helper()
	rc, err := dialFrom(t, "127.0.0.1", s)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := rc.describe(); err != nil || st != 200 {
		t.Fatalf("DESCRIBE: %d %v", st, err)
	}
	p := rtpC.LocalAddr().(*net.UDPAddr).Port
	if st, _, _, err := rc.do("SETUP", rc.control, fmt.Sprintf("Transport: RTP/AVP;unicast;client_port=%d-%d", p, p+1)); err != nil || st != 200 {
		t.Fatalf("SETUP: %d %v", st, err)
	}
	if st, _, _, err := rc.do("PLAY", rc.url, "Range: npt=0-"); err != nil || st != 200 {
		t.Fatalf("PLAY: %d %v", st, err)
	}
	return rc
}

// TestUnreadUDPReaderCostsOthersNothing: a reader whose socket is never
// read loses its packets in its own socket; a reader beside it gets every
// picture, and the server drops nothing.
func TestUnreadUDPReaderCostsOthersNothing(t *testing.T) {
	s := limitServer(t, nil)
	stuckRTP, _ := udpPair(t)
	stuckRTP.SetReadBuffer(4096) // full after a packet or two
	play(t, s, stuckRTP)
	healthyRTP, _ := udpPair(t)
	healthy := countFrames(t, healthyRTP)
	play(t, s, healthyRTP)

	time.Sleep(500 * time.Millisecond) // past the picture PLAY may have cut
	before, frames := healthy.whole.Load(), s.Stats().Frames
	time.Sleep(5 * time.Second)
	whole, sent := healthy.whole.Load()-before, s.Stats().Frames-frames
	t.Logf("healthy reader: %d of %d pictures whole; unread reader's socket dropped %d packets; server: %+v",
		whole, sent, socketDrops(t, stuckRTP), s.Stats())
	if float64(whole) < 0.99*float64(sent)-1 {
		t.Errorf("healthy reader got %d of %d pictures whole, want 99%%", whole, sent)
	}
	if d := socketDrops(t, stuckRTP); d == 0 {
		t.Error("the unread socket dropped nothing: the test did not fill it")
	}
	if st := s.Stats(); st.UDPDrops != 0 || st.UDPSkipped != 0 {
		t.Errorf("server dropped %d packets and skipped %d frames", st.UDPDrops, st.UDPSkipped)
	}
	// NATs and firewalls that filter by source expect the port SETUP named.
	if p := healthy.srcPort.Load(); p != int64(s.RTPPort) {
		t.Errorf("RTP came from port %d, want the server's RTP port %d", p, s.RTPPort)
	}
}

// TestRTPPortArrivalsReachGortsplib: the fan-out's sending socket shares
// the RTP port, and what arrives at the port still goes to gortsplib's
// socket, which reads it: nothing waits unread in any socket on the port.
func TestRTPPortArrivalsReachGortsplib(t *testing.T) {
	s := limitServer(t, nil)
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.RTPPort})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 200 {
		c.Write(rtcpRR)
	}
	time.Sleep(300 * time.Millisecond)
	// limitServer listens on all addresses: IPv6 sockets, taking IPv4 too.
	b, err := os.ReadFile("/proc/net/udp6")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf(":%04X", s.RTPPort)
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasSuffix(f[1], local) {
			continue
		}
		found++
		_, rx, _ := strings.Cut(f[4], ":")
		if q, _ := strconv.ParseInt(rx, 16, 64); q != 0 {
			t.Errorf("a socket on the RTP port holds %d bytes unread: %s", q, line)
		}
		if d, _ := strconv.ParseInt(f[len(f)-1], 10, 64); d != 0 {
			t.Errorf("a socket on the RTP port dropped %d datagrams: %s", d, line)
		}
	}
	if found == 0 {
		t.Fatal("no socket on the RTP port in /proc/net/udp")
	}
	t.Logf("%d sockets on the RTP port, none holding or dropping what arrived", found)
}

// socketDrops is what the kernel dropped at c for a full buffer (the last
// column of /proc/net/udp).
func socketDrops(t *testing.T, c *net.UDPConn) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf(":%04X ", c.LocalAddr().(*net.UDPAddr).Port)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1]+" ", local) {
			n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			return n
		}
	}
	t.Fatalf("port %s not in /proc/net/udp", local)
	return 0
}

// TestLeavingUDPReaderStops: after TEARDOWN no packet reaches the reader's
// port a second later; nor does one after its connection drops, once the
// ghost timeout has passed.
func TestLeavingUDPReaderStops(t *testing.T) {
	const ghost = 300 * time.Millisecond
	s := limitServer(t, func(s *rtsp.Server) { s.GhostTimeout = ghost })
	for _, how := range []string{"teardown", "connection dropped"} {
		t.Run(how, func(t *testing.T) {
			rtpC, _ := udpPair(t)
			r := countFrames(t, rtpC)
			rc := play(t, s, rtpC)
			stayRTP, _ := udpPair(t)
			stay := countFrames(t, stayRTP)
			play(t, s, stayRTP)
			waitPackets(t, r)
			waitPackets(t, stay)

			grace := time.Second
			if how == "teardown" {
				if st, _, _, err := rc.do("TEARDOWN", rc.url); err != nil || st != 200 {
					t.Fatalf("TEARDOWN: %d %v", st, err)
				}
			} else {
				rc.c.Close()
				grace += ghost
			}
			left := time.Now()
			time.Sleep(grace)
			n := r.packets.Load()
			time.Sleep(time.Second)
			if got := r.packets.Load() - n; got != 0 {
				t.Errorf("%d packets reached the reader between %v and %v after it left", got, grace, grace+time.Second)
			}
			last := time.Unix(0, r.lastRecv.Load())
			t.Logf("last packet %v after leaving", last.Sub(left).Round(time.Millisecond))
			if d := time.Since(time.Unix(0, stay.lastRecv.Load())); d > 200*time.Millisecond {
				t.Errorf("the reader that stayed got nothing for %v", d)
			}
		})
	}
}

func waitPackets(t *testing.T, r *rtpFrames) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); r.packets.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no RTP within 5 s of PLAY")
		}
	}
}
