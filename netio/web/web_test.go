package web

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"

	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type testWeb struct {
	*Server
	base string // http://127.0.0.1:PORT
	chat *chat.Server
}

// startWeb serves a web server on loopback; tweak sets fields before
// Listen.
func startWeb(t testing.TB, tweak func(*Server)) *testWeb {
	t.Helper()
	s := &Server{Addr: "127.0.0.1:0", Logger: quiet}
	if tweak != nil {
		tweak(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not return within 15 s of its context ending")
		}
	})
	return &testWeb{Server: s, base: "http://" + s.ListenAddr().String()}
}

// startChat serves a chat hub on loopback for the bridge.
func startChat(t testing.TB) *chat.Server {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	c := &chat.Server{Addr: "127.0.0.1:0", Store: st, Logger: quiet,
		Info: func() netio.Stream {
			return netio.Stream{Name: "Test", RTSPPort: 8554, RTSPPath: "/live", HTTPPort: 8080}
		}}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		c.Serve(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return c
}

// feed runs the test pattern into s until the test ends.
func feed(t testing.TB, s *Server, size capture.Size, fps int) {
	t.Helper()
	src := &pattern.Source{Size: size, FPS: fps, Quality: 80, Workers: 1}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var seq uint64
	wg.Go(func() {
		src.Run(ctx, func(f capture.Frame) {
			seq++
			s.WriteFrame(seq, f.Captured, f.JPEG)
		})
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func get(t testing.TB, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func dialWS(t testing.TB, ctx context.Context, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func wsURL(base, path string) string { return "ws" + strings.TrimPrefix(base, "http") + path }

func checkSecurityHeaders(t *testing.T, what string, h http.Header, host string) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:",
		"connect-src 'self' ws://" + host + " wss://" + host, "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, d)
		}
	}
}

func TestEndpoints(t *testing.T) {
	w := startWeb(t, func(s *Server) {
		s.Status = func() Status {
			return Status{Name: "Cam", Source: "Test pattern", Width: 320, Height: 240, FPS: 30, Live: true, Frames: 7,
				Readers: Readers{RTSP: 2}, ChatClients: 3}
		}
	})
	host := strings.TrimPrefix(w.base, "http://")

	// Before the first frame: no snapshot, not healthy.
	for _, p := range []string{"/snapshot.jpg", "/healthz"} {
		resp, body := get(t, w.base+p)
		if resp.StatusCode != http.StatusServiceUnavailable || len(body) == 0 {
			t.Errorf("%s before a frame: %d %q, want 503 with a reason", p, resp.StatusCode, body)
		}
		checkSecurityHeaders(t, p, resp.Header, host)
	}

	feed(t, w.Server, capture.Size{W: 320, H: 240}, 30)
	deadline := time.Now().Add(5 * time.Second)
	for w.full.latest.Load() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	resp, body := get(t, w.base+"/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("<html")) {
		t.Errorf("/: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	checkSecurityHeaders(t, "/", resp.Header, host)
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("ETag") == "" {
		t.Errorf("/: Cache-Control %q ETag %q", resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
	}
	resp2, _ := get(t, w.base+"/", "If-None-Match", resp.Header.Get("ETag"))
	if resp2.StatusCode != http.StatusNotModified {
		t.Errorf("/ with its ETag: %d, want 304", resp2.StatusCode)
	}

	resp, body = get(t, w.base+"/snapshot.jpg")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("/snapshot.jpg: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, _, ok := decodePattern(t, body); !ok {
		t.Error("/snapshot.jpg: no frame number in the pattern")
	}

	resp, body = get(t, w.base+"/healthz")
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}

	resp, body = get(t, w.base+"/state")
	var st map[string]any
	if err := json.Unmarshal(body, &st); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/state: %v %s %q", err, resp.Header.Get("Content-Type"), body)
	}
	for _, k := range []string{"name", "source", "width", "height", "fps", "live", "frames", "readers", "chat_clients", "http_url"} {
		if _, ok := st[k]; !ok {
			t.Errorf("/state lacks %q: %s", k, body)
		}
	}
	if st["http_url"] != w.base+"/" || st["chat_clients"] != 3.0 || st["readers"].(map[string]any)["rtsp"] != 2.0 {
		t.Errorf("/state: %s", body)
	}

	resp, _ = get(t, w.base+"/nothing-here")
	if resp.StatusCode != 404 {
		t.Errorf("/nothing-here: %d", resp.StatusCode)
	}
	checkSecurityHeaders(t, "404", resp.Header, host)

	// A Host that would extend the CSP is refused.
	resp, _ = get(t, w.base+"/", "Host", "evil.example; script-src *")
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(resp.Header.Get("Content-Security-Policy"), "evil") {
		t.Errorf("bad Host: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
}

func TestValidHost(t *testing.T) {
	for host, want := range map[string]bool{
		"pi.local:8080": true, "127.0.0.1:8080": true, "[::1]:8080": true, "kitchen-cam.local": true, "[fe80::1%eth0]:80": false,
		"": false, "a b": false, "x;y": false, "x:80:90": false, "::1": false, "x:": false, "x:99999999": false, "x..y": false,
	} {
		if got := validHost(host); got != want {
			t.Errorf("validHost(%q) = %v, want %v", host, got, want)
		}
	}
}

// decodePattern decodes a JPEG of the test pattern and reads its frame
// number.
func decodePattern(t testing.TB, b []byte) (image.Image, uint32, bool) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("frame does not decode: %v", err)
	}
	r := img.Bounds()
	gray := make([]byte, r.Dx()*r.Dy())
	switch y := img.(type) {
	case *image.YCbCr:
		for row := 0; row < r.Dy(); row++ {
			copy(gray[row*r.Dx():], y.Y[row*y.YStride:row*y.YStride+r.Dx()])
		}
	case *image.Gray:
		for row := 0; row < r.Dy(); row++ {
			copy(gray[row*r.Dx():], y.Pix[row*y.Stride:row*y.Stride+r.Dx()])
		}
	default:
		t.Fatalf("frame decodes to %T", img)
	}
	seq, _, ok := pattern.Read(gray, r.Dx(), r.Dy())
	return img, seq, ok
}

// videoMessage checks one /ws/video message and returns its header.
func videoMessage(t testing.TB, typ websocket.MessageType, b []byte) (seq uint64, captured time.Time, jpegBytes []byte) {
	t.Helper()
	if typ != websocket.MessageBinary || len(b) < headerLen {
		t.Fatalf("video message: type %v, %d bytes", typ, len(b))
	}
	return binary.BigEndian.Uint64(b[0:8]), time.UnixMicro(int64(binary.BigEndian.Uint64(b[8:16]))), b[headerLen:]
}

func TestVideoDeliversNewestFrames(t *testing.T) {
	w := startWeb(t, nil)
	feed(t, w.Server, capture.Size{W: 320, H: 240}, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(w.base, "/ws/video"), nil)
	c.SetReadLimit(1 << 20)
	var lastSeq uint64
	var lastPattern uint32
	first := true
	for i := 0; i < 30; i++ {
		typ, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seq, captured, jpg := videoMessage(t, typ, b)
		if seq <= lastSeq {
			t.Fatalf("sequence %d after %d", seq, lastSeq)
		}
		if age := time.Since(captured); age < 0 || age > 5*time.Second {
			t.Errorf("capture time %v is %v old", captured, age)
		}
		img, n, ok := decodePattern(t, jpg)
		if img.Bounds().Dx() != 320 || img.Bounds().Dy() != 240 {
			t.Errorf("frame is %v", img.Bounds())
		}
		if !ok || !first && n <= lastPattern {
			t.Fatalf("pattern frame number %d (read: %v) after %d", n, ok, lastPattern)
		}
		lastSeq, lastPattern, first = seq, n, false
	}
	if w.Viewers() != 1 {
		t.Errorf("Viewers() = %d, want 1", w.Viewers())
	}
	// The page sends nothing: a data message closes the socket.
	c.Write(ctx, websocket.MessageText, []byte("hi"))
	if _, _, err := readUntilClosed(ctx, c); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("after a message from the page: %v, want close 1008", err)
	}
}

// readUntilClosed reads (discarding) until the socket ends and returns its
// close error.
func readUntilClosed(ctx context.Context, c *websocket.Conn) (int, []byte, error) {
	n := 0
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			return n, b, err
		}
		n++
	}
}

func TestForeignOriginRefused(t *testing.T) {
	w := startWeb(t, func(s *Server) { s.Chat = startChat(t) })
	for _, p := range []string{"/ws/video", "/ws/chat"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := websocket.Dial(ctx, wsURL(w.base, p),
			&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Errorf("%s with a foreign Origin: %v, HTTP %d; want 403", p, err, code)
		}
		// The page's own origin is welcome.
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		c, _, err := websocket.Dial(ctx, wsURL(w.base, p), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {w.base}}})
		cancel()
		if err != nil {
			t.Errorf("%s from the page's origin: %v", p, err)
		} else {
			c.CloseNow()
		}
	}
}
