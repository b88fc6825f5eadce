package rtsp

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
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServer serves on free loopback ports until the test ends; set, if
// any, changes the server before it listens.
func startServer(t testing.TB, set ...func(*Server)) *Server {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Every reader here, up to BenchmarkFanout's 64, is on loopback:
		// one address. limits_test.go tests the shares.
		s := &Server{Host: "127.0.0.1", Port: port, RTPPort: 20000 + 2*rand.IntN(10000),
			MaxReaders: 256, MaxReadersPerAddr: 256, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		for _, f := range set {
			f(s)
		}
		if err := s.Listen(); err == nil {
			serve(t, s)
			return s
		}
	}
	t.Fatal("no free ports")
	return nil
}

// serve runs s, already listening, until stop is called or the test
// ends; stop returns once Serve has.
func serve(t testing.TB, s *Server) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	b, err := makeJPEG(w, h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// makeJPEG is testJPEG for a child process, which has no testing.TB.
func makeJPEG(w, h int) ([]byte, error) {
	// Gradients with edges and a little noise: about the detail, and so
	// the size, of a camera's picture.
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(3, 4))
	for y := range h {
		for x := range w {
			edge := 0
			if (x/97+y/61)%2 == 0 {
				edge = 50
			}
			img.Y[y*img.YStride+x] = byte(x*150/w + edge + rng.IntN(10))
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = byte(100+i%50), byte(140-i%30)
	}
	var buf bytes.Buffer
	err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	return buf.Bytes(), err
}

// request sends raw bytes on a new connection and returns the first
// response line, or "" when the server closed the connection instead.
func request(t testing.TB, addr string, raw []byte) string {
	t.Helper()
	return requestWait(t, addr, raw, 2*time.Second)
}

// requestWait is request with a bound on how long to wait for an answer;
// a server waiting for the rest of a truncated request never gives one.
func requestWait(t testing.TB, addr string, raw []byte, wait time.Duration) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(wait))
	c.Write(raw)
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

func describe(addr, path string) []byte {
	return fmt.Appendf(nil, "DESCRIBE rtsp://%s%s RTSP/1.0\r\nCSeq: 2\r\n\r\n", addr, path)
}

func TestDescribe(t *testing.T) {
	s := startServer(t)
	addr := fmt.Sprintf("127.0.0.1:%d", s.Port)
	for _, tc := range []struct{ path, want string }{
		{"/live", "RTSP/1.0 200"},
		{"/live/", "RTSP/1.0 200"},
		{"/other", "RTSP/1.0 404"},
		{"/", "RTSP/1.0 404"},
		{"/live/x", "RTSP/1.0 404"},
	} {
		if got := request(t, addr, describe(addr, tc.path)); !strings.HasPrefix(got, tc.want) {
			t.Errorf("DESCRIBE %s: %q, want %s", tc.path, got, tc.want)
		}
	}
	if got := request(t, addr, fmt.Appendf(nil, "ANNOUNCE rtsp://%s/live RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n", addr)); strings.HasPrefix(got, "RTSP/1.0 200") {
		t.Errorf("ANNOUNCE accepted: %q", got)
	}
}

// malformed are hand-picked abuses; the fuzz target finds more.
var malformed = [][]byte{
	[]byte("\r\n\r\n"),
	[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
	[]byte("DESCRIBE\r\n\r\n"),
	[]byte("DESCRIBE rtsp://x/live RTSP/9.9\r\nCSeq: 1\r\n\r\n"),
	[]byte("DESCRIBE rtsp://x/live RTSP/1.0\r\nCSeq: x\r\n\r\n"),
	[]byte("DESCRIBE rtsp://x/live RTSP/1.0\r\n"),
	[]byte("SETUP rtsp://x/live/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: garbage\r\n\r\n"),
	[]byte("SETUP rtsp://x/live/trackID=99 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP;unicast;client_port=1-2\r\n\r\n"),
	[]byte("PLAY rtsp://x/live RTSP/1.0\r\nCSeq: 1\r\nSession: 1234\r\n\r\n"),
	[]byte("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999\r\n\r\n"),
	[]byte("OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -1\r\n\r\n"),
	append([]byte("OPTIONS * RTSP/1.0\r\nX: "), bytes.Repeat([]byte("a"), 70000)...),
	[]byte("$\x00\xff\xffxxxx"),
	{0, 1, 2, 3, 0xff, 0xfe},
}

func TestMalformedRequests(t *testing.T) {
	s := startServer(t)
	addr := fmt.Sprintf("127.0.0.1:%d", s.Port)
	// Let the server's own goroutines settle before counting.
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	rng := rand.New(rand.NewPCG(1, 2))
	const rounds, abusers = 320, 16
	reqs := make(chan []byte, rounds)
	for i := range rounds {
		raw := malformed[i%len(malformed)]
		if i >= len(malformed) {
			raw = mutate(rng, raw)
		}
		reqs <- raw
	}
	close(reqs)
	var wg sync.WaitGroup
	for range abusers {
		wg.Go(func() {
			for raw := range reqs {
				requestWait(t, addr, raw, 200*time.Millisecond)
			}
		})
	}
	wg.Wait()
	if got := request(t, addr, describe(addr, "/live")); !strings.HasPrefix(got, "RTSP/1.0 200") {
		t.Fatalf("after %d malformed requests DESCRIBE gives %q", rounds, got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d → %d after %d malformed requests\n%s", before, after, rounds, buf[:runtime.Stack(buf, true)])
	}
}

func mutate(rng *rand.Rand, b []byte) []byte {
	out := append([]byte{}, b...)
	for range 1 + rng.IntN(4) {
		if len(out) == 0 {
			break
		}
		switch i := rng.IntN(len(out)); rng.IntN(3) {
		case 0:
			out[i] = byte(rng.IntN(256))
		case 1:
			out = out[:i]
		default:
			out = append(out[:i], append([]byte{byte(rng.IntN(256))}, out[i:]...)...)
		}
	}
	return out
}

func FuzzRequest(f *testing.F) {
	for _, m := range malformed {
		f.Add(m)
	}
	f.Add([]byte("OPTIONS rtsp://127.0.0.1/live RTSP/1.0\r\nCSeq: 1\r\n\r\n"))
	s := startServer(f)
	addr := fmt.Sprintf("127.0.0.1:%d", s.Port)
	f.Fuzz(func(t *testing.T, raw []byte) {
		requestWait(t, addr, raw, 20*time.Millisecond)
		if got := request(t, addr, describe(addr, "/live")); !strings.HasPrefix(got, "RTSP/1.0 200") {
			t.Fatalf("after %q the server answers DESCRIBE with %q", raw, got)
		}
	})
}

func TestWriteJPEGRejectsNonJPEG(t *testing.T) {
	s := startServer(t)
	if err := s.WriteJPEG([]byte("not a jpeg"), time.Now()); err == nil {
		t.Fatal("WriteJPEG accepted garbage")
	}
	if err := s.WriteJPEG(testJPEG(t, 64, 48), time.Now()); err != nil {
		t.Fatalf("a valid JPEG after garbage: %v", err)
	}
}

func TestPacketsFitTheLimit(t *testing.T) {
	pkts, err := ourPackets(testJPEG(t, 1920, 1080), 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range pkts {
		if len(b) > MaxPacketSize {
			t.Fatalf("packet %d is %d bytes, limit %d", i, len(b), MaxPacketSize)
		}
	}
	t.Logf("1080p frame: %d packets", len(pkts))
}

// TestOddSizesRoundedUp: a picture whose size is not a multiple of 8 (as
// drivers grant: vivid's 320×180) is sent with its size rounded up, and
// nothing else in it changes.
func TestOddSizesRoundedUp(t *testing.T) {
	s := startServer(t)
	for _, tc := range []struct{ w, h, wantW, wantH int }{
		{320, 180, 320, 184}, {1278, 722, 1280, 728}, {64, 48, 64, 48}, {1, 1, 8, 8},
	} {
		in := testJPEG(t, tc.w, tc.h)
		orig := append([]byte(nil), in...)
		out, err := padTo8(in)
		if err != nil {
			t.Fatalf("%dx%d: %v", tc.w, tc.h, err)
		}
		if !bytes.Equal(in, orig) {
			t.Fatalf("%dx%d: the caller's picture was changed", tc.w, tc.h)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
		if err != nil || cfg.Width != tc.wantW || cfg.Height != tc.wantH {
			t.Fatalf("%dx%d: sent as %dx%d (%v), want %dx%d", tc.w, tc.h, cfg.Width, cfg.Height, err, tc.wantW, tc.wantH)
		}
		diff := 0
		for i := range out {
			if out[i] != in[i] {
				diff++
			}
		}
		if len(out) != len(in) || diff > 4 {
			t.Fatalf("%dx%d: %d bytes differ, want only the size fields", tc.w, tc.h, diff)
		}
		if _, err := jpeg.Decode(bytes.NewReader(out)); err != nil {
			t.Fatalf("%dx%d: the rounded-up picture does not decode: %v", tc.w, tc.h, err)
		}
		if err := s.WriteJPEG(in, time.Now()); err != nil {
			t.Fatalf("%dx%d: WriteJPEG: %v", tc.w, tc.h, err)
		}
	}
	good := testJPEG(t, 64, 48)
	for name, b := range map[string][]byte{
		"empty":            nil,
		"no SOI":           []byte("GIF89a......"),
		"truncated":        good[:20],
		"segment past end": append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x40, 0x00}, make([]byte, 8)...),
		"scan before SOF":  {0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02},
	} {
		if _, err := padTo8(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if err := s.WriteJPEG(b, time.Now()); err == nil {
			t.Errorf("%s: WriteJPEG accepted it", name)
		}
	}
}

// offers is a Relay that keeps what it is offered.
type offers struct {
	mu   sync.Mutex
	got  [][]byte
	rtps []uint32
}

func (o *offers) Offer(jpeg []byte, rtpTime uint32, _ time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got, o.rtps = append(o.got, jpeg), append(o.rtps, rtpTime)
}

// TestRelayGetsTheMainStreamAsSent: the relay is offered the main
// stream's pictures as the readers get them (the size rounded up to 8),
// at their RTP time, and no rendition's.
func TestRelayGetsTheMainStreamAsSent(t *testing.T) {
	relay := &offers{}
	s := startServer(t, func(s *Server) { s.Relay, s.Renditions = relay, []string{"half"} })
	at := s.Epoch().Add(time.Second)
	if err := s.WriteJPEG(testJPEG(t, 320, 180), at); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRendition("half", testJPEG(t, 160, 90), at); err != nil {
		t.Fatal(err)
	}
	relay.mu.Lock()
	defer relay.mu.Unlock()
	if len(relay.got) != 1 || relay.rtps[0] != jpegClockRate {
		t.Fatalf("relay offered %d pictures at %v, want one at %d", len(relay.got), relay.rtps, jpegClockRate)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(relay.got[0])); err != nil || cfg.Width != 320 || cfg.Height != 184 {
		t.Fatalf("relay offered %dx%d (%v), want 320x184 as sent", cfg.Width, cfg.Height, err)
	}
}
