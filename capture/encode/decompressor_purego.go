//go:build !cgo

package encode

import (
	"bytes"
	"fmt"
	"image/color"
	"image/jpeg"
)

// Decompressor decodes JPEG frames one at a time with image/jpeg, at full
// size, then samples the size asked for. It is not safe for concurrent
// use: give each goroutine its own.
type Decompressor struct{}

// NewDecompressor allocates a decompressor; Close frees it.
func NewDecompressor() (*Decompressor, error) { return &Decompressor{}, nil }

// Close frees the decompressor's memory.
func (d *Decompressor) Close() {}

// Size reads the full width and height from a JPEG's header.
func (d *Decompressor) Size(data []byte) (w, h int, err error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0, fmt.Errorf("image/jpeg: %w", err)
	}
	return cfg.Width, cfg.Height, nil
}

// Decode decodes data into dst (BGR, RGB, RGBA, BGRA or Gray), whose size must
// be one ScaledSize gives for the JPEG's: the picture is decoded whole,
// then every destination pixel takes the source pixel nearest its centre.
func (d *Decompressor) Decode(data []byte, dst Raw) error {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("image/jpeg: %w", err)
	}
	b := img.Bounds()
	if err := decodeTarget(b.Dx(), b.Dy(), dst); err != nil {
		return err
	}
	bpp := map[PixelFormat]int{BGR: 3, RGB: 3, RGBA: 4, BGRA: 4, Gray: 1}[dst.Format]
	for y := range dst.Height {
		sy := b.Min.Y + (2*y+1)*b.Dy()/(2*dst.Height)
		row := dst.Pix[y*dst.Stride:]
		for x := range dst.Width {
			sx := b.Min.X + (2*x+1)*b.Dx()/(2*dst.Width)
			p := row[x*bpp : x*bpp+bpp]
			if dst.Format == Gray {
				p[0] = color.GrayModel.Convert(img.At(sx, sy)).(color.Gray).Y
				continue
			}
			c := color.RGBAModel.Convert(img.At(sx, sy)).(color.RGBA)
			switch dst.Format {
			case BGR:
				p[0], p[1], p[2] = c.B, c.G, c.R
			case RGB:
				p[0], p[1], p[2] = c.R, c.G, c.B
			case RGBA:
				p[0], p[1], p[2], p[3] = c.R, c.G, c.B, 255
			case BGRA:
				p[0], p[1], p[2], p[3] = c.B, c.G, c.R, 255
			}
		}
	}
	return nil
}

// Chroma reads a JPEG's chroma subsampling; a cgo build only.
func (d *Decompressor) Chroma([]byte) (Chroma, error) { return 0, errNoYUV }

// DecodeYUV decodes into planes; a cgo build only.
func (d *Decompressor) DecodeYUV([]byte, YUV) error { return errNoYUV }

// ConvertYUV converts planes to pixels; a cgo build only.
func (d *Decompressor) ConvertYUV(YUV, Raw) error { return errNoYUV }
