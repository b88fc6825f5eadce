package encode

import (
	"encoding/binary"
	"fmt"
)

// planar returns r rearranged into the planar layout libjpeg-turbo
// compresses from (I420), written into dst
// when it is large enough, so a worker reuses one buffer for every frame.
// Converting YUV to YUV keeps the camera's chroma as it is: no RGB round
// trip, and a third of the memory traffic of one.
func planar(r Raw, dst []byte) (Raw, []byte) {
	w, h := r.Width, r.Height
	cw := w / 2
	out := Raw{Width: w, Height: h, Stride: w}
	switch r.Format {
	case YUYV, UYVY:
		// 4:2:2 becomes 4:2:0, averaging each pair of chroma rows: the JPEG
		// the RGB paths make is 4:2:0 too, and it halves the chroma to
		// compress, which costs more than the averaging saves.
		out.Format = I420
		ch := (h + 1) / 2
		dst = grow(dst, w*h+2*cw*ch)
		y, u, v := dst[:w*h], dst[w*h:w*h+cw*ch], dst[w*h+cw*ch:]
		// Bit offsets of Y0, U, Y1 and V inside each little-endian 32-bit
		// macropixel: whole-word loads keep the loop free of bounds checks
		// per byte, which cost more than the arithmetic.
		y0, uo, y1, vo := 0, 8, 16, 24
		if r.Format == UYVY {
			y0, uo, y1, vo = 8, 0, 24, 16
		}
		for row := 0; row < h; row += 2 {
			next := min(row+1, h-1)
			a := r.Pix[row*r.Stride : row*r.Stride+4*cw]
			b := r.Pix[next*r.Stride : next*r.Stride+4*cw]
			ya, yb := y[row*w:row*w+2*cw], y[next*w:next*w+2*cw]
			ur, vr := u[row/2*cw:(row/2+1)*cw], v[row/2*cw:(row/2+1)*cw]
			for i := range ur {
				ma := binary.LittleEndian.Uint32(a[4*i:])
				mb := binary.LittleEndian.Uint32(b[4*i:])
				binary.LittleEndian.PutUint16(ya[2*i:], uint16(byte(ma>>y0))|uint16(byte(ma>>y1))<<8)
				binary.LittleEndian.PutUint16(yb[2*i:], uint16(byte(mb>>y0))|uint16(byte(mb>>y1))<<8)
				ur[i] = byte((ma>>uo&0xff + mb>>uo&0xff + 1) / 2)
				vr[i] = byte((ma>>vo&0xff + mb>>vo&0xff + 1) / 2)
			}
		}
	case NV12:
		out.Format = I420
		ch := (h + 1) / 2
		dst = grow(dst, w*h+2*cw*ch)
		y, u, v := dst[:w*h], dst[w*h:w*h+cw*ch], dst[w*h+cw*ch:]
		for row := range h {
			copy(y[row*w:(row+1)*w], r.Pix[row*r.Stride:row*r.Stride+w])
		}
		uv := r.Pix[r.Stride*h:]
		for row := range ch {
			src := uv[row*r.Stride : row*r.Stride+2*cw]
			ur, vr := u[row*cw:(row+1)*cw], v[row*cw:(row+1)*cw]
			for i := range cw {
				ur[i] = src[2*i]
				vr[i] = src[2*i+1]
			}
		}
	default:
		panic(fmt.Sprintf("encode: planar called for %v", r.Format))
	}
	out.Pix = dst
	return out, dst
}

// grow returns b resliced to n bytes, reallocated only when too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
