package device

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// fakeCamera is a source with controls: what settings does with them is
// under test, not a driver.
type fakeCamera struct {
	id       string
	controls map[string]*capture.Control
	closed   bool
}

func newFakeCamera(id string) *fakeCamera {
	return &fakeCamera{id: id, controls: map[string]*capture.Control{
		"brightness": {Key: "brightness", Kind: capture.KindInt, Min: 0, Max: 255, Step: 1, Default: 128, Value: 128},
		"quality":    {Key: "quality", Kind: capture.KindInt, Min: 0, Max: 10, Step: 1, Default: 5, Value: 5},
		"snapshot":   {Key: "snapshot", Kind: capture.KindButton},
	}}
}

func (f *fakeCamera) Name() string                                  { return "fake" }
func (f *fakeCamera) Identity() string                              { return f.id }
func (f *fakeCamera) Run(ctx context.Context, _ capture.Emit) error { <-ctx.Done(); return nil }
func (f *fakeCamera) Close() error                                  { f.closed = true; return nil }
func (f *fakeCamera) Controls() ([]capture.Control, error) {
	var out []capture.Control
	for _, k := range []string{"brightness", "quality", "snapshot"} {
		out = append(out, *f.controls[k])
	}
	return out, nil
}

func (f *fakeCamera) SetControl(key string, v int64) (capture.Control, error) {
	c, ok := f.controls[key]
	if !ok {
		return capture.Control{}, fmt.Errorf("%q: %w", key, capture.ErrNoControl)
	}
	if err := c.Check(v); err != nil {
		return capture.Control{}, err
	}
	if c.Kind != capture.KindButton {
		c.Value = v
	}
	return *c, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func valueOf(t *testing.T, s *settings, key string) int64 {
	t.Helper()
	list, err := s.Controls()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Key == key {
			return c.Value
		}
	}
	t.Fatalf("no %q in %+v", key, list)
	return 0
}

func code(err error) string {
	var e *chat.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}

// TestSettingsFollowTheCamera: what the host sets is kept per camera and
// applied when that camera opens again; another camera keeps its own;
// the camera's own "quality" stays apart from the stream's.
func TestSettingsFollowTheCamera(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camera-settings.json")
	defaults := picture{Size: capture.Size{W: 640, H: 480}, SizeSet: true, FPS: 30, Quality: 80}
	noSize := func() capture.Size { return capture.Size{} }
	s := openSettings(path, defaults, noSize, quiet())
	camA := newFakeCamera("usb-1 Webcam")
	reopen := func() (capture.Source, error) { return camA, nil }
	s.attach(camA, reopen)
	if got := valueOf(t, s, "camera_quality"); got != 5 {
		t.Fatalf("camera's quality listed as %d", got)
	}
	for key, v := range map[string]int64{"brightness": 200, "camera_quality": 9, "quality": 60, "snapshot": 1} {
		if err := s.SetControl(key, v); err != nil {
			t.Fatalf("set %s: %v", key, err)
		}
	}
	if camA.controls["quality"].Value != 9 || s.picture().Quality != 60 {
		t.Fatalf("camera quality %d, stream quality %d", camA.controls["quality"].Value, s.picture().Quality)
	}
	for key, want := range map[string]string{"brightness=300": chat.CodeBadValue, "nonesuch=1": chat.CodeNotFound, "fps=0": chat.CodeBadValue, "size=7": chat.CodeBadValue} {
		var v int64
		k, vs, _ := strings.Cut(key, "=")
		fmt.Sscan(vs, &v)
		if got := code(s.SetControl(k, v)); got != want {
			t.Errorf("set %s: %s, want %s", key, got, want)
		}
	}
	s.detach()

	// A new process, the same camera plugged in again at its defaults.
	s2 := openSettings(path, defaults, noSize, quiet())
	again := newFakeCamera("usb-1 Webcam")
	reopened := 0
	s2.attach(again, func() (capture.Source, error) { reopened++; return again, nil })
	if again.controls["brightness"].Value != 200 || again.controls["quality"].Value != 9 || s2.picture().Quality != 60 || reopened != 1 {
		t.Fatalf("after restart: brightness %d, camera quality %d, stream quality %d, reopened %d",
			again.controls["brightness"].Value, again.controls["quality"].Value, s2.picture().Quality, reopened)
	}
	s2.detach()
	other := newFakeCamera("usb-2 Other")
	s2.attach(other, func() (capture.Source, error) { return other, nil })
	if other.controls["brightness"].Value != 128 || s2.picture().Quality != 80 {
		t.Errorf("another camera got the first's settings: brightness %d, quality %d", other.controls["brightness"].Value, s2.picture().Quality)
	}
	s2.detach()
	s2.attach(again, func() (capture.Source, error) { return again, nil })
	if err := s2.ResetControl(""); err != nil {
		t.Fatal(err)
	}
	if again.controls["brightness"].Value != 128 || s2.picture().Quality != 80 {
		t.Errorf("after reset: brightness %d, quality %d", again.controls["brightness"].Value, s2.picture().Quality)
	}
	data, _ := os.ReadFile(path)
	if s3 := openSettings(path, defaults, noSize, quiet()); len(s3.saved["usb-1 Webcam"].Controls) != 0 {
		t.Errorf("reset left stored settings: %s", data)
	}
}

// TestSettingsFileDamaged: a stored file that can't be read is set aside
// with a warning; the camera starts as configured.
func TestSettingsFileDamaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camera-settings.json")
	os.WriteFile(path, []byte("{not json"), 0o640)
	s := openSettings(path, picture{Size: capture.Size{W: 320, H: 240}, FPS: 15, Quality: 80}, func() capture.Size { return capture.Size{} }, quiet())
	cam := newFakeCamera("x")
	s.attach(cam, func() (capture.Source, error) { return cam, nil })
	if err := s.SetControl("brightness", 10); err != nil {
		t.Fatal(err)
	}
	if s2 := openSettings(path, picture{}, nil, quiet()); s2.saved["x"].Controls["brightness"] != 10 {
		t.Errorf("not stored over the damaged file: %+v", s2.saved)
	}
}
