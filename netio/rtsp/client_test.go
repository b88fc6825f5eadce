package rtsp

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
	"github.com/pion/rtp"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns/mdnstest"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// patternServer serves the test pattern on free loopback ports until stop
// is called or the test ends.
func patternServer(t testing.TB, size capture.Size, fps int) (s *Server, stop func()) {
	t.Helper()
	for range 20 {
		s = &Server{Host: "127.0.0.1", Port: testenv.FreePort(t), RTPPort: 20000 + 2*rand.IntN(10000), Logger: quietLog()}
		if err := s.Listen(); err == nil {
			break
		}
		s = nil
	}
	if s == nil {
		t.Fatal("no free ports for the rtsp server")
	}
	stop = serve(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src := &pattern.Source{Size: size, FPS: fps, Quality: 80, Workers: 1}
		src.Run(ctx, func(f capture.Frame) { s.WriteJPEG(f.JPEG, f.Captured) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s, stop
}

// frameNumber decodes a received picture and reads the pattern's counter.
func frameNumber(t *testing.T, b []byte) uint32 {
	t.Helper()
	seq, _, ok := pattern.Read(testenv.Gray(t, b))
	if !ok {
		t.Fatal("received picture carries no pattern strip")
	}
	return seq
}

func TestClientReceivesPatternInOrder(t *testing.T) {
	for _, tr := range []Transport{TransportTCP, TransportUDP, TransportAuto} {
		t.Run(tr.String(), func(t *testing.T) {
			s, _ := patternServer(t, capture.Size{W: 320, H: 240}, 30)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := &Client{URL: s.URL("127.0.0.1"), Transport: tr, Logger: quietLog()}
			frames := make(chan Frame, 64)
			errc := make(chan error, 1)
			go func() {
				errc <- c.Run(ctx, func(f Frame) {
					select {
					case frames <- f:
					default:
					}
				})
			}()
			var last uint32
			for i := range 20 {
				var f Frame
				select {
				case f = <-frames:
				case err := <-errc:
					t.Fatalf("client stopped after %d frames: %v", i, err)
				case <-ctx.Done():
					t.Fatalf("only %d frames before the deadline", i)
				}
				seq := frameNumber(t, f.JPEG)
				if i > 0 && seq <= last {
					t.Fatalf("frame %d after %d: out of order", seq, last)
				}
				if f.Received.IsZero() {
					t.Fatal("frame without receive time")
				}
				last = seq
			}
			st := c.Stats()
			if st.Frames < 20 || st.Bytes == 0 {
				t.Errorf("stats %+v: want at least 20 frames and some bytes", st)
			}
			want := map[Transport]string{TransportTCP: "TCP", TransportUDP: "UDP", TransportAuto: "UDP"}[tr]
			if st.Transport != want {
				t.Errorf("transport %q, want %q", st.Transport, want)
			}
			if st.LostFrames != 0 {
				t.Errorf("%d frames lost on loopback", st.LostFrames)
			}
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run after cancel: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
		})
	}
}

func TestClientServerGoneEndsRun(t *testing.T) {
	s, stop := patternServer(t, capture.Size{W: 160, H: 120}, 30)
	c := &Client{URL: s.URL("127.0.0.1"), Transport: TransportTCP, Logger: quietLog()}
	first := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Run(context.Background(), func(Frame) {
			select {
			case first <- struct{}{}:
			default:
			}
		})
	}()
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("no frame")
	}
	stop()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run returned nil after the server closed")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not notice the server closing")
	}
}

func TestClientBadPeers(t *testing.T) {
	h264 := testenv.H264Server(t)
	cases := []struct {
		name, url string
		want      error
	}{
		{"not jpeg", "rtsp://" + h264 + "/live", ErrNotJPEG},
		{"nobody listening", "rtsp://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/live", nil},
		{"bad url", "http://[::1", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := &Client{URL: tc.url, Logger: quietLog(), ReadTimeout: 3 * time.Second}
			err := c.Run(ctx, func(Frame) { t.Error("frame from a bad peer") })
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if ctx.Err() != nil {
				t.Fatal("Run waited for the deadline instead of failing")
			}
		})
	}
}

// packets splits a picture as the server does, at RTP time ts.
func packets(t *testing.T, jpg []byte, ts uint32, seq *uint16) []*rtp.Packet {
	t.Helper()
	enc := &rtpmjpeg.Encoder{PayloadMaxSize: 200}
	if err := enc.Init(); err != nil {
		t.Fatal(err)
	}
	pkts, err := enc.Encode(jpg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		p.Timestamp, p.SequenceNumber = ts, *seq
		*seq++
	}
	return pkts
}

func TestAssemblerCountsLostFrames(t *testing.T) {
	jpg := patternJPEG(t)
	cases := []struct {
		name string
		drop func(frame, pkt, n int) bool // which packets never arrive
		want uint64
		got  int // pictures delivered out of 5
	}{
		{"none", func(int, int, int) bool { return false }, 0, 5},
		{"middle packet", func(f, p, n int) bool { return f == 2 && p == n/2 }, 1, 4},
		{"first packet", func(f, p, _ int) bool { return f == 2 && p == 0 }, 1, 4},
		{"marker packet", func(f, p, n int) bool { return f == 2 && p == n-1 }, 1, 4},
		{"whole frame", func(f, _, _ int) bool { return f == 2 }, 1, 4},
		{"two frames, one gap", func(f, _, _ int) bool { return f == 2 || f == 3 }, 1, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := assembler{dec: &rtpmjpeg.Decoder{}}
			var seq uint16 = 65530 // wraps, as sequence numbers do
			var lost uint64
			got := 0
			for f := range 5 {
				pkts := packets(t, jpg, uint32(f*3000), &seq)
				for i, p := range pkts {
					if tc.drop(f, i, len(pkts)) {
						continue
					}
					img, l := a.push(p)
					lost += l
					if img != nil {
						got++
						if _, err := jpeg.Decode(bytes.NewReader(img)); err != nil {
							t.Fatalf("frame %d: %v", f, err)
						}
					}
				}
			}
			if lost != tc.want || got != tc.got {
				t.Fatalf("lost %d, delivered %d; want %d, %d", lost, got, tc.want, tc.got)
			}
		})
	}
}

func patternJPEG(t *testing.T) []byte {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out []byte
	src := &pattern.Source{Size: capture.Size{W: 320, H: 240}, FPS: 30, Quality: 80, Workers: 1}
	src.Run(ctx, func(f capture.Frame) {
		if out == nil {
			out = f.JPEG
			cancel()
		}
	})
	if out == nil {
		t.Fatal("pattern gave no frame")
	}
	return out
}

func FuzzParseTransport(f *testing.F) {
	for _, s := range []string{"auto", "UDP", "tcp", "multicast", "", "udp "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTransport(s)
		if err != nil {
			return
		}
		if back, err := ParseTransport(tr.String()); err != nil || back != tr {
			t.Fatalf("%q -> %v -> %q does not round-trip", s, tr, tr.String())
		}
	})
}

// TestClientMulticast plays over UDP multicast inside a network namespace
// (the test binary runs itself there), so no group traffic reaches the
// machine's own interfaces.
func TestClientMulticast(t *testing.T) {
	if os.Getenv("LSVIEW_RTSP_IN_NETNS") == "" {
		p := mdnstest.NewPair(t)
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := mdnstest.Command(ctx, p.Pi, exe, "-test.run", "^TestClientMulticast$", "-test.v")
		cmd.Env = append(os.Environ(), "LSVIEW_RTSP_IN_NETNS="+p.PiAddr)
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestClientMulticast")) {
			t.Fatalf("in the namespace: %v\n%s", err, out)
		}
		return
	}
	addr := os.Getenv("LSVIEW_RTSP_IN_NETNS")
	s := &Server{Host: addr, Port: testenv.FreePort(t), RTPPort: 20000 + 2*rand.IntN(10000),
		Multicast: DefaultMulticastRange, Logger: quietLog()}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	stop := serve(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		src := &pattern.Source{Size: capture.Size{W: 320, H: 240}, FPS: 30, Quality: 80, Workers: 1}
		src.Run(ctx, func(f capture.Frame) { s.WriteJPEG(f.JPEG, f.Captured) })
	}()
	defer func() { cancel(); <-done; stop() }()
	c := &Client{URL: s.URL(addr), Transport: TransportMulticast, Logger: quietLog()}
	got := make(chan Frame, 8)
	errc := make(chan error, 1)
	cctx, ccancel := context.WithCancel(ctx)
	go func() {
		errc <- c.Run(cctx, func(f Frame) {
			select {
			case got <- f:
			default:
			}
		})
	}()
	for i := range 10 {
		select {
		case f := <-got:
			frameNumber(t, f.JPEG)
		case err := <-errc:
			t.Fatalf("client stopped after %d frames: %v", i, err)
		case <-ctx.Done():
			t.Fatalf("%d frames before the deadline", i)
		}
	}
	if tr := c.Stats().Transport; tr != "UDP-multicast" {
		t.Errorf("transport %q", tr)
	}
	ccancel()
	<-errc
}

// TestCaptureTime: an RTP time maps back to the capture time it was made
// from, across the 32-bit wrap, given when the frame arrived.
func TestCaptureTime(t *testing.T) {
	epoch := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, after := range []time.Duration{0, 40 * time.Millisecond, 5 * time.Hour, 13*time.Hour + 15*time.Minute + 21*time.Second, 30 * time.Hour} {
		captured := epoch.Add(after)
		rtpTime := uint32(uint64(captured.Sub(epoch).Seconds()*jpegClockRate) % (1 << 32))
		got := CaptureTime(epoch, rtpTime, captured.Add(80*time.Millisecond))
		if d := got.Sub(captured); d < -20*time.Microsecond || d > 20*time.Microsecond {
			t.Errorf("%v after the epoch: mapped %v off", after, d)
		}
	}
}
