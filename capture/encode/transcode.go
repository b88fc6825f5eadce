//go:build cgo

package encode

/*
#cgo pkg-config: libturbojpeg
#include <turbojpeg.h>

static int lsb_decompress_planes(tjhandle h, const unsigned char *jpeg, unsigned long size,
		unsigned char *y, unsigned char *u, unsigned char *v,
		int width, int ystride, int cstride, int height, int flags) {
	unsigned char *planes[3] = {y, u, v};
	int strides[3] = {ystride, cstride, cstride};
	return tjDecompressToYUVPlanes(h, jpeg, size, planes, width, strides, height, flags);
}

static int lsb_compress_yuv(tjhandle h, unsigned char *y, unsigned char *u, unsigned char *v,
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
	"image"
	"unsafe"
)

// Transcoder makes a smaller JPEG of a JPEG: libjpeg-turbo decodes it
// scaled in the IDCT, straight to its Y, Cb and Cr planes (no colour
// conversion either way, and none of the pixels a full decode would throw
// away), and encodes the planes again. It is not safe for concurrent use:
// give each goroutine its own.
type Transcoder struct {
	dec, enc C.tjhandle
	// planes holds the decoded picture, reused frame to frame.
	planes []byte
	// buf is the compressed output, sized for the worst case.
	buf     *C.uchar
	bufSize C.ulong
}

// NewTranscoder allocates a transcoder; Close frees it.
func NewTranscoder() (*Transcoder, error) {
	dec := C.tjInitDecompress()
	if dec == nil {
		return nil, errors.New("libjpeg-turbo: cannot initialise a decompressor")
	}
	enc := C.tjInitCompress()
	if enc == nil {
		C.tjDestroy(dec)
		return nil, errors.New("libjpeg-turbo: cannot initialise a compressor")
	}
	return &Transcoder{dec: dec, enc: enc}, nil
}

// Close frees the transcoder's memory.
func (t *Transcoder) Close() {
	if t.buf != nil {
		C.tjFree(t.buf)
		t.buf = nil
	}
	for _, h := range []*C.tjhandle{&t.dec, &t.enc} {
		if *h != nil {
			C.tjDestroy(*h)
			*h = nil
		}
	}
	t.planes = nil
}

// Transcode decodes data at 1/div of its width and height (div 1, 2, 4 or
// 8; sizes as ScaledDown gives them) and encodes the result at quality
// 1–100. 4:2:0 stays 4:2:0 and 4:2:2 becomes 4:2:0, averaging each pair
// of chroma rows: a rung of a ladder is there to save bits. Other
// subsamplings are kept. The result is a new slice that the caller owns;
// size is its picture's.
func (t *Transcoder) Transcode(data []byte, div, quality int) (out []byte, size image.Point, err error) {
	if err := checkTranscode(data, div, quality); err != nil {
		return nil, size, err
	}
	var cw, ch, subsamp, cs C.int
	src, srcLen := (*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data))
	if C.tjDecompressHeader3(t.dec, src, srcLen, &cw, &ch, &subsamp, &cs) != 0 {
		return nil, size, t.decodeFailed()
	}
	if cw <= 0 || ch <= 0 {
		// A stream that ends after SOI reads as a header of no picture.
		return nil, size, errors.New("jpeg has no picture")
	}
	if subsamp < 0 {
		// CMYK and YCCK have four components: no YUV planes to decode to.
		return nil, size, fmt.Errorf("jpeg colorspace %d has no YUV planes", int(cs))
	}
	size = ScaledDown(int(cw), int(ch), div)
	w, h := C.int(size.X), C.int(size.Y)
	outSamp := subsamp
	if subsamp == C.TJSAMP_422 {
		outSamp = C.TJSAMP_420
	}
	// Strides are the plane widths. The luma plane takes the taller of
	// its two heights (4:2:0 pads it to an even row count), the chroma
	// planes their decoded heights, folded in place.
	yStride, cStride := C.tjPlaneWidth(0, w, subsamp), C.tjPlaneWidth(1, w, subsamp)
	yRows := max(C.tjPlaneHeight(0, h, subsamp), C.tjPlaneHeight(0, h, outSamp))
	cRows := C.tjPlaneHeight(1, h, subsamp)
	ySize, cSize := int(yStride*yRows), 0
	if subsamp != C.TJSAMP_GRAY {
		cSize = int(cStride * cRows)
	}
	t.planes = grow(t.planes, ySize+2*cSize)
	yp := (*C.uchar)(unsafe.Pointer(&t.planes[0]))
	up, vp := yp, yp // a grey JPEG has no chroma planes; libjpeg-turbo reads only the first
	if cSize > 0 {
		up = (*C.uchar)(unsafe.Pointer(&t.planes[ySize]))
		vp = (*C.uchar)(unsafe.Pointer(&t.planes[ySize+cSize]))
	}
	// No FASTDCT here, unlike Decompressor: libjpeg-turbo 2.1.5 decodes a
	// 4:2:0 JPEG's chroma at 1/2 to YUV planes about four times too
	// strong with it (TestTranscode). The scaled IDCTs it would have
	// replaced are the accurate ones anyway.
	rc := C.lsb_decompress_planes(t.dec, src, srcLen, yp, up, vp, w, yStride, cStride, h, 0)
	if rc != 0 && C.tjGetErrorCode(t.dec) == C.TJERR_FATAL {
		return nil, size, t.decodeFailed()
	}
	if outSamp != subsamp {
		y := t.planes[:ySize]
		decodedRows := int(C.tjPlaneHeight(0, h, subsamp))
		for r := decodedRows; r < int(yRows); r++ {
			copy(y[r*int(yStride):(r+1)*int(yStride)], y[(decodedRows-1)*int(yStride):])
		}
		foldRows(t.planes[ySize:ySize+cSize], int(cStride), int(cRows))
		foldRows(t.planes[ySize+cSize:], int(cStride), int(cRows))
	}
	need := C.tjBufSize(w, h, outSamp)
	if need > t.bufSize {
		if t.buf != nil {
			C.tjFree(t.buf)
		}
		if t.buf = C.tjAlloc(C.int(need)); t.buf == nil {
			t.bufSize = 0
			return nil, size, errors.New("libjpeg-turbo: out of memory")
		}
		t.bufSize = need
	}
	outLen := t.bufSize
	rc = C.lsb_compress_yuv(t.enc, yp, up, vp, w, yStride, cStride, h, outSamp, &t.buf, &outLen,
		C.int(quality), C.TJFLAG_NOREALLOC|C.TJFLAG_FASTDCT)
	if rc != 0 {
		return nil, size, fmt.Errorf("libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(t.enc)))
	}
	return C.GoBytes(unsafe.Pointer(t.buf), C.int(outLen)), size, nil
}

// decodeFailed reports the decompressor's error and replaces it (see
// failed).
func (t *Transcoder) decodeFailed() error { return failed(&t.dec) }

// foldRows turns a 4:2:2 chroma plane of rows rows into 4:2:0 in place,
// each row the mean of two (the last alone when rows is odd), as planar
// does for packed YUV. Row r reads rows 2r and 2r+1, never one already
// written.
func foldRows(p []byte, stride, rows int) {
	for r := 0; 2*r < rows; r++ {
		a := p[2*r*stride : (2*r+1)*stride]
		b := a
		if 2*r+1 < rows {
			b = p[(2*r+1)*stride : (2*r+2)*stride]
		}
		dst := p[r*stride : (r+1)*stride]
		for i := range dst {
			dst[i] = byte((uint(a[i]) + uint(b[i]) + 1) / 2)
		}
	}
}
