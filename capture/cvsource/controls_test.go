package cvsource

import (
	"testing"

	"gocv.io/x/gocv"
)

// Auto exposure is a switch here, but OpenCV's V4L2 backend takes the
// driver's menu values (1 manual, 3 aperture priority) and other backends
// 0.25 and 0.75.
func TestAutoExposureValues(t *testing.T) {
	p := propertyOf("auto_exposure")
	if p.id != gocv.VideoCaptureAutoExposure {
		t.Fatalf("auto_exposure maps to property %d", p.id)
	}
	for _, tc := range []struct {
		v4l2     bool
		on       int64
		raw      float64
		readBack int64
	}{
		{true, 1, 3, 1}, {true, 0, 1, 0}, {false, 1, 0.75, 1}, {false, 0, 0.25, 0},
	} {
		s := &Source{v4l2: tc.v4l2}
		if got := s.raw(p, tc.on); got != tc.raw {
			t.Errorf("v4l2 %v: %d sets %v, want %v", tc.v4l2, tc.on, got, tc.raw)
		}
		if got := s.control(p, tc.raw).Value; got != tc.readBack {
			t.Errorf("v4l2 %v: raw %v reads %d, want %d", tc.v4l2, tc.raw, got, tc.readBack)
		}
	}
	s := &Source{}
	if c := s.control(propertyOf("brightness"), 63.6); c.Value != 64 || c.Min != -255 || c.Max != 255 {
		t.Errorf("brightness 63.6 reads %+v", c)
	}
	if c := s.control(propertyOf("autofocus"), 1); c.Value != 1 || c.Kind != "bool" {
		t.Errorf("autofocus 1 reads %+v", c)
	}
}
