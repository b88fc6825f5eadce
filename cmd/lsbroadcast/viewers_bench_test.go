package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/coder/websocket"
	"github.com/pion/rtp"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// viewerFarmEnv makes the test binary a farm of viewers in its own
// process, so the CPU the viewers burn is never counted as the
// broadcaster's. The value is "KIND N URL", KIND rtsp (over UDP),
// rtsp-tcp or web.
const viewerFarmEnv = "LSB_VIEWER_FARM"

// webViewersPerAddr: the farm's web viewers come from 127.0.0.2,
// 127.0.0.3, … this many each, under the web server's default share of
// video sockets per address (web.DefaultMaxVideoPerAddress, 32), which
// has no flag: 64 viewers are four machines' worth, not one.
const webViewersPerAddr = 16

// BenchmarkViewers runs lsbroadcast on the 1280×720 30 fps test pattern
// with N viewers of one kind, RTSP readers (gortsplib over UDP) or web
// viewers (WebSocket clients of /ws/video), all in a farm in another
// process, and reports the broadcaster's CPU per captured frame and its
// resident memory, rendering and encoding the pattern included (viewers=0
// is that base). Kinds alternate within a run, so read them side by side.
func BenchmarkViewers(b *testing.B) {
	b.Run("viewers=0", func(b *testing.B) { benchViewers(b, "", 0) })
	for _, n := range []int{1, 16, 64} {
		for _, kind := range []string{"rtsp", "web"} {
			b.Run(fmt.Sprintf("viewers=%d/kind=%s", n, kind), func(b *testing.B) { benchViewers(b, kind, n) })
		}
	}
}

func benchViewers(b *testing.B, kind string, n int) {
	bc := startBroadcaster(b, "127.0.0.1", nil, "--source", "pattern", "--size", "1280x720", "--fps", "30",
		"--rtsp-max-per-address", "64") // every RTSP reader is on 127.0.0.1
	testenv.WaitPort(b, strings.TrimPrefix(bc.HTTPBase, "http://"), 10*time.Second)
	var mark func() int64
	if n > 0 {
		url := bc.URL
		if kind == "web" {
			url = "ws" + strings.TrimPrefix(bc.HTTPBase, "http") + "/ws/video"
		}
		mark = startViewerFarm(b, kind, n, url)
		st := state(b, bc.HTTPBase)
		if got := map[string]int{"rtsp": st.Readers.RTSP, "web": st.Readers.Web}[kind]; got != n {
			b.Fatalf("/state counts %d %s viewers, want %d", got, kind, n)
		}
	}
	time.Sleep(time.Second) // every viewer past its first frames
	pid := bc.Cmd.Process.Pid
	frames0, got0 := state(b, bc.HTTPBase).Frames, int64(0)
	if mark != nil {
		got0 = mark()
	}
	cpu0 := testenv.TreeCPUTime(pid)
	for b.Loop() {
		time.Sleep(100 * time.Millisecond)
	}
	cpu1 := testenv.TreeCPUTime(pid)
	rss := testenv.TreeRSS(pid)
	frames := state(b, bc.HTTPBase).Frames - frames0
	if frames == 0 {
		b.Fatal("no frames captured in the window")
	}
	b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(frames), "cpu-ms/frame")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "fps")
	if mark != nil {
		// Complete frames the viewers got over the frames captured: the
		// web's newest-frame-only sockets may skip, RTSP over UDP may lose.
		b.ReportMetric(float64(mark()-got0)/float64(int64(frames)*int64(n)), "delivered")
	}
}

// state reads the broadcaster's /state.
func state(t testing.TB, base string) struct {
	Frames  uint64
	Readers struct{ RTSP, Web int }
} {
	t.Helper()
	var st struct {
		Frames  uint64
		Readers struct{ RTSP, Web int }
	}
	resp, err := http.Get(base + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("/state: %v", err)
	}
	return st
}

// startViewerFarm starts n viewers of kind on url in a child process and
// returns once each has a frame. mark returns the frames they have
// received so far, in all. The farm ends with the benchmark.
func startViewerFarm(b *testing.B, kind string, n int, url string) (mark func() int64) {
	b.Helper()
	cmd := testenv.Child(viewerFarmEnv, fmt.Sprintf("%s %d %s", kind, n, url))
	stdin, err1 := cmd.StdinPipe()
	stdout, err2 := cmd.StdoutPipe()
	if err := errors.Join(err1, err2); err != nil {
		b.Fatal(err)
	}
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // the farm's signal to end
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	ready := make(chan bool, 1)
	go func() { ready <- sc.Scan() && sc.Text() == "ready" }()
	select {
	case ok := <-ready:
		if !ok {
			b.Fatalf("viewer farm failed: %s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		b.Fatalf("viewer farm not ready in 60 s: %s", stderr.String())
	}
	return func() int64 {
		if _, err := io.WriteString(stdin, "mark\n"); err != nil {
			b.Fatal(err)
		}
		if !sc.Scan() {
			b.Fatalf("viewer farm ended: %s", stderr.String())
		}
		v, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
}

// viewerFarm is the farm's main: "KIND N URL". It prints "ready" once
// every viewer has a frame, the frames received in all for each "mark"
// line on its input, and ends when its input closes.
func viewerFarm(spec string) int {
	f := strings.Fields(spec)
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "viewer farm: bad spec %q\n", spec)
		return 2
	}
	kind, url := f[0], f[2]
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 1 {
		fmt.Fprintf(os.Stderr, "viewer farm: bad count %q\n", f[1])
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counts := make([]atomic.Int64, n)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		var err error
		switch kind {
		case "rtsp", "rtsp-tcp":
			var c *gortsplib.Client
			if c, err = playRTSP(url, kind == "rtsp-tcp", &counts[i]); err == nil {
				wg.Go(func() {
					<-ctx.Done()
					c.Close()
				})
			}
		case "web":
			var ws *websocket.Conn
			local := net.IPv4(127, 0, 0, byte(2+i/webViewersPerAddr))
			if ws, err = dialVideo(ctx, url, local); err == nil {
				wg.Go(func() {
					defer ws.CloseNow()
					errs <- readVideo(ctx, ws, &counts[i])
				})
			}
		default:
			err = fmt.Errorf("kind %q", kind)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "viewer farm: viewer %d: %v\n", i, err)
			return 1
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		waiting := 0
		for i := range counts {
			if counts[i].Load() == 0 {
				waiting++
			}
		}
		if waiting == 0 {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "viewer farm: %d of %d viewers without a frame after 30 s\n", waiting, n)
			return 1
		}
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		select {
		case err := <-errs:
			fmt.Fprintln(os.Stderr, "viewer farm: a viewer stopped:", err)
			return 1
		default:
		}
		var total int64
		for i := range counts {
			total += counts[i].Load()
		}
		fmt.Println(total)
	}
	return 0
}

// dialVideo opens /ws/video from the local address given. No Origin
// header is sent, as from any non-browser client.
func dialVideo(ctx context.Context, url string, local net.IP) (*websocket.Conn, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", url, local, err)
	}
	ws.SetReadLimit(16 << 20) // a frame is one message: far above a 1080p JPEG
	return ws, nil
}

// readVideo counts each frame of ws, reading it through without keeping
// it (the header and the JPEG, as a page reads them before drawing).
func readVideo(ctx context.Context, ws *websocket.Conn, count *atomic.Int64) error {
	for {
		_, r, err := ws.Reader(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		count.Add(1)
	}
}

// playRTSP plays url over UDP (as ffmpeg does in BenchmarkReaders) and
// counts its complete frames.
func playRTSP(url string, overTCP bool, count *atomic.Int64) (*gortsplib.Client, error) {
	u, err := base.ParseURL(url)
	if err != nil {
		return nil, err
	}
	proto := gortsplib.ProtocolUDP
	if overTCP {
		proto = gortsplib.ProtocolTCP
	}
	// A 720p frame is a burst of about 100 datagrams: the kernel's default
	// socket buffer overflows when a reader lags. Same size as GStreamer's
	// rtspsrc (and lsbench's farm).
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &proto, UDPReadBufferSize: 0x80000}
	if err := c.Start(); err != nil {
		return nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("describe %s: %w", url, err)
	}
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if medi == nil {
		c.Close()
		return nil, errors.New("no M-JPEG in " + url)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, fmt.Errorf("setup %s: %w", url, err)
	}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if _, err := dec.Decode(pkt); err == nil {
			count.Add(1)
		}
	})
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, fmt.Errorf("play %s: %w", url, err)
	}
	return c, nil
}
