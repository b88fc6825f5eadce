package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestFileSourcePlays: an MJPEG file made by ffmpeg is served at its own
// rate, at its size, to an ffmpeg reader; the broadcaster decodes nothing.
func TestFileSourcePlays(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.avi")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-frames:v", "20",
		"-c:v", "mjpeg", "-q:v", "4", "-f", "avi", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "file:"+clip, "--fps", "30")
	reader := testenv.Start(t, exec.Command("ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", "tcp", "-i", b.URL,
		"-vf", "showinfo", "-t", "4", "-f", "null", "-"))
	if err := reader.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("ffmpeg reader: %v\n%s", err, reader.Stderr.String())
	}
	// 4 s of a 10 fps file (not the 30 fps flag): about 40 frames.
	if n := strings.Count(reader.Stderr.String(), " s:320x240 "); n < 30 || n > 50 {
		t.Errorf("%d frames of 320x240 in 4 s, want about 40 (the file's 10 fps)", n)
	}
}
