//go:build !cgo

package encode

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
)

// Compressor encodes frames one at a time with image/jpeg. It is not safe
// for concurrent use: give each goroutine its own.
type Compressor struct {
	planes []byte      // packed YUV rearranged into planes, reused frame to frame
	rgba   *image.RGBA // 3-byte RGB expanded, reused frame to frame
}

// NewCompressor allocates a compressor; Close frees it.
func NewCompressor() (*Compressor, error) { return &Compressor{}, nil }

// Close frees the compressor's memory.
func (c *Compressor) Close() { c.planes, c.rgba = nil, nil }

// Encode compresses r to a baseline JPEG (4:2:0 for RGB input, the input's
// own subsampling for planar YUV) at quality 1–100. The result is a new
// slice that the caller owns.
func (c *Compressor) Encode(r Raw, quality int) ([]byte, error) {
	r, planes, err := prepare(r, quality, c.planes)
	c.planes = planes
	if err != nil {
		return nil, err
	}
	rect := image.Rect(0, 0, r.Width, r.Height)
	var img image.Image
	switch r.Format {
	case RGBA:
		img = &image.RGBA{Pix: r.Pix, Stride: r.Stride, Rect: rect}
	case BGR, RGB:
		img = c.expand(r)
	case I420, I422:
		ySize, cSize := r.planeSizes()
		ratio := image.YCbCrSubsampleRatio420
		if r.Format == I422 {
			ratio = image.YCbCrSubsampleRatio422
		}
		img = &image.YCbCr{Y: r.Pix[:ySize], Cb: r.Pix[ySize : ySize+cSize], Cr: r.Pix[ySize+cSize : ySize+2*cSize],
			YStride: r.Stride, CStride: r.Stride / 2, SubsampleRatio: ratio, Rect: rect}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("image/jpeg: %w", err)
	}
	return out.Bytes(), nil
}

// expand turns 3-byte RGB or BGR into RGBA, the layout image/jpeg reads
// fastest.
func (c *Compressor) expand(r Raw) *image.RGBA {
	if c.rgba == nil || c.rgba.Rect.Dx() != r.Width || c.rgba.Rect.Dy() != r.Height {
		c.rgba = image.NewRGBA(image.Rect(0, 0, r.Width, r.Height))
	}
	ri, bi := 0, 2
	if r.Format == BGR {
		ri, bi = 2, 0
	}
	for y := range r.Height {
		src := r.Pix[y*r.Stride : y*r.Stride+3*r.Width]
		dst := c.rgba.Pix[y*c.rgba.Stride : y*c.rgba.Stride+4*r.Width]
		for x := range r.Width {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = src[3*x+ri], src[3*x+1], src[3*x+bi], 255
		}
	}
	return c.rgba
}
