package testenv

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ReadFrames runs a decoder command (ffmpeg or GStreamer writing raw
// greyscale frames of w×h to its standard output) and returns the first n
// frames, failing the test with the command's errors if they don't come
// within a minute.
func ReadFrames(t testing.TB, argv []string, w, h, n int) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	frames := make([][]byte, 0, n)
	for len(frames) < n {
		f := make([]byte, w*h)
		if _, err := io.ReadFull(out, f); err != nil {
			t.Fatalf("%s: after %d frames: %v\n%s", argv[0], len(frames), err, stderr.String())
		}
		frames = append(frames, f)
	}
	return frames
}
