package main

import (
	"context"
	"image"
	"log/slog"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
)

// patternFrame is the test pattern's first frame at size.
func patternFrame(t *testing.T, size capture.Size) capture.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var f capture.Frame
	src := &pattern.Source{Size: size, FPS: 30, Quality: 80, Workers: 1}
	err := src.Run(ctx, func(got capture.Frame) {
		if f.JPEG == nil {
			f = got
			cancel()
		}
	})
	if err != nil || f.JPEG == nil {
		t.Fatalf("%v: no pattern frame: %v", size, err)
	}
	return f
}

// TestDecodeScaledReadsPattern: --headless decodes pictures to grey at
// the smallest scale that reads the test pattern's clock, and keeps the
// stream's size, at every stream size the benchmarks use.
func TestDecodeScaledReadsPattern(t *testing.T) {
	for _, c := range []struct {
		size capture.Size
		want image.Point
	}{
		{capture.Size{W: 1280, H: 720}, image.Pt(320, 180)},
		{capture.Size{W: 1920, H: 1080}, image.Pt(480, 270)},
		{capture.Size{W: 640, H: 480}, image.Pt(320, 240)},
	} {
		f := patternFrame(t, c.size)
		d, err := newDecoder(nil, true, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		m, full, err := d.decodeJPEG(f.JPEG)
		d.jpeg.Close()
		if err != nil {
			t.Fatalf("%v: %v", c.size, err)
		}
		got := image.Pt(m.Cols(), m.Rows())
		lat, ok := patternLatency(m, f.Captured.Add(50*time.Millisecond))
		ch := m.Channels()
		m.Close()
		if got != c.want || full != image.Pt(c.size.W, c.size.H) || ch != 1 {
			t.Errorf("%v: decoded %v with %d channels of %v, want %v grey", c.size, got, ch, full, c.want)
		}
		if !ok || lat < 49*time.Millisecond || lat > 51*time.Millisecond {
			t.Errorf("%v: pattern latency %v, %v, want 50ms", c.size, lat, ok)
		}
	}
}

// TestLayoutPicture: the picture's place in the window is its aspect
// fitted once, or a fast scale of it when one comes within 1/16.
func TestLayoutPicture(t *testing.T) {
	for _, c := range []struct {
		stream, window image.Point
		want           image.Point
	}{
		{image.Pt(1920, 1080), image.Pt(1280, 720), image.Pt(960, 540)}, // 1/2, the panel 20 px wider
		{image.Pt(1280, 720), image.Pt(1280, 720), image.Pt(980, 551)},
		{image.Pt(1280, 720), image.Pt(800, 450), image.Pt(500, 281)},
		{image.Pt(1280, 720), image.Pt(1920, 1080), image.Pt(1620, 911)},
		{image.Pt(1280, 720), image.Pt(720, 1280), image.Pt(720, 405)}, // portrait: spans the width
		{image.Pt(1280, 720), image.Pt(640, 1000), image.Pt(640, 360)}, // portrait at 1/2
	} {
		lay := newLayout(c.window.X, c.window.Y, c.stream)
		if lay.picture.Size() != c.want || !lay.picture.In(lay.video) || lay.video.Overlaps(lay.panel) {
			t.Errorf("%v in %v: picture %v in video %v, panel %v, want %v", c.stream, c.window, lay.picture, lay.video, lay.panel, c.want)
		}
	}
}

// TestDecodeToDrawnSize: the window's pictures come decoded at the size
// drawn, whichever way the scaler takes there, with the colours of a full
// decode shrunk by INTER_AREA (libjpeg-turbo 2.1's 1/2 decode to planes
// would turn the yellow bar orange) and the test pattern's clock reading.
// A picture of a size the window has no target for comes at full size.
func TestDecodeToDrawnSize(t *testing.T) {
	for _, c := range []struct {
		size  capture.Size
		drawn image.Point
	}{
		{capture.Size{W: 1920, H: 1080}, image.Pt(960, 540)}, // 1/2, straight
		{capture.Size{W: 1280, H: 720}, image.Pt(980, 551)},  // planes from full
		{capture.Size{W: 1280, H: 720}, image.Pt(1620, 911)}, // planes from full, enlarged
		{capture.Size{W: 1280, H: 720}, image.Pt(500, 281)},  // 1/2 and resized
		{capture.Size{W: 1920, H: 1080}, image.Pt(300, 169)}, // planes from 1/4
		{capture.Size{W: 1920, H: 1080}, image.Pt(200, 113)}, // planes from 1/8, 135 rows padded to 136
		{capture.Size{W: 1280, H: 720}, image.Pt(160, 90)},   // 1/8, straight
		{capture.Size{W: 1280, H: 720}, image.Point{}},       // no target: full size
	} {
		f := patternFrame(t, c.size)
		d, err := newDecoder(nil, false, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		full := image.Pt(c.size.W, c.size.H)
		want := c.drawn
		if want == (image.Point{}) {
			want = full
		} else {
			d.setTarget(full, c.drawn)
		}
		m, gotFull, err := d.decodeJPEG(f.JPEG)
		if err != nil {
			t.Fatalf("%v at %v: %v", c.size, c.drawn, err)
		}
		got := image.Pt(m.Cols(), m.Rows())
		lat, ok := patternLatency(m, f.Captured.Add(50*time.Millisecond))
		diff := diffFromReference(t, d, f.JPEG, m)
		m.Close()
		d.scale.close()
		d.jpeg.Close()
		if got != want || gotFull != full {
			t.Errorf("%v at %v: decoded %v of %v", c.size, c.drawn, got, gotFull)
		}
		if !ok || lat < 49*time.Millisecond || lat > 51*time.Millisecond {
			t.Errorf("%v at %v: pattern latency %v, %v, want 50ms", c.size, c.drawn, lat, ok)
		}
		t.Logf("%v at %v: %.2f a byte from the reference", c.size, c.drawn, diff)
		if diff > 4 {
			t.Errorf("%v at %v: %.2f a byte from a full decode shrunk by INTER_AREA", c.size, c.drawn, diff)
		}
	}
}

// diffFromReference is the mean difference a byte between m and data
// decoded at full size and resized to m's size by INTER_AREA.
func diffFromReference(t *testing.T, d *decoder, data []byte, m gocv.Mat) float64 {
	t.Helper()
	w, h, err := d.jpeg.Size(data)
	if err != nil {
		t.Fatal(err)
	}
	ref := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC4)
	defer ref.Close()
	if err := d.scale.decodeBGRA(data, ref); err != nil {
		t.Fatal(err)
	}
	if w != m.Cols() || h != m.Rows() {
		gocv.Resize(ref, &ref, image.Pt(m.Cols(), m.Rows()), 0, 0, gocv.InterpolationArea)
	}
	a, b := m.ToBytes(), ref.ToBytes()
	var sum int
	for i := range a {
		sum += max(int(a[i])-int(b[i]), int(b[i])-int(a[i]))
	}
	return float64(sum) / float64(len(a))
}
