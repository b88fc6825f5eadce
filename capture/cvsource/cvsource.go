// Package cvsource captures through OpenCV's VideoCapture (GoCV): a device
// index, a video file (looped, paced at its own rate) or a GStreamer
// pipeline such as `libcamerasrc ! videoconvert ! appsink`, which is how the
// Raspberry Pi Camera Module is read on Bookworm.
package cvsource

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/encode"
)

// Source is an open VideoCapture. It is used by one Run at a time; its
// controls may be read and set from other goroutines meanwhile.
type Source struct {
	vc      *gocv.VideoCapture
	name    string
	isFile  bool
	gst     bool
	size    capture.Size // output size
	fps     int          // pacing for files; devices pace themselves
	quality int
	first   gocv.Mat // the frame Open read to prove the source works

	// vcMu keeps control requests off the VideoCapture while Run reads
	// a frame from it (OpenCV's captures are not safe for concurrent
	// use), and away from a closed one.
	vcMu     sync.Mutex
	closed   bool
	v4l2     bool              // OpenCV's V4L2 backend: raw driver values
	controls []capture.Control // the properties the device answered, values as opened
}

// Options are what the broadcaster asks of the source.
type Options struct {
	Size    capture.Size // zero: the source's own size (rounded down to multiples of 8)
	FPS     int          // asked of devices; the pace of a file when it declares none
	Quality int
}

// Open opens arg: an index ("0"), a file path, or "gst:PIPELINE". It
// reads one frame, so a source that opens but delivers nothing fails here.
func Open(arg string, opt Options) (*Source, error) {
	var (
		s   *Source
		err error
	)
	out := quietly(func() { s, err = open(arg, opt) })
	if err != nil {
		if why := reason(out); why != "" {
			return nil, fmt.Errorf("%w: %s", err, why)
		}
		return nil, err
	}
	return s, nil
}

func open(arg string, opt Options) (*Source, error) {
	s := &Source{quality: opt.Quality, fps: opt.FPS}
	var err error
	switch {
	case strings.HasPrefix(arg, "gst:"):
		pipeline := strings.TrimPrefix(arg, "gst:")
		s.name = "GStreamer " + firstElement(pipeline)
		s.gst = true
		s.vc, err = gocv.OpenVideoCaptureWithAPI(pipeline, gocv.VideoCaptureGstreamer)
	default:
		if idx, convErr := strconv.Atoi(arg); convErr == nil {
			s.name = "Camera " + arg
			s.vc, err = gocv.OpenVideoCaptureWithAPI(idx, gocv.VideoCaptureAny)
			if err == nil && s.vc.IsOpened() {
				if opt.Size.W > 0 {
					s.vc.Set(gocv.VideoCaptureFrameWidth, float64(opt.Size.W))
					s.vc.Set(gocv.VideoCaptureFrameHeight, float64(opt.Size.H))
				}
				s.vc.Set(gocv.VideoCaptureFPS, float64(opt.FPS))
				// Latency over completeness: hold one frame, not four.
				s.vc.Set(gocv.VideoCaptureBufferSize, 1)
			}
			break
		}
		if _, statErr := os.Stat(arg); statErr != nil {
			return nil, fmt.Errorf("gocv:%s: %w", arg, statErr)
		}
		s.name = arg
		s.isFile = true
		s.vc, err = gocv.OpenVideoCaptureWithAPI(arg, gocv.VideoCaptureAny)
	}
	if err != nil || s.vc == nil || !s.vc.IsOpened() {
		if s.vc != nil {
			s.vc.Close()
		}
		return nil, fmt.Errorf("gocv:%s: OpenCV cannot open it", arg)
	}
	if s.isFile {
		if f := s.vc.Get(gocv.VideoCaptureFPS); f >= 1 && f <= 240 {
			s.fps = int(f + 0.5)
		}
	}
	s.first = gocv.NewMat()
	if !s.vc.Read(&s.first) || s.first.Empty() {
		s.Close()
		return nil, fmt.Errorf("gocv:%s: opened but delivers no frames", arg)
	}
	if s.first.Channels() != 3 {
		ch := s.first.Channels()
		s.Close()
		return nil, fmt.Errorf("gocv:%s: frames have %d channels, want 3 (BGR)", arg, ch)
	}
	s.size = opt.Size
	if s.size.W == 0 {
		s.size = fitSize(s.first.Cols(), s.first.Rows())
	}
	s.probeControls()
	return s, nil
}

// fitSize rounds a native size down to what RTP/JPEG carries.
func fitSize(w, h int) capture.Size {
	if w > capture.MaxSide || h > capture.MaxSide {
		scale := float64(capture.MaxSide) / float64(max(w, h))
		w, h = int(float64(w)*scale), int(float64(h)*scale)
	}
	return capture.Size{W: w &^ (capture.SideStep - 1), H: h &^ (capture.SideStep - 1)}
}

func firstElement(pipeline string) string {
	f := strings.Fields(pipeline)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// Name implements capture.Source.
func (s *Source) Name() string { return s.name }

var _ capture.Source = (*Source)(nil)

// Size is the size of the frames Run delivers.
func (s *Source) Size() capture.Size { return s.size }

// Close implements capture.Source: it releases the capture. Run must have
// returned.
func (s *Source) Close() error {
	s.vcMu.Lock()
	defer s.vcMu.Unlock()
	s.closed = true
	s.first.Close()
	return s.vc.Close()
}

// Run implements capture.Source. A file restarts at its end; a device or
// pipeline that stops delivering frames ends Run with an error.
func (s *Source) Run(ctx context.Context, emit capture.Emit) error {
	const bufs = 4
	free := make(chan *gocv.Mat, bufs)
	for range bufs {
		m := gocv.NewMat()
		free <- &m
	}
	// Feed returns once the pool let go of every Mat.
	defer func() {
		for range bufs {
			m := <-free
			m.Close()
		}
	}()
	raw := gocv.NewMat()
	defer raw.Close()
	return encode.Pool{Quality: s.quality}.Feed(ctx, emit, func(ctx context.Context, send encode.Send) error {
		start := time.Now()
		for seq := uint64(0); ctx.Err() == nil; seq++ {
			frame, err := s.read(seq, &raw)
			if err != nil {
				return err
			}
			captured := time.Now()
			var dst *gocv.Mat
			select {
			case <-ctx.Done():
				return nil
			case dst = <-free:
			}
			if frame.Cols() != s.size.W || frame.Rows() != s.size.H {
				gocv.Resize(*frame, dst, image.Pt(s.size.W, s.size.H), 0, 0, gocv.InterpolationArea)
			} else {
				frame.CopyTo(dst)
			}
			pix, ptrErr := dst.DataPtrUint8()
			if ptrErr != nil || !dst.IsContinuous() {
				free <- dst
				return errors.Join(fmt.Errorf("%s: frame memory not contiguous", s.name), ptrErr)
			}
			if !send(encode.Job{
				Raw:      encode.Raw{Format: encode.BGR, Width: s.size.W, Height: s.size.H, Stride: 3 * s.size.W, Pix: pix},
				Seq:      seq,
				Captured: captured,
				Done:     func() { free <- dst },
			}) {
				return nil
			}
			if s.isFile && s.fps > 0 {
				next := start.Add(time.Duration(seq+1) * time.Second / time.Duration(s.fps))
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Until(next)):
				}
			}
		}
		return nil
	})
}

// read returns frame seq: the one Open read first, else the next one into
// raw. A file starts over at its end.
func (s *Source) read(seq uint64, raw *gocv.Mat) (*gocv.Mat, error) {
	if seq == 0 {
		return &s.first, nil
	}
	s.vcMu.Lock()
	defer s.vcMu.Unlock()
	if s.vc.Read(raw) && !raw.Empty() {
		return raw, nil
	}
	if !s.isFile {
		return nil, fmt.Errorf("%s: capture stopped delivering frames", s.name)
	}
	s.vc.Set(gocv.VideoCapturePosFrames, 0)
	if !s.vc.Read(raw) || raw.Empty() {
		return nil, fmt.Errorf("%s: cannot restart the file", s.name)
	}
	return raw, nil
}
