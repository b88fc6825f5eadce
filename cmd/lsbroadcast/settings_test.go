package main

import (
	"bytes"
	"context"
	"image/jpeg"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/device"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// hostOf joins b's chat as its host, with the key from its state directory.
func hostOf(t *testing.T, b *testenv.Broadcaster) (*chatEvents, *chat.Msg) {
	t.Helper()
	key, err := os.ReadFile(device.FilesIn(b.StateDir).HostKey)
	if err != nil {
		t.Fatal(err)
	}
	return dialChat(t, b.ChatAddr(), chat.Hello{Name: "Ms Rivera", HostKey: strings.TrimSpace(string(key))})
}

func controlValue(list []chat.Control, key string) (int64, bool) {
	for _, c := range list {
		if c.Key == key {
			return c.Value, true
		}
	}
	return 0, false
}

func sizeValue(w, h int64) int64 { return w<<16 | h }

// answer waits for the ack or error of ref.
func (e *chatEvents) answer(t *testing.T, ref string) chat.Msg {
	t.Helper()
	return e.wait(t, 10*time.Second, "answer to "+ref, func(m chat.Msg) bool {
		return m.Ref == ref && (m.Type == chat.TypeAck || m.Type == chat.TypeError)
	})
}

// TestHostChangesSizeLive: the host sets 1280×720 on a 640×480 stream; an
// ffmpeg reader that stays connected decodes frames of both sizes, and the
// chat's welcome follows.
func TestHostChangesSizeLive(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	b := testenv.StartBroadcaster(t, "640x480", 15, nil)
	reader := testenv.Start(t, exec.Command("ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", "tcp", "-i", b.URL(),
		"-vf", "showinfo", "-t", "30", "-f", "null", "-"))
	reader.WaitOutput(t, " s:640x480 ", 15*time.Second)

	host, w := hostOf(t, b)
	if w.Role != chat.RoleHost {
		t.Fatalf("joined as %q", w.Role)
	}
	ref, _ := host.c.Controls()
	list := host.wait(t, 10*time.Second, "controls", func(m chat.Msg) bool { return m.Type == chat.TypeControls && m.Ref == ref })
	if v, ok := controlValue(list.Controls, "size"); !ok || v != sizeValue(640, 480) {
		t.Fatalf("size control %d, %v in %+v", v, ok, list.Controls)
	}
	start := time.Now()
	ref, _ = host.c.SetControl("size", sizeValue(1280, 720))
	if m := host.answer(t, ref); m.Type != chat.TypeAck {
		t.Fatalf("set size: %+v", m)
	}
	host.wait(t, 10*time.Second, "change event", func(m chat.Msg) bool {
		v, _ := controlValue(m.Controls, "size")
		return m.Type == chat.TypeControls && m.Event == "changed" && v == sizeValue(1280, 720)
	})
	reader.WaitOutput(t, " s:1280x720 ", 15*time.Second)
	t.Logf("set to first 1280x720 frame decoded by ffmpeg: %v", time.Since(start).Round(time.Millisecond))
	select {
	case <-reader.Done():
		t.Fatalf("ffmpeg left across the size change: %v\n%s", reader.Err(), reader.Stderr.String())
	default:
	}
	_, w2 := dialChat(t, b.ChatAddr(), chat.Hello{Name: "late"})
	if w2.Stream == nil || w2.Stream.Width != 1280 || w2.Stream.Height != 720 {
		t.Errorf("welcome after the change: %+v", w2.Stream)
	}
}

// TestSettingsRememberedAndReset: what the host set survives a restart of
// the broadcaster; a reset returns to the configured values and forgets.
func TestSettingsRememberedAndReset(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 15, nil)
	host, _ := hostOf(t, b)
	for key, v := range map[string]int64{"fps": 10, "quality": 50} {
		ref, _ := host.c.SetControl(key, v)
		if m := host.answer(t, ref); m.Type != chat.TypeAck {
			t.Fatalf("set %s: %+v", key, m)
		}
	}
	b.Stop()
	b = testenv.StartBroadcaster(t, "320x240", 15, b)
	host, w := hostOf(t, b)
	if w.Stream.FPS != 10 {
		t.Errorf("welcome after restart says %d fps, want the stored 10", w.Stream.FPS)
	}
	ref, _ := host.c.Controls()
	list := host.wait(t, 10*time.Second, "controls", func(m chat.Msg) bool { return m.Type == chat.TypeControls && m.Ref == ref })
	if q, _ := controlValue(list.Controls, "quality"); q != 50 {
		t.Errorf("quality after restart %d, want the stored 50", q)
	}
	ref, _ = host.c.ResetControl("")
	if m := host.answer(t, ref); m.Type != chat.TypeAck {
		t.Fatalf("reset: %+v", m)
	}
	m := host.wait(t, 10*time.Second, "change event", func(m chat.Msg) bool {
		return m.Type == chat.TypeControls && m.Event == "changed"
	})
	if f, _ := controlValue(m.Controls, "fps"); f != 15 {
		t.Errorf("fps after reset %d, want the configured 15", f)
	}
	data, err := os.ReadFile(device.FilesIn(b.StateDir).CameraSettings)
	if err != nil || strings.Contains(string(data), "50") {
		t.Errorf("stored after reset: %q, %v", data, err)
	}
}

// TestSettingsBadInput: every bad request is answered with its code, a
// viewer can't change anything, nothing bad is stored and the video keeps
// flowing.
func TestSettingsBadInput(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	b := testenv.StartBroadcaster(t, "320x240", 15, nil)
	reader := testenv.Start(t, exec.Command("ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", "tcp", "-i", b.URL(),
		"-vf", "showinfo", "-t", "30", "-f", "null", "-"))
	reader.WaitOutput(t, " s:320x240 ", 15*time.Second)
	host, _ := hostOf(t, b)
	viewer, _ := dialChat(t, b.ChatAddr(), chat.Hello{Name: "pupil"})
	for _, tc := range []struct {
		who   *chatEvents
		key   string
		value int64
		code  string
	}{
		{host, "nonesuch", 1, chat.CodeNotFound},
		{host, "size", 12345, chat.CodeBadValue},
		{host, "fps", 0, chat.CodeBadValue},
		{host, "fps", 1000, chat.CodeBadValue},
		{host, "quality", 101, chat.CodeBadValue},
		{viewer, "fps", 5, chat.CodeForbidden},
	} {
		ref, _ := tc.who.c.SetControl(tc.key, tc.value)
		if m := tc.who.answer(t, ref); m.Code != tc.code || m.Message == "" {
			t.Errorf("set %s=%d: %+v, want %s", tc.key, tc.value, m, tc.code)
		}
	}
	if data, err := os.ReadFile(device.FilesIn(b.StateDir).CameraSettings); err == nil {
		t.Errorf("refused sets stored: %s", data)
	}
	// A flood of quality sets: some are rate limited, the stream goes on.
	var refs []string
	for i := range 60 {
		ref, _ := host.c.SetControl("quality", int64(40+i%20))
		refs = append(refs, ref)
	}
	limited := 0
	for _, ref := range refs {
		if m := host.answer(t, ref); m.Code == chat.CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("60 sets at once: none rate limited")
	}
	before := strings.Count(reader.Stderr.String(), " s:320x240 ")
	time.Sleep(2 * time.Second)
	if after := strings.Count(reader.Stderr.String(), " s:320x240 "); after-before < 10 {
		t.Errorf("video after the flood: %d frames in 2 s", after-before)
	}
}

// BenchmarkSizeChange: the host switches the size of a 30 fps stream
// between 640×480 and 1280×720; a reader that stays connected measures the
// time from the set to the first frame of the new size, and the time
// between the last frame of the old size and the first of the new, in
// frame intervals (1: no frame lost).
func BenchmarkSizeChange(b *testing.B) {
	bc := testenv.StartBroadcaster(b, "640x480", 30, nil)
	key, err := os.ReadFile(device.FilesIn(bc.StateDir).HostKey)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host, _, err := chat.Dial(ctx, bc.ChatAddr(), chat.Hello{Name: "bench", HostKey: strings.TrimSpace(string(key))})
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close()
	go func() {
		for range host.Events() {
		}
	}()
	type seen struct {
		w  int
		at time.Time
	}
	frames := make(chan seen, 1024)
	c := &rtsp.Client{URL: bc.URL(), Transport: rtsp.TransportTCP, ReadTimeout: 10 * time.Second}
	go c.Run(ctx, func(f rtsp.Frame) {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.JPEG))
		if err == nil {
			select {
			case frames <- seen{w: cfg.Width, at: time.Now()}:
			default:
			}
		}
	})
	next := func() seen {
		select {
		case f := <-frames:
			return f
		case <-time.After(20 * time.Second):
			b.Fatal("no frame in 20 s")
		}
		return seen{}
	}
	// steady reads until 5 frames in a row are w wide.
	steady := func(w int) (last seen) {
		for got := 0; got < 5; {
			if last = next(); last.w == w {
				got++
			} else {
				got = 0
			}
		}
		return last
	}
	steady(640)
	var toFirst, gap time.Duration
	b.ResetTimer()
	for i := range b.N {
		oldW, w, h := 640, 1280, 720
		if i%2 == 1 {
			oldW, w, h = 1280, 640, 480
		}
		b.StopTimer()
		prev := steady(oldW)
		b.StartTimer()
		start := time.Now()
		if _, err := host.SetControl("size", int64(w)<<16|int64(h)); err != nil {
			b.Fatal(err)
		}
		for f := next(); ; f = next() {
			if f.w == w {
				toFirst += f.at.Sub(start)
				gap += f.at.Sub(prev.at)
				break
			}
			prev = f
		}
	}
	b.ReportMetric(float64(toFirst.Milliseconds())/float64(b.N), "ms-to-new-size")
	b.ReportMetric(gap.Seconds()*30/float64(b.N), "frame-intervals-gap")
}
