//go:build vmtest && linux

package v4l2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// vividDevice is vivid's capture node in the VM (packaging/vm), where this
// test runs as a cross-built test binary: go test -c -tags vmtest.
const vividDevice = "/dev/video0"

// TestVividControls drives the controls of a real driver, vivid, while it
// streams: brightness changes the picture, a menu, an integer menu and a
// switch round-trip, bad values are refused, and the inactive flag
// follows the automatic gain. Lines starting @@ carry figures for the VM
// harness's report.
func TestVividControls(t *testing.T) {
	if _, err := os.Stat(vividDevice); err != nil {
		testenv.Unavailable(t, "no %s: this test runs in the VM with vivid (make vmtest)", vividDevice)
	}
	s, err := Open(vividDevice, Config{Size: capture.Size{W: 320, H: 180}, FPS: 30}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if s.Info().Driver != "vivid" {
		s.Close()
		t.Fatalf("%s is %q, not vivid", vividDevice, s.Info().Driver)
	}
	if id := s.Identity(); !strings.HasPrefix(id, "platform:vivid") || !strings.HasSuffix(id, " vivid") {
		t.Errorf("Identity %q, want bus info then card, e.g. \"platform:vivid-000 vivid\"", id)
	}
	fmt.Printf("@@IDENTITY %s\n", s.Identity())

	cs, err := s.Controls()
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range cs {
		listed = append(listed, fmt.Sprintf("%s:%s", c.Key, c.Kind))
	}
	fmt.Printf("@@CONTROLS %d %s\n", len(cs), strings.Join(listed, " "))
	kinds := map[string]capture.ControlKind{
		"brightness": capture.KindInt, "contrast": capture.KindInt, "saturation": capture.KindInt, "hue": capture.KindInt,
		"boolean": capture.KindBool, "menu": capture.KindMenu, "integer_menu": capture.KindIntMenu, "button": capture.KindButton,
		"gain_automatic": capture.KindBool, "gain": capture.KindInt,
	}
	for key, kind := range kinds {
		if c, ok := find(cs, key); !ok || c.Kind != kind {
			t.Errorf("%s: listed %v as %q, want kind %s", key, ok, c.Kind, kind)
		}
	}
	// Read-only controls, class headings and types without a widget
	// (64-bit, string, bitmask, arrays) are left out.
	for _, key := range []string{"read_only_integer_32_bits", "user_controls", "vivid_controls", "integer_64_bits", "string", "bitmask"} {
		if _, ok := find(cs, key); ok {
			t.Errorf("%s listed, want it left out", key)
		}
	}

	sizes, err := s.Sizes()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("@@SIZES %v\n", sizes)
	for _, want := range []capture.Size{{W: 640, H: 480}, {W: 1280, H: 720}} {
		if !containsSize(sizes, want) {
			t.Errorf("Sizes %v lacks %v", sizes, want)
		}
	}
	for _, sz := range sizes {
		if sz.W > capture.MaxSide || sz.H > capture.MaxSide {
			t.Errorf("Sizes offers %v, more than RTP/JPEG carries", sz)
		}
	}

	frames := stream(t, s)
	t.Run("brightness", func(t *testing.T) { testBrightness(t, s, frames) })
	t.Run("round-trip", func(t *testing.T) { testRoundTrip(t, s) })
	t.Run("refused", func(t *testing.T) { testRefused(t, s) })
	t.Run("inactive", func(t *testing.T) { testInactive(t, s) })
	frames.stop()

	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if _, err := s.Controls(); err == nil {
		t.Error("Controls after Close succeeded")
	}
	if _, err := s.SetControl("brightness", 128); err == nil {
		t.Error("SetControl after Close succeeded")
	}
}

func find(cs []capture.Control, key string) (capture.Control, bool) {
	for _, c := range cs {
		if c.Key == key {
			return c, true
		}
	}
	return capture.Control{}, false
}

func containsSize(sizes []capture.Size, sz capture.Size) bool {
	for _, s := range sizes {
		if s == sz {
			return true
		}
	}
	return false
}

// frames is Run in the background, keeping the newest frames.
type frames struct {
	mu     sync.Mutex
	recent []capture.Frame
	stop   func()
}

func stream(t *testing.T, s *Source) *frames {
	ctx, cancel := context.WithCancel(context.Background())
	f := &frames{}
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(fr capture.Frame) {
			f.mu.Lock()
			f.recent = append(f.recent, fr)
			if len(f.recent) > 16 {
				f.recent = f.recent[1:]
			}
			f.mu.Unlock()
		})
	}()
	f.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	return f
}

// meanLuma waits for n frames captured after since and returns their mean
// luma (0–255).
func (f *frames) meanLuma(t *testing.T, since time.Time, n int) float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		var got []capture.Frame
		for _, fr := range f.recent {
			if fr.Captured.After(since) {
				got = append(got, fr)
			}
		}
		f.mu.Unlock()
		if len(got) >= n {
			sum := 0.0
			for _, fr := range got[:n] {
				sum += luma(t, fr.JPEG)
			}
			return sum / float64(n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fewer than %d frames in 60 s", n)
	return 0
}

func luma(t *testing.T, jpg []byte) float64 {
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatalf("frame does not decode: %v", err)
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		t.Fatalf("frame decodes to %T, want YCbCr", img)
	}
	sum, b := 0, y.Rect
	for row := 0; row < b.Dy(); row++ {
		for _, v := range y.Y[row*y.YStride : row*y.YStride+b.Dx()] {
			sum += int(v)
		}
	}
	return float64(sum) / float64(b.Dx()*b.Dy())
}

// settle: frames captured this long after a set show it (vivid draws
// each frame when it fills a buffer).
const settle = 200 * time.Millisecond

// testBrightness: setting brightness while Run streams changes the mean
// luma of the frames that follow, up at 255 and down at 0.
func testBrightness(t *testing.T, s *Source, f *frames) {
	c, _ := find(mustControls(t, s), "brightness")
	before := f.meanLuma(t, time.Now(), 5)
	set := func(v int64) float64 {
		got, err := s.SetControl("brightness", v)
		if err != nil {
			t.Fatal(err)
		}
		if got.Value != v {
			t.Errorf("brightness set to %d reads back %d", v, got.Value)
		}
		return f.meanLuma(t, time.Now().Add(settle), 5)
	}
	high, low := set(c.Max), set(c.Min)
	back := set(c.Default)
	fmt.Printf("@@LUMA default(%d)=%.1f max(%d)=%.1f min(%d)=%.1f default-again=%.1f\n", c.Default, before, c.Max, high, c.Min, low, back)
	if !(high > before+10 && low < before-10) {
		t.Errorf("mean luma %.1f at brightness %d, %.1f at %d, %.1f at %d: want it to follow", before, c.Default, high, c.Max, low, c.Min)
	}
}

func mustControls(t *testing.T, s *Source) []capture.Control {
	t.Helper()
	cs, err := s.Controls()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// testRoundTrip: a menu, an integer menu and a switch take another value,
// read back as set, and return to the one they had; a button presses.
func testRoundTrip(t *testing.T, s *Source) {
	cs := mustControls(t, s)
	for _, key := range []string{"menu", "integer_menu", "boolean"} {
		c, ok := find(cs, key)
		if !ok {
			t.Errorf("no %s", key)
			continue
		}
		other := c.Min
		if c.Kind == capture.KindBool {
			other = 1 - c.Value
		} else {
			for _, m := range c.Menu {
				if m.Value != c.Value {
					other = m.Value
					break
				}
			}
		}
		got, err := s.SetControl(key, other)
		if err != nil || got.Value != other {
			t.Errorf("%s: set %d: %+v, %v", key, other, got, err)
		}
		if again, _ := find(mustControls(t, s), key); again.Value != other {
			t.Errorf("%s: set %d, listed %d", key, other, again.Value)
		}
		if got, err := s.SetControl(key, c.Value); err != nil || got.Value != c.Value {
			t.Errorf("%s: set back %d: %+v, %v", key, c.Value, got, err)
		}
		fmt.Printf("@@ROUNDTRIP %s %s %d -> %d -> %d menu=%v\n", key, c.Kind, c.Value, other, c.Value, c.Menu)
	}
	if _, err := s.SetControl("button", 0); err != nil {
		t.Errorf("button: %v", err)
	}
}

// testRefused: values past the range, menu indexes the driver skips and
// unknown keys are refused before they reach the driver, each with an
// error that says why.
func testRefused(t *testing.T, s *Source) {
	cs := mustControls(t, s)
	menu, _ := find(cs, "menu")
	skipped := int64(-1)
	for v := menu.Min; v <= menu.Max; v++ {
		if !menuHas(menu, v) {
			skipped = v
			break
		}
	}
	if skipped < 0 {
		t.Errorf("vivid's menu %v skips no index", menu.Menu)
	}
	for _, tc := range []struct {
		key   string
		value int64
		is    error
		says  string
	}{
		{"brightness", 256, capture.ErrBadValue, "256 is outside 0..255"},
		{"brightness", -1, capture.ErrBadValue, "-1 is outside 0..255"},
		{"boolean", 2, capture.ErrBadValue, "outside 0..1"},
		{"menu", skipped, capture.ErrBadValue, "is not one of"},
		{"menu", menu.Max + 1, capture.ErrBadValue, "is not one of"},
		{"no_such_control", 1, capture.ErrNoControl, "no_such_control"},
		{"read_only_integer_32_bits", 1, capture.ErrNoControl, "read_only_integer_32_bits"},
	} {
		_, err := s.SetControl(tc.key, tc.value)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s = %d: %v, want %v saying %q", tc.key, tc.value, err, tc.is, tc.says)
		}
		fmt.Printf("@@REFUSED %s=%d: %v\n", tc.key, tc.value, err)
	}
	if after, _ := find(mustControls(t, s), "brightness"); after.Value != after.Default {
		t.Errorf("a refused set changed brightness to %d", after.Value)
	}
}

func menuHas(c capture.Control, v int64) bool {
	for _, m := range c.Menu {
		if m.Value == v {
			return true
		}
	}
	return false
}

// testInactive: vivid clusters gain with its automatic: while automatic
// gain is on, the driver flags gain inactive.
func testInactive(t *testing.T, s *Source) {
	auto, _ := find(mustControls(t, s), "gain_automatic")
	state := func() (autoOn int64, inactive bool) {
		cs := mustControls(t, s)
		a, _ := find(cs, "gain_automatic")
		g, _ := find(cs, "gain")
		return a.Value, g.Inactive
	}
	for _, v := range []int64{1, 0, 1} {
		if _, err := s.SetControl("gain_automatic", v); err != nil {
			t.Fatal(err)
		}
		on, inactive := state()
		fmt.Printf("@@INACTIVE gain_automatic=%d gain.inactive=%v\n", on, inactive)
		if on != v || inactive != (v == 1) {
			t.Errorf("gain_automatic set %d: reads %d, gain inactive %v", v, on, inactive)
		}
	}
	if _, err := s.SetControl("gain_automatic", auto.Value); err != nil {
		t.Error(err)
	}
}
