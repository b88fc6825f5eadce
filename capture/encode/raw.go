// Package encode turns raw pixels into JPEG with libjpeg-turbo: a
// Compressor per goroutine, and a Pool that spreads frames over every core
// while keeping their order. A Decompressor goes the other way, straight
// to the size a viewer draws (see ScaledSize), and a Transcoder makes a
// smaller JPEG of a JPEG, a rung of the quality ladder (see ScaledDown).
//
// Built with cgo (the default), all are libjpeg-turbo's; built
// without (CGO_ENABLED=0, e.g. a cross-compiled viewer's tools), they are the
// standard library's image/jpeg: the same frames, several times slower.
package encode

import "fmt"

// PixelFormat is the memory layout of a Raw frame.
type PixelFormat int

// Pixel formats a Compressor takes.
const (
	RGBA PixelFormat = iota // 4 bytes a pixel, R G B A
	BGR                     // 3 bytes a pixel, OpenCV's layout
	I420                    // planar Y, then U and V at half width and half height (YU12)
	I422                    // planar Y, then U and V at half width, full height
	RGB                     // 3 bytes a pixel, R G B (V4L2 RGB3)
	YUYV                    // packed 4:2:2, Y0 U Y1 V (V4L2 YUYV, most USB webcams)
	UYVY                    // packed 4:2:2, U Y0 V Y1 (V4L2 UYVY)
	NV12                    // planar Y, then interleaved U V at half width and half height, both at Stride
	Gray                    // 1 byte a pixel, luma only: a Decompressor's output, never a Compressor's input
	BGRA                    // 4 bytes a pixel, B G R A (A 255): OpenCV's 4-channel order, Qt's RGB32; a Decompressor's output only
)

func (f PixelFormat) String() string {
	switch f {
	case RGBA:
		return "RGBA"
	case BGR:
		return "BGR"
	case I420:
		return "I420"
	case I422:
		return "I422"
	case RGB:
		return "RGB"
	case YUYV:
		return "YUYV"
	case UYVY:
		return "UYVY"
	case NV12:
		return "NV12"
	case Gray:
		return "Gray"
	case BGRA:
		return "BGRA"
	}
	return fmt.Sprintf("PixelFormat(%d)", int(f))
}

// Raw is one uncompressed frame.
type Raw struct {
	Format        PixelFormat
	Width, Height int
	// Stride is the length of a row of Pix in bytes; for planar formats, of
	// a luma row (chroma rows are Stride/2, but Stride for NV12).
	Stride int
	Pix    []byte
}

func (r Raw) planeSizes() (y, c int) {
	y = r.Stride * r.Height
	c = (r.Stride / 2) * r.Height
	if r.Format == I420 {
		c = (r.Stride / 2) * ((r.Height + 1) / 2)
	}
	return y, c
}

func (r Raw) check() error {
	if r.Width <= 0 || r.Height <= 0 {
		return fmt.Errorf("raw frame size %dx%d invalid", r.Width, r.Height)
	}
	var need int
	switch r.Format {
	case RGBA, BGRA:
		if r.Stride < 4*r.Width {
			return fmt.Errorf("%s stride %d below 4×width %d", r.Format, r.Stride, r.Width)
		}
		need = r.Stride*(r.Height-1) + 4*r.Width
	case BGR, RGB:
		if r.Stride < 3*r.Width {
			return fmt.Errorf("%s stride %d below 3×width %d", r.Format, r.Stride, r.Width)
		}
		need = r.Stride*(r.Height-1) + 3*r.Width
	case Gray:
		if r.Stride < r.Width {
			return fmt.Errorf("Gray stride %d below width %d", r.Stride, r.Width)
		}
		need = r.Stride*(r.Height-1) + r.Width
	case YUYV, UYVY:
		if r.Stride < 2*r.Width || r.Width%2 != 0 {
			return fmt.Errorf("%s stride %d for width %d invalid (width must be even, stride ≥ 2×width)", r.Format, r.Stride, r.Width)
		}
		need = r.Stride*(r.Height-1) + 2*r.Width
	case NV12:
		if r.Stride < r.Width || r.Width%2 != 0 {
			return fmt.Errorf("NV12 stride %d for width %d invalid (width must be even, stride ≥ width)", r.Stride, r.Width)
		}
		need = r.Stride*(r.Height+(r.Height+1)/2-1) + r.Width
	case I420, I422:
		if r.Stride < r.Width || r.Width%2 != 0 || r.Stride%2 != 0 {
			return fmt.Errorf("%s stride %d for width %d invalid (both must be even, stride ≥ width)", r.Format, r.Stride, r.Width)
		}
		y, c := r.planeSizes()
		need = y + 2*c
	default:
		return fmt.Errorf("unsupported pixel format %v", r.Format)
	}
	if len(r.Pix) < need {
		return fmt.Errorf("%s %dx%d frame needs %d bytes, has %d", r.Format, r.Width, r.Height, need, len(r.Pix))
	}
	return nil
}

// prepare checks r and quality, then rearranges packed and semi-planar
// YUV into the planar form both compressors take, reusing planes.
func prepare(r Raw, quality int, planes []byte) (Raw, []byte, error) {
	if err := r.check(); err != nil {
		return r, planes, err
	}
	if r.Format == Gray || r.Format == BGRA {
		return r, planes, fmt.Errorf("%v frames are decoded, not encoded", r.Format)
	}
	if quality < 1 || quality > 100 {
		return r, planes, fmt.Errorf("jpeg quality %d out of range 1-100", quality)
	}
	switch r.Format {
	case YUYV, UYVY, NV12:
		r, planes = planar(r, planes)
	}
	return r, planes, nil
}
