package encode

import (
	"bytes"
	"fmt"
	"testing"
)

// packed lays out the planes of an I420 frame the way a camera sends
// them: YUYV, UYVY (each chroma row twice) or NV12, with padded rows as
// drivers do.
func packed(p Raw, f PixelFormat, pad int) Raw {
	w, h := p.Width, p.Height
	cw := w / 2
	y := p.Pix[:w*h]
	ch := (h + 1) / 2
	u, v := p.Pix[w*h:w*h+cw*ch], p.Pix[w*h+cw*ch:]
	switch f {
	case YUYV, UYVY:
		stride := 2*w + pad
		out := make([]byte, stride*h)
		for row := range h {
			for i := range cw {
				m := out[row*stride+4*i:]
				y0, y1, uu, vv := y[row*w+2*i], y[row*w+2*i+1], u[row/2*cw+i], v[row/2*cw+i]
				if f == YUYV {
					m[0], m[1], m[2], m[3] = y0, uu, y1, vv
				} else {
					m[0], m[1], m[2], m[3] = uu, y0, vv, y1
				}
			}
		}
		return Raw{Format: f, Width: w, Height: h, Stride: stride, Pix: out}
	case NV12:
		stride := w + pad
		out := make([]byte, stride*(h+ch))
		for row := range h {
			copy(out[row*stride:], y[row*w:(row+1)*w])
		}
		for row := range ch {
			for i := range cw {
				out[stride*(h+row)+2*i] = u[row*cw+i]
				out[stride*(h+row)+2*i+1] = v[row*cw+i]
			}
		}
		return Raw{Format: f, Width: w, Height: h, Stride: stride, Pix: out}
	}
	panic(f)
}

// yuvPlanes is a planar frame with distinct values in every plane, so a
// swapped or shifted plane changes the JPEG.
func yuvPlanes(f PixelFormat, w, h int) Raw {
	ch := h
	if f == I420 {
		ch = (h + 1) / 2
	}
	pix := make([]byte, w*h+2*(w/2)*ch)
	for i := range w * h {
		pix[i] = byte(16 + (i%w)*200/w)
	}
	for i := range (w / 2) * ch {
		pix[w*h+i] = byte(64 + (i/(w/2))*100/ch)
		pix[w*h+(w/2)*ch+i] = byte(192 - (i%(w/2))*100/(w/2))
	}
	return Raw{Format: f, Width: w, Height: h, Stride: w, Pix: pix}
}

// TestPackedYUVEqualsPlanar: a packed frame encodes to exactly the JPEG of
// the planar frame it holds, so the conversion neither moves nor alters a
// sample.
func TestPackedYUVEqualsPlanar(t *testing.T) {
	c, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		packed, planar PixelFormat
		w, h, pad      int
	}{
		{YUYV, I420, 320, 240, 0},
		{YUYV, I420, 322, 17, 12},
		{UYVY, I420, 320, 240, 0},
		{UYVY, I420, 64, 48, 32},
		{NV12, I420, 320, 240, 0},
		{NV12, I420, 66, 35, 30},
	} {
		t.Run(fmt.Sprintf("%v_%dx%d_pad%d", tc.packed, tc.w, tc.h, tc.pad), func(t *testing.T) {
			p := yuvPlanes(tc.planar, tc.w, tc.h)
			want, err := c.Encode(p, 85)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Encode(packed(p, tc.packed, tc.pad), 85)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%v encodes to %d bytes that differ from the planar %v's %d", tc.packed, len(got), tc.planar, len(want))
			}
		})
	}
}

func TestPackedYUVRejectsBadFrames(t *testing.T) {
	c, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, r := range map[string]Raw{
		"YUYV short":    {Format: YUYV, Width: 64, Height: 64, Stride: 128, Pix: make([]byte, 128*63)},
		"YUYV odd":      {Format: YUYV, Width: 63, Height: 64, Stride: 128, Pix: make([]byte, 128*64)},
		"UYVY stride":   {Format: UYVY, Width: 64, Height: 64, Stride: 100, Pix: make([]byte, 128*64)},
		"NV12 no UV":    {Format: NV12, Width: 64, Height: 64, Stride: 64, Pix: make([]byte, 64*64)},
		"RGB stride":    {Format: RGB, Width: 64, Height: 64, Stride: 64, Pix: make([]byte, 3*64*64)},
		"NV12 odd size": {Format: NV12, Width: 65, Height: 64, Stride: 66, Pix: make([]byte, 66*96)},
	} {
		if _, err := c.Encode(r, 80); err == nil {
			t.Errorf("%s: encoded without error", name)
		}
	}
}

// BenchmarkCameraFormats compares the YUV paths with the BGR path OpenCV's
// capture takes (BGR encode alone, before counting the YUYV→BGR
// conversion it also needs): report ns/op of YUYV against BGR.
func BenchmarkCameraFormats(b *testing.B) {
	for _, sz := range [][2]int{{640, 480}, {1280, 720}, {1920, 1080}} {
		w, h := sz[0], sz[1]
		rgba := cameraLike(w, h, 3)
		i420 := fromRGBA(rgba, I420)
		bgr := Raw{Format: BGR, Width: w, Height: h, Stride: 3 * w, Pix: make([]byte, 3*w*h)}
		for i := range w * h {
			copy(bgr.Pix[3*i:3*i+3], []byte{rgba.Pix[4*i+2], rgba.Pix[4*i+1], rgba.Pix[4*i]})
		}
		for _, r := range []Raw{packed(i420, YUYV, 0), packed(i420, NV12, 0), i420, bgr} {
			b.Run(fmt.Sprintf("%v/%dx%d", r.Format, w, h), func(b *testing.B) {
				c, err := NewCompressor()
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				b.SetBytes(int64(len(r.Pix)))
				for b.Loop() {
					if _, err := c.Encode(r, 80); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// fromRGBA converts a camera-like RGBA frame to planar YUV (BT.601, full
// range; subsampled by taking the top-left pixel), so every path of the
// benchmark compresses the same picture.
func fromRGBA(rgba Raw, f PixelFormat) Raw {
	w, h := rgba.Width, rgba.Height
	p := yuvPlanes(f, w, h)
	cw, ch := w/2, h
	if f == I420 {
		ch = (h + 1) / 2
	}
	for y := range h {
		for x := range w {
			px := rgba.Pix[4*(y*w+x):]
			r, g, b := float64(px[0]), float64(px[1]), float64(px[2])
			p.Pix[y*w+x] = byte(0.299*r + 0.587*g + 0.114*b)
			cy := y
			if f == I420 {
				cy = y / 2
			}
			if x%2 == 0 && (f == I422 || y%2 == 0) {
				p.Pix[w*h+cy*cw+x/2] = byte(128 - 0.168736*r - 0.331264*g + 0.5*b)
				p.Pix[w*h+cw*ch+cy*cw+x/2] = byte(128 + 0.5*r - 0.418688*g - 0.081312*b)
			}
		}
	}
	return p
}
