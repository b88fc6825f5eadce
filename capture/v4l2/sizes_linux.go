package v4l2

import (
	"fmt"
	"slices"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// commonSizes are offered from a stepwise or continuous range, as far as
// the range and its steps allow: a driver that takes any size gets a menu
// of the usual ones, not every multiple of its step.
var commonSizes = []capture.Size{
	{W: 320, H: 240}, {W: 640, H: 360}, {W: 640, H: 480}, {W: 800, H: 600}, {W: 1024, H: 768},
	{W: 1280, H: 720}, {W: 1280, H: 960}, {W: 1600, H: 1200}, {W: 1920, H: 1080},
}

// Sizes lists the frame sizes the camera offers in the pixel format it
// streams, smallest first, leaving out those RTP/JPEG cannot carry (a side
// over capture.MaxSide).
func (s *Source) Sizes() ([]capture.Size, error) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%s sizes: %w", s.path, errClosed)
	}
	enum, err := enumFrameSizes(s.fd, s.format.PixelFormat)
	if err != nil {
		return nil, s.fault("list sizes", err)
	}
	return offeredSizes(enum), nil
}

// offeredSizes turns the driver's answer into sizes: the discrete ones,
// or the common sizes inside a range.
func offeredSizes(enum []frameSizeEnum) []capture.Size {
	var out []capture.Size
	fits := func(sz capture.Size) bool { return sz.W <= capture.MaxSide && sz.H <= capture.MaxSide }
	for _, e := range enum {
		if e.Type == frameSizeDiscrete {
			if sz := (capture.Size{W: int(e.U[0]), H: int(e.U[1])}); fits(sz) && sz.W > 0 && sz.H > 0 {
				out = append(out, sz)
			}
			continue
		}
		minW, maxW, stepW, minH, maxH, stepH := e.U[0], e.U[1], max(e.U[2], 1), e.U[3], e.U[4], max(e.U[5], 1)
		for _, sz := range commonSizes {
			w, h := uint32(sz.W), uint32(sz.H)
			if w >= minW && w <= maxW && (w-minW)%stepW == 0 && h >= minH && h <= maxH && (h-minH)%stepH == 0 {
				out = append(out, sz)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b capture.Size) int { return a.W*a.H - b.W*b.H })
	return slices.Compact(out)
}
