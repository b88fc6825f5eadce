package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/subproc"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, nil) }

// The helper answers control requests between its frames: a video file
// offers no controls, and asking to set one says so, while the frames
// keep coming.
func TestControlRequestsOnAFile(t *testing.T) {
	helper := testenv.Build(t, "cmd/lsbroadcast-cv")[0]
	file := filepath.Join(t.TempDir(), "clip.avi")
	w, err := gocv.VideoWriterFile(file, "MJPG", 10, 64, 48, true)
	if err != nil {
		t.Fatal(err)
	}
	frame := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3)
	for i := range 10 {
		frame.SetTo(gocv.NewScalar(float64(20*i), 100, 200, 0))
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	frame.Close()
	w.Close()

	s, err := subproc.Start([]string{helper, file})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Size() != (capture.Size{W: 64, H: 48}) {
		t.Fatalf("size %v", s.Size())
	}
	cs, err := s.Controls()
	if err != nil || len(cs) != 0 {
		t.Fatalf("a file's controls: %+v, %v; want none", cs, err)
	}
	if _, err := s.SetControl("brightness", 10); !errors.Is(err, capture.ErrNoControl) {
		t.Fatalf("set brightness on a file: %v, want ErrNoControl", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	s.Run(ctx, func(f capture.Frame) {
		if n++; n == 5 {
			cancel()
		}
	})
	cancel()
	if n < 5 {
		t.Fatalf("%d frames, want 5", n)
	}
}
