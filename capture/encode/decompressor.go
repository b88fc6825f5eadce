//go:build cgo

package encode

/*
#cgo pkg-config: libturbojpeg
#include <turbojpeg.h>

// decode_yuv and convert_yuv take the planes one by one: cgo may not pass
// C an array of Go pointers.
static int decode_yuv(tjhandle h, const unsigned char *jpeg, unsigned long n, unsigned char *y, unsigned char *cb,
                      unsigned char *cr, int sy, int scb, int scr, int width, int height, int flags) {
	unsigned char *planes[3] = {y, cb, cr};
	int strides[3] = {sy, scb, scr};
	return tjDecompressToYUVPlanes(h, jpeg, n, planes, width, strides, height, flags);
}

static int convert_yuv(tjhandle h, const unsigned char *y, const unsigned char *cb, const unsigned char *cr, int sy,
                       int scb, int scr, int subsamp, unsigned char *dst, int width, int pitch, int height, int pf) {
	const unsigned char *planes[3] = {y, cb, cr};
	int strides[3] = {sy, scb, scr};
	return tjDecodeYUVPlanes(h, planes, strides, subsamp, dst, width, pitch, height, pf, 0);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// Decompressor decodes JPEG frames one at a time, scaled in the IDCT to
// the size asked for. It is not safe for concurrent use: give each
// goroutine its own.
type Decompressor struct {
	handle C.tjhandle
}

// NewDecompressor allocates a decompressor; Close frees it.
func NewDecompressor() (*Decompressor, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, errors.New("libjpeg-turbo: cannot initialise a decompressor")
	}
	return &Decompressor{handle: h}, nil
}

// Close frees the decompressor's memory.
func (d *Decompressor) Close() {
	if d.handle != nil {
		C.tjDestroy(d.handle)
		d.handle = nil
	}
}

// Size reads the full width and height from a JPEG's header.
func (d *Decompressor) Size(data []byte) (w, h int, err error) {
	if len(data) == 0 {
		return 0, 0, errors.New("empty JPEG")
	}
	var cw, ch, subsamp, cs C.int
	if C.tjDecompressHeader3(d.handle, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &cw, &ch, &subsamp, &cs) != 0 {
		return 0, 0, failed(&d.handle)
	}
	return int(cw), int(ch), nil
}

// Chroma reads a JPEG's chroma subsampling from its header.
func (d *Decompressor) Chroma(data []byte) (Chroma, error) {
	if len(data) == 0 {
		return 0, errors.New("empty JPEG")
	}
	var cw, ch, subsamp, cs C.int
	if C.tjDecompressHeader3(d.handle, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), &cw, &ch, &subsamp, &cs) != 0 {
		return 0, failed(&d.handle)
	}
	return Chroma(subsamp), nil
}

// DecodeYUV decodes data into dst's planes, without upsampling the chroma
// nor converting it: dst's size must be the JPEG's at 1/8, 2/8 or 8/8
// (libjpeg-turbo 2.1 gets the chroma of a 4/8 decode to planes wrong:
// yellow turns orange), and its Chroma the JPEG's. ConvertYUV finishes
// the job, at the same size or, after resizing the planes, another.
func (d *Decompressor) DecodeYUV(data []byte, dst YUV) error {
	w, h, err := d.Size(data)
	if err != nil {
		return err
	}
	if err := dst.check(); err != nil {
		return err
	}
	if num, err := scaleOf(w, h, image.Pt(dst.Width, dst.Height)); err != nil || num == 4 {
		return fmt.Errorf("%dx%d is not a YUV scale of a %dx%d JPEG (1/8, 2/8, 8/8)", dst.Width, dst.Height, w, h)
	}
	p, s := planePointers(dst)
	rc := C.decode_yuv(d.handle, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)), p[0], p[1], p[2],
		s[0], s[1], s[2], C.int(dst.Width), C.int(dst.Height), C.TJFLAG_FASTDCT)
	if rc != 0 && C.tjGetErrorCode(d.handle) == C.TJERR_FATAL {
		return failed(&d.handle)
	}
	return nil
}

// ConvertYUV converts src's planes into dst (BGR, RGB, RGBA, BGRA or
// Gray) of the same size, upsampling the chroma as Decode does.
func (d *Decompressor) ConvertYUV(src YUV, dst Raw) error {
	if err := src.check(); err != nil {
		return err
	}
	if err := dst.check(); err != nil {
		return err
	}
	if src.Width != dst.Width || src.Height != dst.Height {
		return fmt.Errorf("YUV %dx%d into %dx%d", src.Width, src.Height, dst.Width, dst.Height)
	}
	pf, err := decodeFormat(dst.Format)
	if err != nil {
		return err
	}
	p, s := planePointers(src)
	if C.convert_yuv(d.handle, p[0], p[1], p[2], s[0], s[1], s[2], C.int(src.Chroma),
		(*C.uchar)(unsafe.Pointer(&dst.Pix[0])), C.int(dst.Width), C.int(dst.Stride), C.int(dst.Height), pf) != 0 {
		return fmt.Errorf("libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(d.handle)))
	}
	return nil
}

// planePointers is y's planes and strides as C takes them; nil for the
// chroma of grey.
func planePointers(y YUV) (p [3]*C.uchar, s [3]C.int) {
	for i := range y.Planes {
		p[i], s[i] = (*C.uchar)(unsafe.Pointer(&y.Planes[i][0])), C.int(y.Strides[i])
	}
	return p, s
}

// decodeFormat is turbojpeg's pixel format for f.
func decodeFormat(f PixelFormat) (C.int, error) {
	switch f {
	case BGR:
		return C.TJPF_BGR, nil
	case RGB:
		return C.TJPF_RGB, nil
	case RGBA:
		return C.TJPF_RGBA, nil
	case BGRA:
		return C.TJPF_BGRA, nil
	case Gray:
		return C.TJPF_GRAY, nil // luma only: the chroma is never upsampled nor converted
	}
	return 0, fmt.Errorf("cannot decode to %v", f)
}

// Decode decodes data into dst (BGR, RGB, RGBA, BGRA or Gray), whose size must
// be one ScaledSize gives for the JPEG's: libjpeg-turbo then scales in the
// IDCT, never computing the pixels it would throw away.
func (d *Decompressor) Decode(data []byte, dst Raw) error {
	w, h, err := d.Size(data)
	if err != nil {
		return err
	}
	if err := decodeTarget(w, h, dst); err != nil {
		return err
	}
	pf, err := decodeFormat(dst.Format)
	if err != nil {
		return err
	}
	// FASTDCT: as for encoding, no visible loss at streaming qualities,
	// and less time per frame.
	rc := C.tjDecompress2(d.handle, (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&dst.Pix[0])), C.int(dst.Width), C.int(dst.Stride), C.int(dst.Height), pf, C.TJFLAG_FASTDCT)
	if rc != 0 && C.tjGetErrorCode(d.handle) == C.TJERR_FATAL {
		return failed(&d.handle)
	}
	return nil
}

// failed reports a decompressor's error and replaces it with a new one:
// after a header that fails half-read, libjpeg-turbo 2.1 resumes that
// header at the next call instead of reading the new one, so one broken
// frame would break every later one (TestDecodeRejects).
func failed(h *C.tjhandle) error {
	err := fmt.Errorf("libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(*h)))
	C.tjDestroy(*h)
	if *h = C.tjInitDecompress(); *h == nil {
		return fmt.Errorf("%w; cannot initialise a decompressor again", err)
	}
	return err
}
