// Package capture defines where frames come from: a Source delivers JPEG
// frames, whatever the camera or generator behind it produces. It knows
// nothing of networks.
//
// Each kind of source lives in its own sub-package:
//
//   - capture/pattern: the built-in test pattern, the default without a camera
//   - capture/cvsource: GoCV (OpenCV) VideoCapture: device index, file, GStreamer pipeline
//   - capture/v4l2: V4L2 through go4vl, MJPEG pass-through and raw encode
//   - capture/mjpegfile: an MJPEG or MJPEG-in-AVI file, looped byte for byte
//
// Raw pixels become JPEG in capture/encode, a worker pool that keeps frame
// order; Pool.Feed is how every source starts it.
package capture

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Frame is one JPEG picture. Its JPEG is read-only to everyone: the source
// never writes to the slice again once it has emitted it, and receivers
// never write to it at all, for a source may hand out the same bytes again
// (capture/mjpegfile gives out slices of a file held in memory, every loop
// the same ones). A receiver that must change a picture copies it.
type Frame struct {
	JPEG     []byte
	Seq      uint64    // increases by one per frame the source produced; a gap means frames were dropped
	Captured time.Time // when the pixels were captured (or generated)
	Width    int
	Height   int
}

// Emit receives frames from a source. It is called from one goroutine at a
// time, in frame order, and must return quickly: a slow Emit slows capture.
type Emit func(Frame)

// Source produces frames until its context ends or it fails. Whoever
// opened it owns it: it calls Run, then Close once Run has returned (or
// instead of Run, when it never starts).
type Source interface {
	// Name describes the source for people, e.g. the camera's model.
	Name() string
	// Run delivers frames to emit. It returns nil when ctx ends, and an
	// error when the source fails (device gone, end of file, …). It
	// returns only after its last emit.
	Run(ctx context.Context, emit Emit) error
	// Close releases what opening the source took (a device, a child
	// process). It is called once.
	Close() error
}

// Kind names a family of sources in a --source spec.
type Kind string

// The kinds of source a Spec can name.
const (
	KindAuto    Kind = "auto"
	KindPattern Kind = "pattern"
	KindV4L2    Kind = "v4l2"
	KindGoCV    Kind = "gocv"
	KindFile    Kind = "file"
)

// Spec is a parsed --source value: auto, pattern, v4l2:/dev/videoN,
// gocv:INDEX, gocv:FILE, gocv:gst:PIPELINE or file:PATH.
type Spec struct {
	Kind Kind
	// Arg is the device path (v4l2), the index, file or "gst:PIPELINE"
	// (gocv), or the MJPEG file (file).
	Arg string
}

func (s Spec) String() string {
	if s.Arg == "" {
		return string(s.Kind)
	}
	return string(s.Kind) + ":" + s.Arg
}

// ErrBadSpec is wrapped by ParseSpec's errors.
var ErrBadSpec = errors.New("invalid source")

// ParseSpec parses a --source value.
func ParseSpec(s string) (Spec, error) {
	kind, arg, _ := strings.Cut(s, ":")
	switch Kind(kind) {
	case KindAuto, KindPattern:
		if arg != "" {
			return Spec{}, fmt.Errorf("%w %q: %s takes no argument", ErrBadSpec, s, kind)
		}
		return Spec{Kind: Kind(kind)}, nil
	case KindV4L2:
		if !strings.HasPrefix(arg, "/") {
			return Spec{}, fmt.Errorf("%w %q: want v4l2:/dev/videoN", ErrBadSpec, s)
		}
		return Spec{Kind: KindV4L2, Arg: arg}, nil
	case KindGoCV:
		if arg == "" || arg == "gst:" {
			return Spec{}, fmt.Errorf("%w %q: want gocv:INDEX, gocv:FILE or gocv:gst:PIPELINE", ErrBadSpec, s)
		}
		return Spec{Kind: KindGoCV, Arg: arg}, nil
	case KindFile:
		if arg == "" {
			return Spec{}, fmt.Errorf("%w %q: want file:PATH (an .mjpeg stream or an MJPEG AVI)", ErrBadSpec, s)
		}
		return Spec{Kind: KindFile, Arg: arg}, nil
	}
	return Spec{}, fmt.Errorf("%w %q: want auto, pattern, v4l2:/dev/videoN, gocv:INDEX, gocv:FILE, gocv:gst:PIPELINE or file:PATH", ErrBadSpec, s)
}

// Size is a frame size in pixels.
type Size struct{ W, H int }

func (s Size) String() string { return strconv.Itoa(s.W) + "x" + strconv.Itoa(s.H) }

// Limits of RTP/JPEG (RFC 2435): width and height travel in units of 8
// pixels in one byte each.
const (
	MaxSide  = 2040
	SideStep = 8
)

// ParseSize parses WxH, e.g. 1280x720. Both sides must be multiples of 8 up
// to 2040, the limits of RTP/JPEG.
func ParseSize(s string) (Size, error) {
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if !ok || errW != nil || errH != nil {
		return Size{}, fmt.Errorf("invalid size %q: want WIDTHxHEIGHT, e.g. 1280x720", s)
	}
	sz := Size{w, h}
	if w < 16 || h < 16 || w > MaxSide || h > MaxSide || w%SideStep != 0 || h%SideStep != 0 {
		return Size{}, fmt.Errorf("invalid size %s: width and height must be multiples of %d from 16 to %d (RTP/JPEG limits)", sz, SideStep, MaxSide)
	}
	return sz, nil
}
