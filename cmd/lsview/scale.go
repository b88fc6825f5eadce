package main

import (
	"fmt"
	"image"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/capture/encode"
)

// scaler decodes JPEGs to BGRA pictures of the size they are drawn at,
// scaled once, by whichever way is cheapest at that size without losing
// sharpness:
//
//   - at one of libjpeg-turbo's fast scales (1/8, 1/4, 1/2, 1/1: those it
//     has SIMD code for), straight into the picture, in the IDCT; the
//     layout makes the picture such a size when one is close (fastScaled);
//   - else to YUV planes at the smallest fast scale that covers the size,
//     the planes resized and then converted: a 4:2:0 resize moves 1.5
//     bytes a pixel instead of 4, and the colour conversion is done at the
//     smaller size (720p to 980×551: 1.4 ms against 2.0 ms for BGRA and a
//     resize);
//   - where that scale is 1/2, to BGRA at 1/2 and resized: libjpeg-turbo
//     2.1 gets the chroma of a 1/2 decode to planes wrong, and planes from
//     the full size would shrink more than twice, which a bilinear resize
//     does with aliasing.
//
// Bilinear throughout: INTER_AREA is sharper when shrinking but ten times
// slower (14 ms against 1.3 ms for 1080p into 896×504). A scaler belongs
// to one goroutine.
type scaler struct {
	jpeg   *encode.Decompressor
	half   gocv.Mat   // the 1/2 decode before its resize
	planes []gocv.Mat // the YUV planes as decoded
	sized  []gocv.Mat // and resized
}

func (s *scaler) close() {
	s.half.Close()
	closeMats(s.planes)
	closeMats(s.sized)
}

// decode decodes data, a w×h JPEG, into dst, a BGRA picture of any size.
func (s *scaler) decode(data []byte, w, h int, dst gocv.Mat) error {
	size := image.Pt(dst.Cols(), dst.Rows())
	if dst.Type() != gocv.MatTypeCV8UC4 || size.X <= 0 || size.Y <= 0 {
		return fmt.Errorf("decode into a %v Mat of %v: want BGRA", dst.Type(), size)
	}
	from := coveringScale(image.Pt(w, h), size)
	if from == size {
		return s.decodeBGRA(data, dst)
	}
	if from == encode.ScaledDown(w, h, 2) {
		if err := remake(&s.half, from, gocv.MatTypeCV8UC4); err != nil {
			return err
		}
		if err := s.decodeBGRA(data, s.half); err != nil {
			return err
		}
		gocv.Resize(s.half, &dst, size, 0, 0, gocv.InterpolationLinear)
		return nil
	}
	chroma, err := s.jpeg.Chroma(data)
	if err != nil {
		return err
	}
	decoded, err := yuvPlanes(&s.planes, chroma, from)
	if err != nil {
		return err
	}
	if err := s.jpeg.DecodeYUV(data, decoded); err != nil {
		return err
	}
	resized, err := yuvPlanes(&s.sized, chroma, size)
	if err != nil {
		return err
	}
	// Luma exactly from the picture to the picture, not its padding (551
	// rows stretched to 552 would shift the bottom a pixel); the chroma
	// planes whole, within a chroma sample of that.
	y, sizedY := s.planes[0].Region(image.Rect(0, 0, from.X, from.Y)), s.sized[0].Region(image.Rect(0, 0, size.X, size.Y))
	gocv.Resize(y, &sizedY, size, 0, 0, gocv.InterpolationLinear)
	y.Close()
	sizedY.Close()
	for i := 1; i < len(s.planes); i++ {
		gocv.Resize(s.planes[i], &s.sized[i], image.Pt(s.sized[i].Cols(), s.sized[i].Rows()), 0, 0, gocv.InterpolationLinear)
	}
	out, err := bgra(dst)
	if err != nil {
		return err
	}
	return s.jpeg.ConvertYUV(resized, out)
}

func (s *scaler) decodeBGRA(data []byte, dst gocv.Mat) error {
	out, err := bgra(dst)
	if err != nil {
		return err
	}
	return s.jpeg.Decode(data, out)
}

// bgra is a BGRA Mat as the decompressor takes it.
func bgra(m gocv.Mat) (encode.Raw, error) {
	pix, err := m.DataPtrUint8()
	return encode.Raw{Format: encode.BGRA, Width: m.Cols(), Height: m.Rows(), Stride: m.Step(), Pix: pix}, err
}

// coveringScale is the smallest fast scale of pic at least size in both
// dimensions; pic itself when none is.
func coveringScale(pic, size image.Point) image.Point {
	for _, div := range []int{8, 4, 2} {
		if s := encode.ScaledDown(pic.X, pic.Y, div); s.X >= size.X && s.Y >= size.Y {
			return s
		}
	}
	return pic
}

// yuvPlanes makes mats the planes of a picture of size subsampled as c,
// keeping them when they are already, and returns them as a YUV.
func yuvPlanes(mats *[]gocv.Mat, c encode.Chroma, size image.Point) (encode.YUV, error) {
	y := encode.YUV{Width: size.X, Height: size.Y, Chroma: c}
	sizes, err := c.PlaneSizes(size.X, size.Y)
	if err != nil {
		return y, err
	}
	if len(*mats) != len(sizes) {
		closeMats(*mats)
		*mats = make([]gocv.Mat, len(sizes))
	}
	for i, s := range sizes {
		m := &(*mats)[i]
		if err := remake(m, s, gocv.MatTypeCV8UC1); err != nil {
			return y, err
		}
		pix, err := m.DataPtrUint8()
		if err != nil {
			return y, err
		}
		y.Planes, y.Strides = append(y.Planes, pix), append(y.Strides, m.Step())
	}
	return y, nil
}

// remake makes *m a size Mat of type mt, unless it is one already.
func remake(m *gocv.Mat, size image.Point, mt gocv.MatType) error {
	if m.Ptr() != nil && m.Cols() == size.X && m.Rows() == size.Y && m.Type() == mt {
		return nil
	}
	m.Close()
	*m = gocv.NewMatWithSize(size.Y, size.X, mt)
	if m.Empty() {
		return fmt.Errorf("no memory for a %v picture", size)
	}
	return nil
}

func closeMats(ms []gocv.Mat) {
	for i := range ms {
		ms[i].Close()
	}
}
