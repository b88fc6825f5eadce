package cvsource

import (
	"errors"
	"fmt"
	"math"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

var _ capture.Controller = (*Source)(nil)

// property is a VideoCapture property offered as a control. OpenCV does
// not say a property's range, so min and max are wide enough for the
// usual drivers (UVC's raw values through OpenCV's V4L2 backend); the
// driver clamps what it cannot take, and the value read back says so.
type property struct {
	key, name string
	id        gocv.VideoCaptureProperties
	kind      capture.ControlKind
	min, max  int64
}

var properties = []property{
	{"brightness", "Brightness", gocv.VideoCaptureBrightness, capture.KindInt, -255, 255},
	{"contrast", "Contrast", gocv.VideoCaptureContrast, capture.KindInt, 0, 255},
	{"saturation", "Saturation", gocv.VideoCaptureSaturation, capture.KindInt, 0, 255},
	{"hue", "Hue", gocv.VideoCaptureHue, capture.KindInt, -180, 180},
	{"gain", "Gain", gocv.VideoCaptureGain, capture.KindInt, 0, 255},
	{"auto_exposure", "Auto Exposure", gocv.VideoCaptureAutoExposure, capture.KindBool, 0, 1},
	{"exposure", "Exposure", gocv.VideoCaptureExposure, capture.KindInt, -13, 10000},
	{"autofocus", "Focus, Automatic", gocv.VideoCaptureAutoFocus, capture.KindBool, 0, 1},
	{"focus", "Focus", gocv.VideoCaptureFocus, capture.KindInt, 0, 1023},
	{"auto_wb", "White Balance, Automatic", gocv.VideoCaptureAutoWB, capture.KindBool, 0, 1},
	{"wb_temperature", "White Balance Temperature", gocv.VideoCaptureWBTemperature, capture.KindInt, 1000, 10000},
}

// cvV4L2 is OpenCV's CAP_V4L2, the value of CAP_PROP_BACKEND for it.
const cvV4L2 = 200

// errClosed: the capture was closed.
var errClosed = errors.New("capture closed")

// probeControls finds the properties the opened device answers, their
// values now being the defaults reset returns to. Files and GStreamer
// pipelines have none.
func (s *Source) probeControls() {
	if s.isFile || s.gst {
		return
	}
	s.v4l2 = s.vc.Get(gocv.VideoCaptureBackend) == cvV4L2
	for _, p := range properties {
		// OpenCV answers -1 (or NaN) for what the backend does not
		// support.
		v := s.vc.Get(p.id)
		if v == -1 || math.IsNaN(v) {
			continue
		}
		c := s.control(p, v)
		c.Default = c.Value
		s.controls = append(s.controls, c)
	}
}

// control is p with raw value v.
func (s *Source) control(p property, v float64) capture.Control {
	c := capture.Control{Key: p.key, Name: p.name, Kind: p.kind, Min: p.min, Max: p.max, Step: 1}
	switch p.id {
	case gocv.VideoCaptureAutoExposure:
		// V4L2 raw menu values: 1 manual, 3 aperture priority; other
		// backends OpenCV's 0.25 manual, 0.75 automatic.
		if v != 1 && v != 0.25 && v != 0 {
			c.Value = 1
		}
	case gocv.VideoCaptureAutoFocus, gocv.VideoCaptureAutoWB:
		if v != 0 {
			c.Value = 1
		}
	default:
		c.Value = int64(math.Round(v))
	}
	return c
}

// raw is the value OpenCV takes for control value v of p.
func (s *Source) raw(p property, v int64) float64 {
	if p.id != gocv.VideoCaptureAutoExposure {
		return float64(v)
	}
	switch {
	case s.v4l2 && v == 1:
		return 3
	case s.v4l2:
		return 1
	case v == 1:
		return 0.75
	}
	return 0.25
}

// Controls implements capture.Controller: the properties the device
// answered when opened, with their values now.
func (s *Source) Controls() ([]capture.Control, error) {
	s.vcMu.Lock()
	defer s.vcMu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%s: %w", s.name, errClosed)
	}
	out := make([]capture.Control, len(s.controls))
	for i, c := range s.controls {
		out[i] = s.reread(c)
	}
	return out, nil
}

// reread is c with its value read now; s.vcMu is held.
func (s *Source) reread(c capture.Control) capture.Control {
	p := propertyOf(c.Key)
	now := s.control(p, s.vc.Get(p.id))
	c.Value = now.Value
	return c
}

func propertyOf(key string) property {
	for _, p := range properties {
		if p.key == key {
			return p
		}
	}
	return property{}
}

// SetControl implements capture.Controller. OpenCV does not say whether
// the driver took a value: the control read back does.
func (s *Source) SetControl(key string, value int64) (capture.Control, error) {
	s.vcMu.Lock()
	defer s.vcMu.Unlock()
	if s.closed {
		return capture.Control{}, fmt.Errorf("%s: %w", s.name, errClosed)
	}
	for _, c := range s.controls {
		if c.Key != key {
			continue
		}
		if err := c.Check(value); err != nil {
			return capture.Control{}, fmt.Errorf("%s: %w", s.name, err)
		}
		p := propertyOf(key)
		s.vc.Set(p.id, s.raw(p, value))
		return s.reread(c), nil
	}
	return capture.Control{}, fmt.Errorf("%s: %q: %w", s.name, key, capture.ErrNoControl)
}
