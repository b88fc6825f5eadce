package main

import (
	"bytes"
	"context"
	"image/jpeg"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestLadder: a 1280×720 broadcaster lists its renditions in the chat
// welcome and the web /state, ffprobe plays /live/half at 640×360, a
// video socket holding half gets 640×360 JPEGs, and the quarter nobody
// watched was never encoded (the counts it logs when it stops).
func TestLadder(t *testing.T) {
	testenv.NeedTools(t, "ffprobe")
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "1280x720", "--fps", "30")
	want := []netio.Rendition{{Name: netio.Half, Path: "/live/half", Width: 640, Height: 360},
		{Name: netio.Quarter, Path: "/live/quarter", Width: 320, Height: 184}}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	viewer, w, err := chat.Dial(ctx, b.ChatAddr, chat.Hello{Name: "pupil"})
	if err != nil {
		t.Fatal(err)
	}
	viewer.Close()
	if w.Stream == nil || !slices.Equal(w.Stream.Renditions, want) {
		t.Errorf("welcome stream %+v, want renditions %+v", w.Stream, want)
	}
	if st := webStatus(t, strings.TrimPrefix(b.HTTPBase, "http://")); !slices.Equal(st.Renditions, want) {
		t.Errorf("/state renditions %+v, want %+v", st.Renditions, want)
	}

	out, err := exec.CommandContext(ctx, "ffprobe", "-loglevel", "error", "-rtsp_transport", "tcp", "-select_streams", "v",
		"-show_entries", "stream=width,height", "-of", "csv=p=0", b.URL+"/half").Output()
	if err != nil {
		t.Fatalf("ffprobe %s/half: %v", b.URL, err)
	}
	if got := strings.TrimSpace(string(out)); got != "640,360" {
		t.Errorf("ffprobe %s/half: size %q, want 640,360", b.URL, got)
	}

	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.HTTPBase, "http")+"/ws/video?quality=half", nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	for halves, frames := 0, 0; halves < 5; {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("video socket: %v", err)
		}
		if typ != websocket.MessageBinary {
			continue
		}
		// A 16-byte header (frame number, capture time), then the JPEG;
		// the first frame may be a full one, shown while half starts.
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(msg[min(16, len(msg)):]))
		switch {
		case err != nil:
			t.Fatalf("video socket frame: %v", err)
		case cfg.Width == 640 && cfg.Height == 360:
			halves++
		case frames > 0 || cfg.Width != 1280:
			t.Fatalf("video socket holding half: a %dx%d frame", cfg.Width, cfg.Height)
		}
		frames++
	}
	ws.Close(websocket.StatusNormalClosure, "")

	b.Stop()
	log := b.Stderr.String()
	m := regexp.MustCompile(`msg=stopped .*rendition_frames="half=(\d+) quarter=(\d+)"`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no rendition counts in the log at stop")
	}
	half, _ := strconv.Atoi(m[1])
	if half == 0 || m[2] != "0" {
		t.Errorf("made half=%s quarter=%s, want some half frames and no quarter", m[1], m[2])
	}
	if !strings.Contains(log, `rendition watched: making it" service=ladder rendition=half`) ||
		strings.Contains(log, "rendition=quarter") {
		t.Errorf("log does not show half alone watched")
	}
	t.Logf("half frames made while ffprobe and the socket watched: %d", half)
}
