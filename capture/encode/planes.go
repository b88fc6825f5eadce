package encode

import (
	"errors"
	"fmt"
	"image"
)

// errNoYUV is what a build without cgo answers for YUV planes: image/jpeg
// has no entry point between the planes and RGB.
var errNoYUV = errors.New("decoding to YUV planes needs libjpeg-turbo (a cgo build)")

// Chroma is how a JPEG subsamples its chroma: turbojpeg's TJSAMP_* values.
type Chroma int

// Chroma subsamplings, in turbojpeg's order.
const (
	Chroma444 Chroma = iota
	Chroma422
	Chroma420
	ChromaGray
	Chroma440
	Chroma411
)

// factors is how many luma pixels share a chroma sample across and down.
func (c Chroma) factors() (x, y int, err error) {
	switch c {
	case Chroma444, ChromaGray:
		return 1, 1, nil
	case Chroma422:
		return 2, 1, nil
	case Chroma420:
		return 2, 2, nil
	case Chroma440:
		return 1, 2, nil
	case Chroma411:
		return 4, 1, nil
	}
	return 0, 0, fmt.Errorf("chroma subsampling %d unknown", int(c))
}

// PlaneSizes is the size of each plane of a w×h picture subsampled as c:
// Y, then Cb and Cr (grey has Y only), as turbojpeg's tjPlaneWidth and
// tjPlaneHeight make them: the Y plane is padded to whole chroma samples
// (a 4:2:0 picture 551 rows high has 552 of luma), which turbojpeg
// writes and reads.
func (c Chroma) PlaneSizes(w, h int) ([]image.Point, error) {
	fx, fy, err := c.factors()
	if err != nil {
		return nil, err
	}
	y := image.Pt((w+fx-1)/fx*fx, (h+fy-1)/fy*fy)
	if c == ChromaGray {
		return []image.Point{y}, nil
	}
	ch := image.Pt(y.X/fx, y.Y/fy)
	return []image.Point{y, ch, ch}, nil
}

// YUV is a picture's planes before colour conversion, as a Decompressor's
// DecodeYUV leaves them and its ConvertYUV takes them: a picture can be
// resized plane by plane, at 1.5 bytes a pixel for 4:2:0 instead of 4.
type YUV struct {
	Width, Height int // the picture's, which is the Y plane's
	Chroma        Chroma
	Planes        [][]byte // Y, Cb, Cr; Y only for grey
	Strides       []int    // each plane's row length in bytes
}

func (y YUV) check() error {
	sizes, err := y.Chroma.PlaneSizes(y.Width, y.Height)
	if err != nil {
		return err
	}
	if y.Width <= 0 || y.Height <= 0 || len(y.Planes) != len(sizes) || len(y.Strides) != len(sizes) {
		return fmt.Errorf("YUV %dx%d with %d planes and %d strides invalid", y.Width, y.Height, len(y.Planes), len(y.Strides))
	}
	for i, s := range sizes {
		if y.Strides[i] < s.X || len(y.Planes[i]) < y.Strides[i]*(s.Y-1)+s.X {
			return fmt.Errorf("YUV plane %d of %v: stride %d, %d bytes too few", i, s, y.Strides[i], len(y.Planes[i]))
		}
	}
	return nil
}
