package main

import (
	"context"
	"image"
	"log/slog"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
)

// TestDecodeScaledReadsPattern: pictures decoded at the sizes the window
// and --headless ask for are those sizes, keep the stream's, and still
// carry the test pattern's clock at every stream size the benchmarks use.
func TestDecodeScaledReadsPattern(t *testing.T) {
	for _, c := range []struct {
		size     capture.Size
		area     image.Point // the window's video area; zero: headless
		want     image.Point
		channels int
	}{
		{capture.Size{W: 1280, H: 720}, image.Point{}, image.Pt(320, 180), 1},
		{capture.Size{W: 1920, H: 1080}, image.Point{}, image.Pt(480, 270), 1},
		{capture.Size{W: 640, H: 480}, image.Point{}, image.Pt(320, 240), 1},
		{capture.Size{W: 1920, H: 1080}, image.Pt(980, 692), image.Pt(960, 540), 4}, // the default window
		{capture.Size{W: 1280, H: 720}, image.Pt(980, 692), image.Pt(1280, 720), 4},
		{capture.Size{W: 1920, H: 1080}, image.Pt(400, 300), image.Pt(480, 270), 4},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var f capture.Frame
		src := &pattern.Source{Size: c.size, FPS: 30, Quality: 80, Workers: 1}
		err := src.Run(ctx, func(got capture.Frame) {
			if f.JPEG == nil {
				f = got
				cancel()
			}
		})
		cancel()
		if err != nil || f.JPEG == nil {
			t.Fatalf("%v: no pattern frame: %v", c.size, err)
		}
		d, err := newDecoder(nil, c.area == image.Point{}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if c.area != (image.Point{}) {
			d.setArea(c.area)
		}
		m, full, err := d.decodeJPEG(f.JPEG)
		d.jpeg.Close()
		if err != nil {
			t.Fatalf("%v in %v: %v", c.size, c.area, err)
		}
		got := image.Pt(m.Cols(), m.Rows())
		lat, ok := patternLatency(m, f.Captured.Add(50*time.Millisecond))
		ch := m.Channels()
		m.Close()
		if got != c.want || full != image.Pt(c.size.W, c.size.H) || ch != c.channels {
			t.Errorf("%v in %v: decoded %v with %d channels of %v, want %v with %d of %v",
				c.size, c.area, got, ch, full, c.want, c.channels, c.size)
		}
		if !ok || lat < 49*time.Millisecond || lat > 51*time.Millisecond {
			t.Errorf("%v in %v: pattern latency %v, %v, want 50ms", c.size, c.area, lat, ok)
		}
	}
}
