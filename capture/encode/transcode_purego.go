//go:build !cgo

package encode

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
)

// Transcoder makes a smaller JPEG of a JPEG with image/jpeg: it decodes
// the whole picture to its Y, Cb and Cr planes, averages each plane down
// (no colour conversion either way), and encodes the result. It is not
// safe for concurrent use: give each goroutine its own.
type Transcoder struct {
	ycc  *image.YCbCr // the smaller picture, reused while the size holds
	gray *image.Gray
	out  bytes.Buffer
}

// NewTranscoder allocates a transcoder; Close frees it.
func NewTranscoder() (*Transcoder, error) { return &Transcoder{}, nil }

// Close frees the transcoder's memory.
func (t *Transcoder) Close() { *t = Transcoder{} }

// Transcode decodes data at 1/div of its width and height (div 1, 2, 4 or
// 8; sizes as ScaledDown gives them) and encodes the result at quality
// 1–100, 4:2:0 (image/jpeg writes nothing else) or grey. The result is a
// new slice that the caller owns; size is its picture's.
func (t *Transcoder) Transcode(data []byte, div, quality int) (out []byte, size image.Point, err error) {
	if err := checkTranscode(data, div, quality); err != nil {
		return nil, size, err
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, size, fmt.Errorf("image/jpeg: %w", err)
	}
	b := img.Bounds()
	size = ScaledDown(b.Dx(), b.Dy(), div)
	rect := image.Rectangle{Max: size}
	var small image.Image
	switch src := img.(type) {
	case *image.YCbCr:
		// Pixels a source chroma sample spans, across and down.
		span, ok := map[image.YCbCrSubsampleRatio][2]int{
			image.YCbCrSubsampleRatio444: {1, 1}, image.YCbCrSubsampleRatio422: {2, 1},
			image.YCbCrSubsampleRatio420: {2, 2}, image.YCbCrSubsampleRatio440: {1, 2},
			image.YCbCrSubsampleRatio411: {4, 1}, image.YCbCrSubsampleRatio410: {4, 2},
		}[src.SubsampleRatio]
		sx, sy := span[0], span[1]
		// An output chroma sample covers 2·div source pixels each way.
		if !ok || (2*div)%sx != 0 || (2*div)%sy != 0 {
			return nil, size, fmt.Errorf("chroma subsampling %v at 1/%d: not a whole number of samples", src.SubsampleRatio, div)
		}
		if t.ycc == nil || t.ycc.Rect != rect {
			t.ycc = image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
		}
		d := t.ycc
		cw, ch := (b.Dx()+sx-1)/sx, (b.Dy()+sy-1)/sy
		shrink(d.Y, d.YStride, size.X, size.Y, src.Y, src.YStride, b.Dx(), b.Dy(), div, div)
		dcw, dch := (size.X+1)/2, (size.Y+1)/2
		shrink(d.Cb, d.CStride, dcw, dch, src.Cb, src.CStride, cw, ch, 2*div/sx, 2*div/sy)
		shrink(d.Cr, d.CStride, dcw, dch, src.Cr, src.CStride, cw, ch, 2*div/sx, 2*div/sy)
		small = d
	case *image.Gray:
		if t.gray == nil || t.gray.Rect != rect {
			t.gray = image.NewGray(rect)
		}
		shrink(t.gray.Pix, t.gray.Stride, size.X, size.Y, src.Pix, src.Stride, b.Dx(), b.Dy(), div, div)
		small = t.gray
	default:
		return nil, size, fmt.Errorf("jpeg decodes to %T: no YUV planes", img)
	}
	t.out.Reset()
	if err := jpeg.Encode(&t.out, small, &jpeg.Options{Quality: quality}); err != nil {
		return nil, size, fmt.Errorf("image/jpeg: %w", err)
	}
	return bytes.Clone(t.out.Bytes()), size, nil
}

// shrink writes into dst (dw×dh samples) the mean of each fx×fy block of
// src (sw×sh samples), the blocks at the edges cut to what src has.
func shrink(dst []byte, dstStride, dw, dh int, src []byte, srcStride, sw, sh, fx, fy int) {
	for y := range dh {
		y0, y1 := min(y*fy, sh-1), min((y+1)*fy, sh)
		row := dst[y*dstStride : y*dstStride+dw]
		for x := range row {
			x0, x1 := min(x*fx, sw-1), min((x+1)*fx, sw)
			sum, n := 0, 0
			for sy := y0; sy < max(y1, y0+1); sy++ {
				s := src[sy*srcStride:]
				for sx := x0; sx < max(x1, x0+1); sx++ {
					sum += int(s[sx])
					n++
				}
			}
			row[x] = byte((sum + n/2) / n)
		}
	}
}
