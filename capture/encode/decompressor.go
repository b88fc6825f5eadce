//go:build cgo

package encode

/*
#cgo pkg-config: libturbojpeg
#include <turbojpeg.h>
*/
import "C"

import (
	"errors"
	"fmt"
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
	pf := C.int(C.TJPF_BGR)
	switch dst.Format {
	case RGB:
		pf = C.TJPF_RGB
	case RGBA:
		pf = C.TJPF_RGBA
	case BGRA:
		pf = C.TJPF_BGRA
	case Gray:
		pf = C.TJPF_GRAY // luma only: the chroma is never upsampled nor converted
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
