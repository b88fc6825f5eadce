//go:build cgo

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
	r, planes, err := prepare(r, quality, c.planes)
	c.planes = planes
	if err != nil {
		return nil, err
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
