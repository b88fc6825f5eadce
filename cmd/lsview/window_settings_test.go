package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/device"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// changedTo says whether a "changed" event with key at v came, and from
// whom.
func (l *chatLog) changedTo(key string, v int64) (string, bool) {
	for _, m := range l.any(chat.TypeControls) {
		if m.Event != "changed" {
			continue
		}
		for _, c := range m.Controls {
			if c.Key == key && c.Value == v {
				return m.From, true
			}
		}
	}
	return "", false
}

// control is the setting key as the newest list heard says.
func (l *chatLog) control(key string) chat.Control {
	var out chat.Control
	for _, m := range l.any(chat.TypeControls) {
		for _, c := range m.Controls {
			if c.Key == key {
				out = c
			}
		}
	}
	return out
}

// changes counts the "changed" events heard.
func (l *chatLog) changes() int {
	n := 0
	for _, m := range l.any(chat.TypeControls) {
		if m.Event == "changed" {
			n++
		}
	}
	return n
}

func sizeOf(w, h int64) int64 { return w<<16 | h }

// pictureAspect is the shown picture's aspect, from the pattern's bars
// (they fill its width and the top 13/16 of its height); 0 without bars.
func pictureAspect(img image.Image) float64 {
	bars := barsBox(img)
	if bars.Empty() {
		return 0
	}
	return float64(bars.Dx()) / (float64(bars.Dy()) * 16 / 13)
}

// waitAspect waits until the window shows a picture of the aspect want.
func (x *xvfb) waitAspect(t *testing.T, id, name string, want float64) {
	t.Helper()
	got := 0.0
	for try := 0; try < 30; try++ {
		if got = pictureAspect(x.shot(t, id, name)); math.Abs(got/want-1) < 0.03 {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("picture aspect %.3f, want %.3f", got, want)
}

func (x *xvfb) key(id string, keys ...string) {
	for _, k := range keys {
		x.command("xdotool", "key", "--window", id, k).Run()
		time.Sleep(150 * time.Millisecond)
	}
}

// TestWindowSettings: the host opens the settings panel with F3 and
// changes the frame rate with the arrows and PgDn; another client hears
// each change; /set size 640x360 changes the size and the window's
// picture follows; --headless reports the new values; a viewer's panel
// and /set send nothing and say why. Screenshots of the panel at
// 1280x720, 800x450 and 1920x1080 are kept.
func TestWindowSettings(t *testing.T) {
	xh := startXvfb(t)
	b := testenv.StartBroadcaster(t, "640x480", 30, nil)
	keyFile := device.FilesIn(b.StateDir).HostKey
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	log, _ := watchChat(t, ctx, b.ChatAddr(), "other")

	bin, _ := binaries(t)
	hp := testenv.Start(t, xh.command(bin, "--window", "1280x720", "--name", "boss", "--host-key", keyFile, "--log-level", "info", b.ChatAddr()))
	hid := xh.window(t, "lsview", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	xh.waitAspect(t, hid, "settings-0-before", 4.0/3)

	// The list is size, fps, quality: Down picks fps.
	xh.key(hid, "F3", "Down")
	time.Sleep(500 * time.Millisecond)
	xh.shot(t, hid, "settings-1-open")
	xh.key(hid, "Right", "Right", "Right")
	waitFor(t, 15*time.Second, "fps 33 at the other client", func() bool {
		from, ok := log.changedTo("fps", 33)
		return ok && from == "boss"
	})
	fps := log.control("fps")
	lower := 33 - max(1, (fps.Max-fps.Min)/10) // PgDn: a tenth of the range down
	xh.key(hid, "Next")
	waitFor(t, 15*time.Second, fmt.Sprintf("fps %d at the other client", lower), func() bool { _, ok := log.changedTo("fps", lower); return ok })
	time.Sleep(700 * time.Millisecond)
	xh.shot(t, hid, "settings-2-fps-lower")
	for _, size := range []image.Point{{800, 450}, {1920, 1080}} {
		xh.command("xdotool", "windowsize", hid, strconv.Itoa(size.X), strconv.Itoa(size.Y)).Run()
		var shot image.Image
		for try := 0; try < 20; try++ {
			time.Sleep(300 * time.Millisecond)
			if shot = xh.shot(t, hid, fmt.Sprintf("settings-3-panel-%dx%d", size.X, size.Y)); shot.Bounds().Size() == size {
				break
			}
		}
		if shot.Bounds().Size() != size {
			t.Errorf("window is %v, want %v", shot.Bounds().Size(), size)
		}
		time.Sleep(500 * time.Millisecond)
		xh.shot(t, hid, fmt.Sprintf("settings-3-panel-%dx%d", size.X, size.Y))
	}
	xh.command("xdotool", "windowsize", hid, "1280", "720").Run()

	// Esc gives the keys back to the chat box; /set changes the size.
	xh.key(hid, "Escape")
	xh.typeLine(t, hid, "/set size 640x360")
	waitFor(t, 15*time.Second, "size 640x360 at the other client", func() bool { _, ok := log.changedTo("size", sizeOf(640, 360)); return ok })
	xh.waitAspect(t, hid, "settings-4-size-640x360", 16.0/9)
	xh.typeLine(t, hid, "/set fps 999")
	time.Sleep(time.Second)
	xh.typeLine(t, hid, "/settings")
	time.Sleep(700 * time.Millisecond)

	st := headlessOut(t, "--seconds", "3", "--name", "probe", b.ChatAddr())
	if st.Controls["fps"] != lower || st.Controls["size"] != sizeOf(640, 360) || st.Width != 640 || st.Height != 360 {
		t.Errorf("--headless: controls %v, picture %dx%d; want fps %d, size 640x360", st.Controls, st.Width, st.Height, lower)
	}

	// Another host's change shows in the open panel; r resets the
	// setting picked (fps, by the last /set).
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := chat.Dial(ctx, b.ChatAddr(), chat.Hello{Name: "deputy", HostKey: strings.TrimSpace(string(key))})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	before := xh.shot(t, hid, "settings-5-refused")
	if _, err := other.SetControl("quality", 55); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "quality 55 at the other client", func() bool { _, ok := log.changedTo("quality", 55); return ok })
	time.Sleep(time.Second)
	after := xh.shot(t, hid, "settings-6-other-host")
	if n := changed(before, after, newLayout(1280, 720, image.Pt(16, 9)).panel); n < 100 {
		t.Errorf("the panel did not change when another host set the quality (%d pixels)", n)
	}
	xh.key(hid, "r")
	waitFor(t, 15*time.Second, "fps back to 30 at the other client", func() bool { _, ok := log.changedTo("fps", 30); return ok })

	// A viewer reads the settings and changes none.
	xv := startXvfb(t)
	testenv.Start(t, xv.command(bin, "--window", "800x450", "--name", "pupil", b.ChatAddr()))
	vid := xv.window(t, "lsview", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	seen := log.changes()
	xv.key(vid, "F3", "Down", "Right", "r")
	time.Sleep(500 * time.Millisecond)
	xv.shot(t, vid, "settings-7-viewer-panel")
	xv.key(vid, "Escape")
	xv.typeLine(t, vid, "/set fps 10")
	time.Sleep(1500 * time.Millisecond)
	xv.shot(t, vid, "settings-8-viewer-set")
	if n := log.changes(); n != seen {
		t.Errorf("the viewer changed a setting: %d change events, %d before", n, seen)
	}
	hp.Stop()
}

// headlessOut runs lsview --headless and returns what it printed.
func headlessOut(t *testing.T, args ...string) headlessStats {
	t.Helper()
	_, p := headless(t, args...)
	var st headlessStats
	if err := json.Unmarshal([]byte(p.Stdout.String()), &st); err != nil {
		t.Fatal(err)
	}
	return st
}
