package encode

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"strconv"
	"testing"
)

// planarLike is cameraLike as planar YUV (I420 or I422, BT.601 full
// range as JPEG has it), so a test JPEG has the chroma subsampling asked
// for. Without cgo the Compressor writes 4:2:0 whatever it is given.
func planarLike(w, h int, seed uint64, f PixelFormat) Raw {
	rgba := cameraLike(w, h, seed)
	cw, ch, down := w/2, h, 1 // down: luma rows a chroma row spans
	if f == I420 {
		ch, down = (h+1)/2, 2
	}
	pix := make([]byte, w*h+2*cw*ch)
	y, cb, cr := pix[:w*h], pix[w*h:w*h+cw*ch], pix[w*h+cw*ch:]
	for row := range h {
		for x := range w {
			p := rgba.Pix[4*(row*w+x):]
			r, g, b := float64(p[0]), float64(p[1]), float64(p[2])
			y[row*w+x] = byte(0.299*r + 0.587*g + 0.114*b + 0.5)
			if x%2 == 0 && row%down == 0 {
				i := row/down*cw + x/2
				cb[i] = byte(128 - 0.168736*r - 0.331264*g + 0.5*b + 0.5)
				cr[i] = byte(128 + 0.5*r - 0.418688*g - 0.081312*b + 0.5)
			}
		}
	}
	return Raw{Format: f, Width: w, Height: h, Stride: w, Pix: pix}
}

// jpegOf encodes r at quality q.
func jpegOf(t testing.TB, r Raw, q int) []byte {
	t.Helper()
	c, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data, err := c.Encode(r, q)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// rgbAt decodes data at size with a Decompressor, to compare pictures.
func rgbAt(t testing.TB, data []byte, size image.Point) []byte {
	t.Helper()
	d, err := NewDecompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dst := Raw{Format: RGB, Width: size.X, Height: size.Y, Stride: 3 * size.X, Pix: make([]byte, 3*size.X*size.Y)}
	if err := d.Decode(data, dst); err != nil {
		t.Fatal(err)
	}
	return dst.Pix
}

// TestTranscode makes every rung of 4:2:0 and 4:2:2 JPEGs, even and odd
// sizes, with one Transcoder (its buffers grow and shrink): each is a
// 4:2:0 JPEG of the size ScaledDown says, showing the picture a scaled
// decode of the original shows, colour included.
func TestTranscode(t *testing.T) {
	tr, err := NewTranscoder()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, f := range []PixelFormat{I420, I422} {
		for _, sz := range []image.Point{{1280, 720}, {100, 76}, {322, 182}} {
			src := jpegOf(t, planarLike(sz.X, sz.Y, 5, f), 90)
			for _, div := range []int{1, 2, 4, 8} {
				name := f.String() + "/" + strconv.Itoa(sz.X) + "x" + strconv.Itoa(sz.Y) + "/div" + strconv.Itoa(div)
				out, size, err := tr.Transcode(src, div, 85)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want := ScaledDown(sz.X, sz.Y, div)
				if size != want {
					t.Fatalf("%s: size %v, want %v", name, size, want)
				}
				img, err := jpeg.Decode(bytes.NewReader(out))
				if err != nil {
					t.Fatalf("%s: output does not decode: %v", name, err)
				}
				ycc, ok := img.(*image.YCbCr)
				if !ok || img.Bounds() != (image.Rectangle{Max: want}) || ycc.SubsampleRatio != image.YCbCrSubsampleRatio420 {
					t.Fatalf("%s: output %T %v, want 4:2:0 %v", name, img, img.Bounds(), want)
				}
				// Per channel, from the original decoded at the same
				// scale: the mean difference (a chroma gain or offset
				// shows here) and the mean absolute one (a misplaced
				// plane or row shows here). The rung's chroma is 4:2:0
				// where libjpeg-turbo's scaled RGB decode keeps more of
				// it, so edges differ by some levels, most at 1/8
				// (measured: bias up to 2 levels, absolute 6, 9 at 1/8;
				// without cgo, where the reference is sampled rather
				// than averaged, 4 and 8. The libjpeg-turbo bug
				// Transcode steers around was 40 to 70).
				got, ref := rgbAt(t, out, want), rgbAt(t, src, want)
				var bias, diff [3]float64
				for i := range got {
					d := float64(got[i]) - float64(ref[i])
					bias[i%3] += d
					diff[i%3] += abs(d)
				}
				n, most := float64(want.X*want.Y), 10.0
				if div == 8 {
					most = 13
				}
				for c := range diff {
					if b, d := bias[c]/n, diff[c]/n; abs(b) > 5 || d > most {
						t.Errorf("%s: channel %d differs by %.1f levels on average, %.1f absolute", name, c, b, d)
					}
				}
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestTranscodeOwnsNothing: a result stays as it was when the next frame
// is transcoded, so a rung may hand it to readers that keep it.
func TestTranscodeOwnsNothing(t *testing.T) {
	tr, err := NewTranscoder()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	a, _, err := tr.Transcode(jpegOf(t, cameraLike(320, 240, 1), 80), 2, 80)
	if err != nil {
		t.Fatal(err)
	}
	keep := bytes.Clone(a)
	if _, _, err := tr.Transcode(jpegOf(t, cameraLike(320, 240, 2), 80), 2, 80); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, keep) {
		t.Fatal("the next Transcode wrote into an earlier result")
	}
}

// TestTranscodeRejects: what is not a JPEG, or asks for what a
// Transcoder doesn't do, is an error, never a crash; a truncated JPEG is
// either an error or a picture of the right size.
func TestTranscodeRejects(t *testing.T) {
	tr, err := NewTranscoder()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	good := jpegOf(t, cameraLike(64, 48, 1), 80)
	noise := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	for name, tc := range map[string]struct {
		data         []byte
		div, quality int
	}{
		"empty":         {nil, 2, 80},
		"not a JPEG":    {[]byte("hello"), 2, 80},
		"noise":         {noise, 2, 80},
		"SOI only":      {[]byte{0xff, 0xd8}, 2, 80},
		"SOI and noise": {append([]byte{0xff, 0xd8, 0xff}, noise...), 2, 80},
		"header only":   {good[:200], 2, 80},
		"scale 1/3":     {good, 3, 80},
		"scale 1/16":    {good, 16, 80},
		"quality 0":     {good, 2, 0},
		"quality 101":   {good, 2, 101},
	} {
		if _, _, err := tr.Transcode(tc.data, tc.div, tc.quality); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for cut := len(good) / 2; cut < len(good); cut += len(good) / 5 {
		out, size, err := tr.Transcode(good[:cut], 2, 80)
		if err != nil {
			continue
		}
		if img, err := jpeg.Decode(bytes.NewReader(out)); err != nil || img.Bounds().Size() != size || size != image.Pt(32, 24) {
			t.Errorf("cut at %d: %v, %v", cut, size, err)
		}
	}
	// Still usable after all that.
	if _, _, err := tr.Transcode(good, 2, 80); err != nil {
		t.Fatalf("after bad input: %v", err)
	}
}

// BenchmarkTranscode: the CPU of one rung frame, a Transcoder's scaled
// YUV decode and encode, against the peers it replaces: a scaled decode
// to RGB and an encode of that (the same scale, a colour round trip), and
// a full-size decode and encode (what re-encoding the picture at all
// costs). 4:2:2 is a USB webcam's MJPEG, 4:2:0 the test pattern's and
// the Pi camera's.
func BenchmarkTranscode(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"720p", 1280, 720}, {"1080p", 1920, 1080}} {
		for _, f := range []PixelFormat{I422, I420} {
			src := jpegOf(b, planarLike(sz.w, sz.h, 1, f), 80)
			prefix := sz.name + "/" + map[PixelFormat]string{I420: "420", I422: "422"}[f] + "/"
			for _, div := range []int{2, 4} {
				rung := map[int]string{2: "half", 4: "quarter"}[div]
				b.Run(prefix+"transcode-"+rung, func(b *testing.B) {
					tr, err := NewTranscoder()
					if err != nil {
						b.Fatal(err)
					}
					defer tr.Close()
					b.ReportAllocs()
					var n int
					for b.Loop() {
						out, _, err := tr.Transcode(src, div, 80)
						if err != nil {
							b.Fatal(err)
						}
						n = len(out)
					}
					b.ReportMetric(float64(n), "bytes/frame")
				})
				b.Run(prefix+"rgb-"+rung, func(b *testing.B) {
					benchDecodeEncode(b, src, ScaledDown(sz.w, sz.h, div))
				})
			}
			b.Run(prefix+"full", func(b *testing.B) {
				benchDecodeEncode(b, src, image.Pt(sz.w, sz.h))
			})
		}
	}
}

// benchDecodeEncode decodes src to RGB at size and encodes that, 4:2:0.
func benchDecodeEncode(b *testing.B, src []byte, size image.Point) {
	d, err := NewDecompressor()
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	c, err := NewCompressor()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	dst := Raw{Format: RGB, Width: size.X, Height: size.Y, Stride: 3 * size.X, Pix: make([]byte, 3*size.X*size.Y)}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		if err := d.Decode(src, dst); err != nil {
			b.Fatal(err)
		}
		out, err := c.Encode(dst, 80)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n), "bytes/frame")
}
