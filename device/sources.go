package device

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/mjpegfile"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/capture/subproc"
	"github.com/lsbroadcast/lsbroadcast/capture/v4l2"
)

// opener opens the configured source. Open is called at start and again
// after the source fails, so a camera that comes back is picked up.
type opener struct {
	cfg *Config
	pic func() picture // size, rate and quality asked for now
	log *slog.Logger
}

// open returns a ready source; its Close releases it. Under --source
// auto, the test pattern stands in for a missing camera only when
// withPattern is set: once a camera was seen, its absence is a slate.
func (o opener) open(withPattern bool) (capture.Source, error) {
	switch o.cfg.Source.Kind {
	case capture.KindPattern:
		return o.pattern(), nil
	case capture.KindGoCV:
		return o.gocv(o.cfg.Source.Arg)
	case capture.KindV4L2:
		return o.v4l2(o.cfg.Source.Arg)
	case capture.KindFile:
		return mjpegfile.Open(o.cfg.Source.Arg, o.pic().FPS)
	case capture.KindAuto:
		return o.auto(withPattern)
	}
	return nil, fmt.Errorf("source kind %q not supported", o.cfg.Source.Kind)
}

func (o opener) pattern() capture.Source {
	p := o.pic()
	return &pattern.Source{Size: p.Size, FPS: p.FPS, Quality: p.Quality}
}

// cvHelper is the OpenCV helper program, installed beside lsbroadcast.
const cvHelper = "lsbroadcast-cv"

// gocv runs the OpenCV capture in the helper process, so lsbroadcast itself
// never loads OpenCV.
func (o opener) gocv(arg string) (capture.Source, error) {
	exe, err := subproc.Executable(cvHelper)
	if err != nil {
		return nil, fmt.Errorf("gocv:%s: %w", arg, err)
	}
	p := o.pic()
	argv := []string{exe, "--fps", strconv.Itoa(p.FPS), "--quality", strconv.Itoa(p.Quality)}
	if p.SizeSet {
		argv = append(argv, "--size", p.Size.String())
	}
	return subproc.Start(append(argv, arg))
}

// v4l2 opens a camera with go4vl. When go4vl can open the node but not
// stream it (no format it takes, such as the raw Bayer of a Pi camera on
// unicam), OpenCV gets a try: its GStreamer and V4L2 backends convert more.
func (o opener) v4l2(path string) (capture.Source, error) {
	p := o.pic()
	cfg := v4l2.Config{FPS: p.FPS, Quality: p.Quality}
	if p.SizeSet {
		cfg.Size = p.Size
	}
	src, err := v4l2.Open(path, cfg, o.log.With("device", path))
	if err == nil {
		return src, nil
	}
	idx, isVideo := videoIndex(path)
	if !isVideo || !errors.Is(err, v4l2.ErrNoFormat) {
		return nil, fmt.Errorf("v4l2: %w", err)
	}
	o.log.Info("go4vl cannot stream the camera, trying OpenCV", "device", path, "reason", err)
	cv, cvErr := o.gocv(strconv.Itoa(idx))
	if cvErr != nil {
		return nil, fmt.Errorf("v4l2: %w; OpenCV: %w", err, cvErr)
	}
	return cv, nil
}

// auto tries each capture device in turn and settles for the test pattern,
// logging why each camera was passed over.
func (o opener) auto(withPattern bool) (capture.Source, error) {
	devices, err := v4l2.Enumerate()
	if err != nil {
		o.log.Info("cannot list cameras", "error", err)
	}
	for _, d := range devices {
		src, err := o.v4l2(d.Path)
		if err == nil {
			return src, nil
		}
		o.log.Info("camera passed over", "device", d.Path, "card", d.Card, "reason", err)
	}
	if !withPattern {
		return nil, fmt.Errorf("no usable camera among %d capture devices", len(devices))
	}
	o.log.Info("no usable camera: broadcasting the test pattern")
	return o.pattern(), nil
}

func videoIndex(path string) (int, bool) {
	s, ok := strings.CutPrefix(path, "/dev/video")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}
