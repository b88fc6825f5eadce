package encode

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// cameraLike fills an RGBA frame with what a camera sees more than flat
// colour: smooth gradients, edges and sensor noise.
func cameraLike(w, h int, seed uint64) Raw {
	rng := rand.New(rand.NewPCG(seed, 7))
	pix := make([]byte, 4*w*h)
	for y := range h {
		for x := range w {
			i := 4 * (y*w + x)
			edge := byte(0)
			if (x/97+y/61)%2 == 0 {
				edge = 60
			}
			n := byte(rng.IntN(12))
			pix[i] = byte(x*200/w) + edge/2 + n
			pix[i+1] = byte(y*180/h) + n
			pix[i+2] = byte((x+y)*120/(w+h)) + edge + n
			pix[i+3] = 255
		}
	}
	return Raw{Format: RGBA, Width: w, Height: h, Stride: 4 * w, Pix: pix}
}

func TestEncodeFormats(t *testing.T) {
	w, h := 320, 240
	rgba := cameraLike(w, h, 1)
	bgr := Raw{Format: BGR, Width: w, Height: h, Stride: 3 * w, Pix: make([]byte, 3*w*h)}
	i420 := Raw{Format: I420, Width: w, Height: h, Stride: w, Pix: make([]byte, w*h*3/2)}
	i422 := Raw{Format: I422, Width: w, Height: h, Stride: w, Pix: make([]byte, w*h*2)}
	for i := range i420.Pix {
		i420.Pix[i] = byte(i)
	}
	c, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, r := range []Raw{rgba, bgr, i420, i422} {
		data, err := c.Encode(r, 80)
		if err != nil {
			t.Fatalf("%v: %v", r.Format, err)
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%v: output does not decode: %v", r.Format, err)
		}
		if img.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("%v: decoded %v", r.Format, img.Bounds())
		}
	}
}

func TestEncodeRejectsBadFrames(t *testing.T) {
	c, err := NewCompressor()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, r := range map[string]Raw{
		"short buffer": {Format: RGBA, Width: 64, Height: 64, Stride: 256, Pix: make([]byte, 100)},
		"small stride": {Format: BGR, Width: 64, Height: 64, Stride: 10, Pix: make([]byte, 64*64*3)},
		"zero size":    {Format: RGBA, Width: 0, Height: 64, Stride: 0, Pix: make([]byte, 4)},
		"odd I420":     {Format: I420, Width: 63, Height: 64, Stride: 63, Pix: make([]byte, 64*64*2)},
		"no format":    {Format: PixelFormat(99), Width: 8, Height: 8, Stride: 32, Pix: make([]byte, 256)},
	} {
		if _, err := c.Encode(r, 80); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := c.Encode(cameraLike(16, 16, 1), 0); err == nil {
		t.Error("quality 0 accepted")
	}
}

func TestPoolKeepsOrder(t *testing.T) {
	in := make(chan Job)
	var got []uint64
	var done atomic.Int64
	const n = 200
	go func() {
		defer close(in)
		for i := range n {
			// Frames of different sizes take different times, so workers
			// finish out of order.
			w := 16 * (1 + i%7)
			in <- Job{Raw: cameraLike(w, w, uint64(i)), Seq: uint64(i), Captured: time.Now(), Done: func() { done.Add(1) }}
		}
	}()
	err := Pool{Workers: 4, Quality: 70}.Run(context.Background(), in, func(f capture.Frame) {
		got = append(got, f.Seq)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || done.Load() != n {
		t.Fatalf("%d frames emitted, %d released, want %d", len(got), done.Load(), n)
	}
	for i, s := range got {
		if s != uint64(i) {
			t.Fatalf("frame %d has seq %d", i, s)
		}
	}
}

func TestPoolStopsOnError(t *testing.T) {
	in := make(chan Job, 3)
	in <- Job{Raw: cameraLike(16, 16, 1)}
	in <- Job{Raw: Raw{Format: RGBA, Width: 16, Height: 16, Stride: 64}}
	err := Pool{Workers: 2, Quality: 70}.Run(context.Background(), in, func(capture.Frame) {})
	if err == nil {
		t.Fatal("a frame without pixels did not stop the pool")
	}
}

func TestPoolStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	in := make(chan Job)
	errc := make(chan error)
	go func() { errc <- Pool{Quality: 70}.Run(ctx, in, func(capture.Frame) {}) }()
	in <- Job{Raw: cameraLike(64, 64, 1)}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Benchmarks: 1280×720 camera-like frames. Compare turbojpeg (ours) with
// Go's image/jpeg on one core, then the pool on every core.
func BenchmarkEncode720p(b *testing.B) {
	r := cameraLike(1280, 720, 1)
	b.Run("turbojpeg", func(b *testing.B) {
		c, err := NewCompressor()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		var bytesOut int
		for b.Loop() {
			data, err := c.Encode(r, 80)
			if err != nil {
				b.Fatal(err)
			}
			bytesOut = len(data)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		b.ReportMetric(float64(bytesOut), "bytes/frame")
	})
	b.Run("image-jpeg", func(b *testing.B) {
		img := &image.RGBA{Pix: r.Pix, Stride: r.Stride, Rect: image.Rect(0, 0, r.Width, r.Height)}
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		b.ReportMetric(float64(buf.Len()), "bytes/frame")
	})
	for _, workers := range []int{1, runtime.NumCPU()} {
		b.Run("pool-workers="+strconv.Itoa(workers), func(b *testing.B) {
			in := make(chan Job)
			go func() {
				defer close(in)
				for range b.N {
					in <- Job{Raw: r}
				}
			}()
			b.ResetTimer()
			err := Pool{Workers: workers, Quality: 80}.Run(context.Background(), in, func(capture.Frame) {})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
