package viewer

import (
	"bytes"
	"image"
	"image/jpeg"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// ladderServer serves a picture at /live and smaller ones at renditions
// named in every DESCRIBE answer, as an lsbroadcast with a ladder does, at
// 30 fps on loopback; each rung's pictures can be stopped, and its playing
// sessions are counted. A stand-in for the real server, so the session's
// switching is tested where every rung's behaviour is the test's to set.
type ladderServer struct {
	addr  string
	srv   *gortsplib.Server
	rungs map[string]*testRung // by path
	names string               // the renditions header
	stop  chan struct{}
	done  sync.WaitGroup
}

type testRung struct {
	path    string
	w, h    int
	stream  *gortsplib.ServerStream
	media   *description.Media
	enc     *rtpmjpeg.Encoder
	jpeg    []byte
	paused  atomic.Bool
	playing atomic.Int32
}

// Sizes of the test ladder: RTP/JPEG carries sides in multiples of 8.
var ladderSizes = map[string][2]int{"/live": {640, 384}, "/live/half": {320, 192}, "/live/quarter": {160, 96}}

// startLadderServer serves /live and the renditions named (half, quarter).
func startLadderServer(t *testing.T, renditions ...string) *ladderServer {
	t.Helper()
	s := &ladderServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))),
		rungs: map[string]*testRung{}, stop: make(chan struct{})}
	var names []string
	paths := []string{"/live"}
	for _, n := range renditions {
		names = append(names, n+"=/live/"+n)
		paths = append(paths, "/live/"+n)
	}
	s.names = strings.Join(names, ", ")
	s.srv = &gortsplib.Server{Handler: s, RTSPAddress: s.addr}
	if err := s.srv.Start(); err != nil {
		t.Fatalf("ladder test server: %v", err)
	}
	for _, p := range paths {
		size := ladderSizes[p]
		m := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{&format.MJPEG{}}}
		r := &testRung{path: p, w: size[0], h: size[1], media: m,
			stream: &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{m}}},
			enc:    &rtpmjpeg.Encoder{PayloadMaxSize: 1400}, jpeg: testJPEG(t, size[0], size[1])}
		if err := r.stream.Initialize(); err != nil {
			t.Fatal(err)
		}
		if err := r.enc.Init(); err != nil {
			t.Fatal(err)
		}
		s.rungs[p] = r
	}
	s.done.Add(1)
	go s.run()
	t.Cleanup(func() {
		close(s.stop)
		s.done.Wait()
		for _, r := range s.rungs {
			r.stream.Close()
		}
		s.srv.Close()
	})
	return s
}

func (s *ladderServer) url() string { return "rtsp://" + s.addr + "/live" }

// run sends a picture on every rung not paused, 30 times a second, with
// one RTP clock for all, as the real server does.
func (s *ladderServer) run() {
	defer s.done.Done()
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-tick.C:
			ts := uint32(now.Sub(start).Seconds() * 90000)
			for _, r := range s.rungs {
				if r.paused.Load() {
					continue
				}
				pkts, err := r.enc.Encode(r.jpeg)
				if err != nil {
					panic(err)
				}
				for _, p := range pkts {
					p.Timestamp = ts
					_ = r.stream.WritePacketRTP(r.media, p)
				}
			}
		}
	}
}

func (s *ladderServer) rung(path string) (*testRung, *base.Response) {
	r, ok := s.rungs[path]
	if !ok {
		return nil, &base.Response{StatusCode: base.StatusNotFound}
	}
	return r, nil
}

func (s *ladderServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	h := base.Header{}
	if s.names != "" {
		h[renditionsHeader] = base.HeaderValue{s.names}
	}
	r, res := s.rung(ctx.Path)
	if r == nil {
		res.Header = h
		return res, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK, Header: h}, r.stream, nil
}

func (s *ladderServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	r, res := s.rung(ctx.Path)
	if r == nil {
		return res, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, r.stream, nil
}

func (s *ladderServer) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if r, _ := s.rung(ctx.Path); r != nil {
		ctx.Session.SetUserData(r)
		r.playing.Add(1)
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *ladderServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if r, ok := ctx.Session.UserData().(*testRung); ok {
		r.playing.Add(-1)
	}
}

// playing is how many sessions play each rung now, by path.
func (s *ladderServer) playing() map[string]int {
	m := map[string]int{}
	for p, r := range s.rungs {
		m[p] = int(r.playing.Load())
	}
	return m
}

// testJPEG is a w×h 4:2:0 picture, the kind RTP/JPEG carries.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = byte(i * 7)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 70}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
