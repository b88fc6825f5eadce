package encode

import (
	"errors"
	"fmt"
	"image"
)

// ScaledSize is the size a w×h JPEG decodes to at the smallest of the
// scales 1/8, 1/4 and 1/2 that still covers atLeast in both dimensions;
// w×h itself when none does. libjpeg-turbo has SIMD code for these three
// only: at 3/8 or 7/8 it takes longer than at full size (1080p on one
// core: 3.5 ms at 3/8, 2.4 ms at 1/2, 4.4 ms at 1). Never larger than w×h:
// upscaling in the IDCT costs more than it gives over a resize. A
// Decompressor takes exactly these sizes.
func ScaledSize(w, h int, atLeast image.Point) image.Point {
	for _, num := range []int{1, 2, 4} {
		s := scaled(w, h, num)
		if s.X >= atLeast.X && s.Y >= atLeast.Y {
			return s
		}
	}
	return image.Pt(w, h)
}

// scaled is w×h at num/8, rounded up as libjpeg-turbo's TJSCALED does.
func scaled(w, h, num int) image.Point {
	return image.Pt((w*num+7)/8, (h*num+7)/8)
}

// scaleOf is the num/8 at which w×h decodes to size, or an error.
func scaleOf(w, h int, size image.Point) (int, error) {
	for _, num := range []int{1, 2, 4, 8} {
		if scaled(w, h, num) == size {
			return num, nil
		}
	}
	return 0, fmt.Errorf("%dx%d is not a scaled size of a %dx%d JPEG", size.X, size.Y, w, h)
}

// decodeTarget checks dst as a Decompressor's output for a w×h JPEG.
func decodeTarget(w, h int, dst Raw) error {
	switch dst.Format {
	case BGR, RGB, RGBA, BGRA, Gray:
	default:
		return fmt.Errorf("cannot decode to %v", dst.Format)
	}
	if err := dst.check(); err != nil {
		return err
	}
	_, err := scaleOf(w, h, image.Pt(dst.Width, dst.Height))
	return err
}

// ScaledDown is the size a w×h JPEG decodes to at 1/div of each side (div
// 1, 2, 4 or 8), rounded up as libjpeg-turbo rounds: what a Transcoder
// makes of it.
func ScaledDown(w, h, div int) image.Point {
	return scaled(w, h, 8/div)
}

// checkTranscode checks a Transcoder's arguments.
func checkTranscode(data []byte, div, quality int) error {
	switch {
	case len(data) == 0:
		return errors.New("empty JPEG")
	case div != 1 && div != 2 && div != 4 && div != 8:
		return fmt.Errorf("scale 1/%d: want 1/1, 1/2, 1/4 or 1/8", div)
	case quality < 1 || quality > 100:
		return fmt.Errorf("jpeg quality %d out of range 1-100", quality)
	}
	return nil
}
