// Package encode turns raw pixels into JPEG with libjpeg-turbo: a
// Compressor per goroutine, and a Pool that spreads frames over every core
// while keeping their order.
package encode

/*
#cgo pkg-config: libturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

static int lsb_compress_planes(tjhandle h, unsigned char *y, unsigned char *u, unsigned char *v,
		int width, int ystride, int cstride, int height, int subsamp,
		unsigned char **buf, unsigned long *size, int quality, int flags) {
	const unsigned char *planes[3] = {y, u, v};
	int strides[3] = {ystride, cstride, cstride};
	return tjCompressFromYUVPlanes(h, planes, width, strides, height, subsamp, buf, size, quality, flags);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

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

// Compressor encodes frames one at a time. It is not safe for concurrent
// use: give each goroutine its own.
type Compressor struct {
	handle  C.tjhandle
	buf     *C.uchar
	bufSize C.ulong
	// planes holds packed YUV rearranged into planes, reused frame to frame.
	planes []byte
}

// NewCompressor allocates a compressor; Close frees it.
func NewCompressor() (*Compressor, error) {
	h := C.tjInitCompress()
	if h == nil {
		return nil, errors.New("libjpeg-turbo: cannot initialise a compressor")
	}
	return &Compressor{handle: h}, nil
}

// Close frees the compressor's memory.
func (c *Compressor) Close() {
	if c.buf != nil {
		C.tjFree(c.buf)
		c.buf = nil
	}
	if c.handle != nil {
		C.tjDestroy(c.handle)
		c.handle = nil
	}
}

// Encode compresses r to a baseline JPEG (4:2:0 for RGB input, the input's
// own subsampling for planar YUV) at quality 1–100. The result is a new
// slice that the caller owns.
func (c *Compressor) Encode(r Raw, quality int) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("jpeg quality %d out of range 1-100", quality)
	}
	switch r.Format {
	case YUYV, UYVY, NV12:
		r, c.planes = planar(r, c.planes)
	}
	subsamp := C.int(C.TJSAMP_420)
	if r.Format == I422 {
		subsamp = C.TJSAMP_422
	}
	need := C.tjBufSize(C.int(r.Width), C.int(r.Height), subsamp)
	if need > c.bufSize {
		if c.buf != nil {
			C.tjFree(c.buf)
		}
		c.buf = C.tjAlloc(C.int(need))
		if c.buf == nil {
			c.bufSize = 0
			return nil, errors.New("libjpeg-turbo: out of memory")
		}
		c.bufSize = need
	}
	size := c.bufSize
	// NOREALLOC: the buffer is sized for the worst case, so libjpeg-turbo
	// never swaps it behind our back. FASTDCT costs no visible quality at
	// the qualities cameras stream at and saves a tenth of the time.
	flags := C.int(C.TJFLAG_NOREALLOC | C.TJFLAG_FASTDCT)
	src := (*C.uchar)(unsafe.Pointer(&r.Pix[0]))
	var rc C.int
	switch r.Format {
	case RGBA, BGR, RGB:
		pf := C.int(C.TJPF_RGBA)
		switch r.Format {
		case BGR:
			pf = C.TJPF_BGR
		case RGB:
			pf = C.TJPF_RGB
		}
		rc = C.tjCompress2(c.handle, src, C.int(r.Width), C.int(r.Stride), C.int(r.Height), pf,
			&c.buf, &size, subsamp, C.int(quality), flags)
	case I420, I422:
		ySize, cSize := r.planeSizes()
		u := (*C.uchar)(unsafe.Pointer(&r.Pix[ySize]))
		v := (*C.uchar)(unsafe.Pointer(&r.Pix[ySize+cSize]))
		rc = C.lsb_compress_planes(c.handle, src, u, v, C.int(r.Width), C.int(r.Stride), C.int(r.Stride/2),
			C.int(r.Height), subsamp, &c.buf, &size, C.int(quality), flags)
	}
	if rc != 0 {
		return nil, fmt.Errorf("libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(c.handle)))
	}
	return C.GoBytes(unsafe.Pointer(c.buf), C.int(size)), nil
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
	case RGBA:
		if r.Stride < 4*r.Width {
			return fmt.Errorf("RGBA stride %d below 4×width %d", r.Stride, r.Width)
		}
		need = r.Stride*(r.Height-1) + 4*r.Width
	case BGR, RGB:
		if r.Stride < 3*r.Width {
			return fmt.Errorf("%s stride %d below 3×width %d", r.Format, r.Stride, r.Width)
		}
		need = r.Stride*(r.Height-1) + 3*r.Width
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
