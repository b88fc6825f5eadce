package v4l2

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/vladimirvivien/go4vl/v4l2"
)

const (
	// driverBuffers is how many buffers we ask the driver for: enough for
	// the encoders to hold some while the camera fills the others.
	driverBuffers = 6
	// stallTimeout: a camera silent this long is reported as stalled, so
	// the caller reopens it.
	stallTimeout = 2 * time.Second
	// firstFrameTimeout is longer: USB cameras settle their exposure
	// before the first frame.
	firstFrameTimeout = 5 * time.Second
	// pollSlice bounds how long the loop waits before it looks at its
	// context again.
	pollSlice = 100 * time.Millisecond
)

// Source is an open V4L2 capture device. Run streams it; Close releases it.
// Its controls and sizes may be read and set from other goroutines while
// Run streams.
type Source struct {
	path   string
	fd     uintptr
	info   DeviceInfo
	format v4l2.PixFormat
	fps    int
	cfg    Config
	log    *slog.Logger

	// ctl serialises control requests with each other and with Close, so
	// none reaches a closed (and perhaps reused) file descriptor.
	ctl    sync.Mutex
	closed bool
}

// Open opens the capture node at path and sets its format: JPEG if the
// camera offers it, else the best raw format, at cfg.Size and cfg.FPS when
// given. It logs what the driver granted. Its errors wrap ErrNotCapture,
// ErrBusy or ErrNoFormat when those are the cause.
func Open(path string, cfg Config, log *slog.Logger) (*Source, error) {
	if cfg.Quality == 0 {
		cfg.Quality = 80
	}
	if cfg.Quality < 1 || cfg.Quality > 100 {
		return nil, fmt.Errorf("v4l2 %s: jpeg quality %d out of range 1-100", path, cfg.Quality)
	}
	if st, err := os.Stat(path); err == nil && st.Mode()&os.ModeCharDevice == 0 {
		return nil, fmt.Errorf("%s: %w (not a character device)", path, ErrNotCapture)
	}
	fd, err := openNode(path)
	if err != nil {
		return nil, err
	}
	s := &Source{path: path, fd: fd, cfg: cfg, log: log}
	if err := s.negotiate(); err != nil {
		v4l2.CloseDevice(fd)
		return nil, err
	}
	return s, nil
}

// negotiate picks and sets the pixel format, size and rate.
func (s *Source) negotiate() error {
	info, offered, err := describe(s.fd, s.path)
	if err != nil {
		return err
	}
	s.info = info
	cands := candidates(offered)
	if s.cfg.PixelFormat != "" {
		cands = forced(cands, s.cfg.PixelFormat)
	}
	if len(cands) == 0 {
		return fmt.Errorf("%s (%s): %w: it offers %s; lsbroadcast takes %s", s.path, info.Card, ErrNoFormat,
			formatList(offered), formatList(candidates(allWanted())))
	}
	cur, err := v4l2.GetPixFormat(s.fd)
	if err != nil {
		return fmt.Errorf("%s: read format: %w", s.path, err)
	}
	want := s.cfg.Size
	if want == (capture.Size{}) {
		want = capture.Size{W: int(cur.Width), H: int(cur.Height)}
	}
	// The first format (by preference) granted at the wanted size wins;
	// failing that, the first one granted at all.
	var first *v4l2.PixFormat
	var lastErr error
	for _, code := range cands {
		got, err := s.setFormat(code, want)
		if errors.Is(err, ErrBusy) {
			return err
		}
		if err != nil {
			lastErr = err
			continue
		}
		if got.Width == uint32(want.W) && got.Height == uint32(want.H) {
			first = &got
			break
		}
		if first == nil {
			first = &got
		}
	}
	if first == nil {
		return fmt.Errorf("%s (%s): %w: the driver refused %s: %v", s.path, info.Card, ErrNoFormat, formatList(cands), lastErr)
	}
	if s.format, err = s.setFormat(first.PixelFormat, capture.Size{W: int(first.Width), H: int(first.Height)}); err != nil {
		return err
	}
	granted := capture.Size{W: int(s.format.Width), H: int(s.format.Height)}
	if granted.W <= 0 || granted.H <= 0 {
		return fmt.Errorf("%s (%s): %w: the driver granted an empty %v frame", s.path, info.Card, ErrNoFormat, granted)
	}
	s.fps = s.setRate()
	mode := "pass-through"
	if !passThrough(s.format.PixelFormat) {
		mode = "encode"
	}
	s.log.Info("v4l2 camera opened", "device", s.path, "card", info.Card, "driver", info.Driver,
		"format", fourccString(s.format.PixelFormat), "mode", mode, "size", granted.String(), "fps", s.fps)
	if s.cfg.Size != (capture.Size{}) && granted != s.cfg.Size {
		s.log.Warn("v4l2 driver granted another size than asked", "device", s.path, "asked", s.cfg.Size.String(), "granted", granted.String())
	}
	if s.cfg.FPS > 0 && s.fps != s.cfg.FPS {
		s.log.Warn("v4l2 driver granted another frame rate than asked", "device", s.path, "asked", s.cfg.FPS, "granted", s.fps)
	}
	return nil
}

// forced keeps only the format named (e.g. "YUYV") out of cands.
func forced(cands []v4l2.FourCCType, name string) []v4l2.FourCCType {
	for _, c := range cands {
		if fourccString(c) == name {
			return []v4l2.FourCCType{c}
		}
	}
	return nil
}

func allWanted() []v4l2.FourCCType {
	out := make([]v4l2.FourCCType, len(wanted))
	for i, w := range wanted {
		out[i] = w.code
	}
	return out
}

// setFormat asks for code at size and returns what the driver granted, or
// an error if it granted another pixel format.
func (s *Source) setFormat(code v4l2.FourCCType, size capture.Size) (v4l2.PixFormat, error) {
	err := v4l2.SetPixFormat(s.fd, v4l2.PixFormat{Width: uint32(size.W), Height: uint32(size.H), PixelFormat: code, Field: v4l2.FieldNone})
	if errors.Is(err, syscall.EBUSY) {
		return v4l2.PixFormat{}, fmt.Errorf("%s (%s): %w", s.path, s.info.Card, ErrBusy)
	}
	if err != nil {
		return v4l2.PixFormat{}, fmt.Errorf("%s: set format %s %v: %w", s.path, fourccString(code), size, err)
	}
	got, err := v4l2.GetPixFormat(s.fd)
	if err != nil {
		return v4l2.PixFormat{}, fmt.Errorf("%s: read format: %w", s.path, err)
	}
	if got.PixelFormat != code {
		return v4l2.PixFormat{}, fmt.Errorf("%s: asked for %s, driver set %s", s.path, fourccString(code), fourccString(got.PixelFormat))
	}
	return got, nil
}

// setRate asks for the configured frame rate, if any, and returns the rate
// the driver runs at (0 when it does not say). A driver without a
// settable rate is not an error: it runs at its own.
func (s *Source) setRate() int {
	if s.cfg.FPS > 0 {
		p := v4l2.StreamParam{Capture: v4l2.CaptureParam{TimePerFrame: v4l2.Fract{Numerator: 1, Denominator: uint32(s.cfg.FPS)}}}
		if err := v4l2.SetStreamParam(s.fd, v4l2.BufTypeVideoCapture, p); err != nil {
			s.log.Info("v4l2 driver has no settable frame rate", "device", s.path, "error", err)
		}
	}
	p, err := v4l2.GetStreamParam(s.fd, v4l2.BufTypeVideoCapture)
	if err != nil || p.Capture.TimePerFrame.Numerator == 0 {
		return 0
	}
	return int((p.Capture.TimePerFrame.Denominator + p.Capture.TimePerFrame.Numerator/2) / p.Capture.TimePerFrame.Numerator)
}

// Name is the camera's name (QUERYCAP card), e.g. "HD Pro Webcam C920".
func (s *Source) Name() string { return s.info.Card }

// Info describes the device.
func (s *Source) Info() DeviceInfo { return s.info }

// Format reports what the driver granted: the pixel format's four
// characters, the frame size and the frame rate (0 if unknown).
func (s *Source) Format() (fourcc string, size capture.Size, fps int) {
	return fourccString(s.format.PixelFormat), capture.Size{W: int(s.format.Width), H: int(s.format.Height)}, s.fps
}

// Close releases the device; later control requests fail.
func (s *Source) Close() error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	s.closed = true
	if err := v4l2.CloseDevice(s.fd); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}
