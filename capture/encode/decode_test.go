package encode

import (
	"errors"
	"image"
	"slices"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

func TestScaledSize(t *testing.T) {
	for _, c := range []struct {
		w, h    int
		atLeast image.Point
		want    image.Point
	}{
		{1920, 1080, image.Pt(896, 504), image.Pt(960, 540)},   // 4/8
		{1920, 1080, image.Pt(700, 390), image.Pt(960, 540)},   // 4/8, not the slower 3/8
		{1920, 1080, image.Pt(961, 540), image.Pt(1920, 1080)}, // 8/8, not the slower 5/8
		{1280, 720, image.Pt(1, 1), image.Pt(160, 90)},         // 1/8
		{1280, 720, image.Pt(1281, 1), image.Pt(1280, 720)},    // never upscaled
		{1280, 720, image.Pt(272, 0), image.Pt(320, 180)},      // 2/8
		{100, 75, image.Pt(0, 0), image.Pt(13, 10)},            // rounded up
	} {
		if got := ScaledSize(c.w, c.h, c.atLeast); got != c.want {
			t.Errorf("ScaledSize(%d, %d, %v) = %v, want %v", c.w, c.h, c.atLeast, got, c.want)
		}
	}
}

// encodedFor encodes src at quality q and returns it with a Decompressor
// that lives until the test ends.
func encodedFor(t testing.TB, src Raw, q int) ([]byte, *Decompressor) {
	t.Helper()
	c, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, err := c.Encode(src, q)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecompressor()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return data, d
}

// TestDecodeScaled encodes a camera-like frame and decodes it back at
// every scale and layout: the size asked for, and pixels close to the
// original's sampled at the same place.
func TestDecodeScaled(t *testing.T) {
	w, h := 320, 240
	src := cameraLike(w, h, 3)
	data, d := encodedFor(t, src, 95)
	if gw, gh, err := d.Size(data); err != nil || gw != w || gh != h {
		t.Fatalf("Size = %d, %d, %v", gw, gh, err)
	}
	for _, num := range []int{1, 2, 4, 8} {
		size := scaled(w, h, num)
		for _, f := range []PixelFormat{BGR, RGB, RGBA, BGRA, Gray} {
			bpp := map[PixelFormat]int{BGR: 3, RGB: 3, RGBA: 4, BGRA: 4, Gray: 1}[f]
			dst := Raw{Format: f, Width: size.X, Height: size.Y, Stride: bpp*size.X + 8, Pix: make([]byte, (bpp*size.X+8)*size.Y)}
			if err := d.Decode(data, dst); err != nil {
				t.Fatalf("%d/8 %v: %v", num, f, err)
			}
			// Mean green (or luma) over the picture: scaling averages,
			// so it stays near the original's.
			var got, want float64
			for y := range size.Y {
				for x := range size.X {
					i := y*dst.Stride + x*bpp
					if bpp == 4 && dst.Pix[i+3] != 255 {
						t.Fatalf("%d/8 %v: alpha %d at %d,%d", num, f, dst.Pix[i+3], x, y)
					}
					switch f {
					case Gray:
						got += float64(dst.Pix[i])
					default:
						got += float64(dst.Pix[i+1])
					}
				}
			}
			for i := 0; i < len(src.Pix); i += 4 {
				r, g, b := float64(src.Pix[i]), float64(src.Pix[i+1]), float64(src.Pix[i+2])
				if f == Gray {
					want += 0.299*r + 0.587*g + 0.114*b
				} else {
					want += g
				}
			}
			got /= float64(size.X * size.Y)
			want /= float64(w * h)
			if got < want-4 || got > want+4 {
				t.Errorf("%d/8 %v: mean %.1f, original %.1f", num, f, got, want)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	data, d := encodedFor(t, cameraLike(64, 48, 1), 80)
	for name, tc := range map[string]struct {
		data []byte
		dst  Raw
	}{
		"not a JPEG":   {[]byte("hello"), Raw{Format: BGR, Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 192*48)}},
		"empty":        {nil, Raw{Format: BGR, Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 192*48)}},
		"not a scale":  {data, Raw{Format: BGR, Width: 50, Height: 40, Stride: 150, Pix: make([]byte, 150*40)}},
		"upscaled":     {data, Raw{Format: BGR, Width: 128, Height: 96, Stride: 384, Pix: make([]byte, 384*96)}},
		"short buffer": {data, Raw{Format: BGR, Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 100)}},
		"planar":       {data, Raw{Format: I420, Width: 64, Height: 48, Stride: 64, Pix: make([]byte, 64*72)}},
		"bad marker":   {[]byte{0xff, 0xd8, 0xff, 0x86, 1, 2, 3}, Raw{Format: BGR, Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 192*48)}},
		"header only":  {data[:200], Raw{Format: BGR, Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 192*48)}},
	} {
		if err := d.Decode(tc.data, tc.dst); err == nil {
			t.Errorf("%s: accepted", name)
		}
		// A broken frame costs that frame only.
		if err := d.Decode(data, Raw{Format: BGR, Width: 64, Height: 48, Stride: 192, Pix: make([]byte, 192*48)}); err != nil {
			t.Fatalf("after %s: %v", name, err)
		}
	}
	c, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Encode(Raw{Format: Gray, Width: 8, Height: 8, Stride: 8, Pix: make([]byte, 64)}, 80); err == nil {
		t.Error("Gray encoded")
	}
	if _, err := c.Encode(Raw{Format: BGRA, Width: 8, Height: 8, Stride: 32, Pix: make([]byte, 256)}, 80); err == nil {
		t.Error("BGRA encoded")
	}
}

// BenchmarkDecode1080p: a full-size BGR decode against the scaled ones a
// window of 896×504 and --headless take.
func BenchmarkDecode1080p(b *testing.B) {
	data, d := encodedFor(b, cameraLike(1920, 1080, 1), 80)
	for _, bc := range []struct {
		name string
		f    PixelFormat
		bpp  int
		num  int
	}{{"bgr-8/8", BGR, 3, 8}, {"bgr-4/8", BGR, 3, 4}, {"gray-2/8", Gray, 1, 2}} {
		b.Run(bc.name, func(b *testing.B) {
			s := scaled(1920, 1080, bc.num)
			dst := Raw{Format: bc.f, Width: s.X, Height: s.Y, Stride: bc.bpp * s.X, Pix: make([]byte, bc.bpp*s.X*s.Y)}
			for b.Loop() {
				if err := d.Decode(data, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestDecodeYUV: planes decoded at the scales DecodeYUV takes, converted,
// give the pixels Decode gives at that scale; 4/8 is refused.
func TestDecodeYUV(t *testing.T) {
	w, h := 320, 240
	data, d := encodedFor(t, cameraLike(w, h, 3), 90)
	c, err := d.Chroma(data)
	if errors.Is(err, errNoYUV) {
		testenv.Unavailable(t, "%v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	for _, num := range []int{1, 2, 4, 8} {
		size := scaled(w, h, num)
		sizes, err := c.PlaneSizes(size.X, size.Y)
		if err != nil {
			t.Fatal(err)
		}
		y := YUV{Width: size.X, Height: size.Y, Chroma: c}
		for _, s := range sizes {
			y.Planes, y.Strides = append(y.Planes, make([]byte, (s.X+3)*s.Y)), append(y.Strides, s.X+3)
		}
		if err := d.DecodeYUV(data, y); num == 4 {
			if err == nil {
				t.Error("4/8 decoded to planes, where libjpeg-turbo 2.1 gets the chroma wrong")
			}
			continue
		} else if err != nil {
			t.Fatalf("%d/8: %v", num, err)
		}
		got := Raw{Format: BGRA, Width: size.X, Height: size.Y, Stride: 4 * size.X, Pix: make([]byte, 4*size.X*size.Y)}
		if err := d.ConvertYUV(y, got); err != nil {
			t.Fatalf("%d/8: %v", num, err)
		}
		want := Raw{Format: BGRA, Width: size.X, Height: size.Y, Stride: 4 * size.X, Pix: make([]byte, 4*size.X*size.Y)}
		if err := d.Decode(data, want); err != nil {
			t.Fatal(err)
		}
		var diff int
		for i := range got.Pix {
			diff += max(int(got.Pix[i])-int(want.Pix[i]), int(want.Pix[i])-int(got.Pix[i]))
		}
		if mean := float64(diff) / float64(len(got.Pix)); mean > 3 {
			t.Errorf("%d/8: planes converted differ from Decode by %.2f a byte", num, mean)
		}
	}
}

// TestPlaneSizes: the planes' sizes are turbojpeg's tjPlaneWidth and
// tjPlaneHeight, the luma padded to whole chroma samples (as printed by
// libjpeg-turbo 2.1.5 for 551×135).
func TestPlaneSizes(t *testing.T) {
	for _, c := range []struct {
		chroma Chroma
		want   []image.Point
	}{
		{Chroma444, []image.Point{{551, 135}, {551, 135}, {551, 135}}},
		{Chroma422, []image.Point{{552, 135}, {276, 135}, {276, 135}}},
		{Chroma420, []image.Point{{552, 136}, {276, 68}, {276, 68}}},
		{ChromaGray, []image.Point{{551, 135}}},
		{Chroma440, []image.Point{{551, 136}, {551, 68}, {551, 68}}},
		{Chroma411, []image.Point{{552, 135}, {138, 135}, {138, 135}}},
	} {
		got, err := c.chroma.PlaneSizes(551, 135)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%d: PlaneSizes(551, 135) = %v, %v, want %v", c.chroma, got, err, c.want)
		}
	}
}
