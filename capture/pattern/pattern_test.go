package pattern

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

func collect(t *testing.T, src *Source, n int) []capture.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		frames []capture.Frame
	)
	err := src.Run(ctx, func(f capture.Frame) {
		mu.Lock()
		defer mu.Unlock()
		if len(frames) < n {
			frames = append(frames, f)
		}
		if len(frames) == n {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) < n {
		t.Fatalf("%d frames in 10 s, want %d", len(frames), n)
	}
	return frames
}

func TestFramesCarryCounterAndClock(t *testing.T) {
	for _, sz := range []capture.Size{{W: 320, H: 240}, {W: 1280, H: 720}, {W: 1920, H: 1080}} {
		frames := collect(t, &Source{Size: sz, FPS: 30, Quality: 80}, 5)
		for i, f := range frames {
			if f.Width != sz.W || f.Height != sz.H {
				t.Fatalf("%v frame %d is %dx%d", sz, i, f.Width, f.Height)
			}
			if i > 0 && f.Seq <= frames[i-1].Seq {
				t.Fatalf("%v: seq %d after %d", sz, f.Seq, frames[i-1].Seq)
			}
			pix, w, h := testenv.Gray(t, f.JPEG)
			seq, clock, ok := Read(pix, w, h)
			if !ok {
				t.Fatalf("%v frame %d: strip unreadable", sz, i)
			}
			if uint64(seq) != f.Seq || clock != uint32(f.Captured.UnixMilli()) {
				t.Fatalf("%v frame %d: strip says %d at %d, frame is %d at %d", sz, i, seq, clock, f.Seq, uint32(f.Captured.UnixMilli()))
			}
		}
	}
}

func TestSlate(t *testing.T) {
	f := collect(t, &Source{Size: capture.Size{W: 640, H: 480}, FPS: 5, Quality: 80, Message: "NO SIGNAL"}, 1)[0]
	pix, w, h := testenv.Gray(t, f.JPEG)
	if _, _, ok := Read(pix, w, h); !ok {
		t.Fatal("slate has no strip")
	}
	// The corners are slate grey, not bars.
	if v := pix[(h/2)*w+5]; v < SlateGrey-8 || v > SlateGrey+8 {
		t.Fatalf("slate background %d, want about %d", v, SlateGrey)
	}
}

func TestRateHolds(t *testing.T) {
	start := time.Now()
	frames := collect(t, &Source{Size: capture.Size{W: 160, H: 120}, FPS: 50, Quality: 50}, 26)
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Fatalf("26 frames at 50 fps took %v: the source does not pace itself", el)
	}
	_ = frames
}

func TestBadSettings(t *testing.T) {
	for _, s := range []*Source{{Size: capture.Size{W: 8, H: 8}, FPS: 30, Quality: 80}, {Size: capture.Size{W: 64, H: 64}, FPS: 0, Quality: 80}} {
		if err := s.Run(context.Background(), func(capture.Frame) {}); err == nil {
			t.Errorf("%+v ran", s)
		}
	}
}

func FuzzReadStrip(f *testing.F) {
	f.Add([]byte{255, 0, 255}, 3, 3, 0)
	f.Add(bytes.Repeat([]byte{255}, 340), 34, 34, 9)
	f.Fuzz(func(t *testing.T, gray []byte, w, stride, y int) {
		if w > 1<<16 || stride > 1<<16 || w <= 0 || stride < w {
			return
		}
		ReadStrip(gray, w, stride, y)
	})
}
