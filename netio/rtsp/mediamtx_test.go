package rtsp

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// mediamtxReadTimeout is shorter than MediaMTX's 10 s. A playing UDP
// session outlives it (gortsplib v4's server ends one only after its
// session timeout without RTCP and keep-alives), which the test shows.
const mediamtxReadTimeout = 3 * time.Second

// startMediaMTX runs MediaMTX on loopback with a reader account (viewer,
// secret) offered with authMethod (basic or digest), and publishes the
// test pattern to it until the test ends. It returns the reading URL
// without credentials.
func startMediaMTX(t *testing.T, authMethod string) string {
	t.Helper()
	bin := testenv.MediaMTX(t)
	rtpPort, err := testenv.FreeUDPRun("127.0.0.1", 2)
	if err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	conf := fmt.Sprintf(`logLevel: warn
logDestinations: [stdout]
readTimeout: %s
rtsp: yes
rtspTransports: [udp, tcp]
rtspAddress: 127.0.0.1:%d
rtpAddress: 127.0.0.1:%d
rtcpAddress: 127.0.0.1:%d
rtspAuthMethods: [%s]
rtmp: no
hls: no
webrtc: no
srt: no
api: no
metrics: no
pprof: no
playback: no
authMethod: internal
authInternalUsers:
  - user: pub
    pass: pubpass
    permissions:
      - action: publish
        path: cam
  - user: viewer
    pass: secret
    permissions:
      - action: read
        path: cam
paths:
  cam:
    source: publisher
`, mediamtxReadTimeout, port, rtpPort, rtpPort+1, authMethod)
	file := filepath.Join(t.TempDir(), "mediamtx.yml")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, exec.Command(bin, file))
	host := "127.0.0.1:" + strconv.Itoa(port)
	testenv.WaitPort(t, host, 20*time.Second)

	p := &Publisher{URL: "rtsp://pub:pubpass@" + host + "/cam", Logger: quietLog()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { p.Run(ctx); done <- struct{}{} }()
	go func() {
		src := &pattern.Source{Size: capture.Size{W: 640, H: 360}, FPS: 30, Quality: 80, Workers: 1}
		src.Run(ctx, func(f capture.Frame) {
			p.Offer(f.JPEG, uint32(f.Captured.UnixNano()/1e3*9/100), f.Captured)
		})
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	for deadline := time.Now().Add(20 * time.Second); p.Status().State != PublishPublishing; {
		if time.Now().After(deadline) {
			t.Fatalf("publisher %+v", p.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "rtsp://" + host + "/cam"
}

// TestClientPlaysMediaMTX: the UDP path plays from MediaMTX with Basic and
// Digest credentials, keeps playing past MediaMTX's read timeout, and
// fails, not hangs, with a wrong password.
func TestClientPlaysMediaMTX(t *testing.T) {
	for _, method := range []string{"basic", "digest"} {
		t.Run(method, func(t *testing.T) {
			plain := startMediaMTX(t, method)
			u, _ := url.Parse(plain)
			u.User = url.UserPassword("viewer", "secret")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := &Client{URL: u.String(), Transport: TransportUDP, Logger: quietLog()}
			frames := make(chan Frame, 512)
			errc := make(chan error, 1)
			go func() {
				errc <- c.Run(ctx, func(f Frame) {
					select {
					case frames <- f:
					default:
					}
				})
			}()
			// Past twice the read timeout: frames still come.
			end := time.Now().Add(2*mediamtxReadTimeout + time.Second)
			var last uint32
			n := 0
			for time.Now().Before(end) {
				select {
				case f := <-frames:
					seq := frameNumber(t, f.JPEG)
					if n > 0 && seq <= last {
						t.Fatalf("frame %d after %d", seq, last)
					}
					last = seq
					n++
				case err := <-errc:
					t.Fatalf("client stopped after %d frames: %v", n, err)
				case <-ctx.Done():
					t.Fatalf("%d frames before the deadline", n)
				}
			}
			// The rate from the client's count: decoding each picture here
			// (to check the order) is slower than 30 fps under -race.
			st := c.Stats()
			t.Logf("%d frames decoded in order in %v: %+v", n, 2*mediamtxReadTimeout+time.Second, st)
			if st.Transport != "UDP" || float64(st.Frames) < 0.8*30*(2*mediamtxReadTimeout+time.Second).Seconds() {
				t.Errorf("stats %+v", st)
			}
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("Run after cancel: %v", err)
			}

			u.User = url.UserPassword("viewer", "wrong")
			bad := &Client{URL: u.String(), Transport: TransportUDP, Logger: quietLog(), ReadTimeout: 3 * time.Second}
			bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer bcancel()
			if err := bad.Run(bctx, func(Frame) { t.Error("a frame with a wrong password") }); err == nil || bctx.Err() != nil {
				t.Errorf("wrong password: %v (deadline: %v)", err, bctx.Err())
			}
		})
	}
}
