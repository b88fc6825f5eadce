package main

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// typeLine types text into window id and presses Return. Lowercase ASCII
// only: OpenCV's Qt backend lowercases what it passes on.
func (x *xvfb) typeLine(t *testing.T, id, text string) {
	t.Helper()
	if out, err := x.command("xdotool", "type", "--window", id, "--delay", "60", text).CombinedOutput(); err != nil {
		t.Fatalf("xdotool type: %v: %s", err, out)
	}
	x.command("xdotool", "key", "--window", id, "Return").Run()
}

// chatLog is what a plain chat client receives, collected as it comes.
type chatLog struct {
	mu   sync.Mutex
	msgs []chat.Msg
}

func watchChat(t *testing.T, ctx context.Context, addr, name string) (*chatLog, *chat.Client) {
	t.Helper()
	c, w, err := chat.Dial(ctx, addr, chat.Hello{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	l := &chatLog{msgs: w.Messages}
	go func() {
		for m := range c.Events() {
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	return l, c
}

// count is how many chat or announcement messages carry text.
func (l *chatLog) count(typ, text string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if m.Type == typ && m.Text == text {
			n++
		}
	}
	return n
}

func (l *chatLog) any(types ...string) []chat.Msg {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []chat.Msg
	for _, m := range l.msgs {
		for _, typ := range types {
			if m.Type == typ {
				out = append(out, m)
			}
		}
	}
	return out
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bannerPixels counts pixels of the announcement banner's colour in the
// banner area of a 1280x720 window.
func bannerPixels(img image.Image) int {
	banner := newLayout(1280, 720, image.Pt(1280, 720)).banner
	n := 0
	for y := banner.Min.Y; y < banner.Max.Y; y++ {
		for x := banner.Min.X; x < banner.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r>>8, bannerBG.R) && near(g>>8, bannerBG.G) && near(b>>8, bannerBG.B) {
				n++
			}
		}
	}
	return n
}

// TestWindowHostTools: a viewer's /announce (and an unknown command) sends
// nothing; the host's /announce shows as a banner in the viewer's window;
// the host sees the help overlay; CJK, Arabic and emoji from another
// client show in the panel (screenshots kept to look at).
func TestWindowHostTools(t *testing.T) {
	xv := startXvfb(t)
	xh := startXvfb(t)
	b := testenv.StartBroadcaster(t, "1280x720", 30, nil)
	const key = "0123456789abcdef0123456789abcdef"
	addr := chatServer(t, b, key)
	keyFile := filepath.Join(t.TempDir(), "host.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log, other := watchChat(t, ctx, addr, "other")

	bin, _ := binaries(t)
	testenv.Start(t, xv.command(bin, "--window", "1280x720", "--name", "viewer", addr))
	vid := xv.window(t, "Chat cam", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)

	xv.typeLine(t, vid, "/announce not for viewers")
	xv.typeLine(t, vid, "/nosuchcmd hello")
	xv.typeLine(t, vid, "//slash line")
	waitFor(t, 10*time.Second, `"/slash line" at the other client`, func() bool { return log.count(chat.TypeChat, "/slash line") == 1 })
	for _, m := range log.any(chat.TypeChat, chat.TypeAnnouncement) {
		if m.Text != "/slash line" {
			t.Errorf("the viewer's commands leaked: %+v", m)
		}
	}
	xv.shot(t, vid, "host-1-viewer-refused")

	testenv.Start(t, xh.command(bin, "--window", "1280x720", "--name", "boss", "--host-key", keyFile, addr))
	hid := xh.window(t, "Chat cam", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	xh.typeLine(t, hid, "/announce break at three")
	waitFor(t, 10*time.Second, "the host's announcement", func() bool { return log.count(chat.TypeAnnouncement, "break at three") == 1 })
	var id uint64
	for _, m := range log.any(chat.TypeAnnouncement) {
		id = m.ID
	}
	if _, err := other.Chat("日本語 مرحبا 😀 ☕ from other"); err != nil {
		t.Fatal(err)
	}
	xh.typeLine(t, hid, "a line from the host")
	waitFor(t, 10*time.Second, "the host's line", func() bool {
		for _, m := range log.any(chat.TypeChat) {
			if m.Text == "a line from the host" && m.Role == chat.RoleHost {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	shot := xv.shot(t, vid, "host-2-viewer-sees-banner")
	if n := bannerPixels(shot); n < newLayout(1280, 720, image.Pt(1280, 720)).banner.Dx()*bannerHeight/2 {
		t.Errorf("no announcement banner in the viewer's window: %d banner-coloured pixels", n)
	}
	xh.shot(t, hid, "host-3-host-badge")

	xh.typeLine(t, hid, "/edit "+strconv.FormatUint(id, 10)+" break at four")
	waitFor(t, 10*time.Second, "the edit", func() bool { return log.count(chat.TypeAnnouncement, "break at four") == 1 })
	xh.command("xdotool", "type", "--window", hid, "?").Run()
	time.Sleep(700 * time.Millisecond)
	xh.shot(t, hid, "host-4-help")
	xh.command("xdotool", "key", "--window", hid, "space").Run()
	xh.typeLine(t, hid, "/delete "+strconv.FormatUint(id, 10))
	waitFor(t, 10*time.Second, "the delete", func() bool {
		for _, m := range log.any(chat.TypeAnnouncement) {
			if m.Op == "delete" && m.Target == id {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	if n := bannerPixels(xv.shot(t, vid, "host-5-deleted")); n > 0 {
		t.Errorf("the banner stayed after the delete: %d pixels", n)
	}
}

// TestWindowLineTypedDuringRestart: a line typed while the broadcaster is
// down shows as "sending…" and arrives exactly once when it is back.
func TestWindowLineTypedDuringRestart(t *testing.T) {
	x := startXvfb(t)
	b := testenv.StartBroadcaster(t, "640x360", 30, nil)
	bin, _ := binaries(t)
	testenv.Start(t, x.command(bin, "--window", "1280x720", "--name", "typist", b.ChatAddr()))
	id := x.window(t, "lsview", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	b.Stop()
	time.Sleep(1500 * time.Millisecond)
	const line = "typed while the broadcaster was down"
	x.typeLine(t, id, line)
	time.Sleep(700 * time.Millisecond)
	down := x.shot(t, id, "restart-1-sending")
	b = testenv.StartBroadcaster(t, "640x360", 30, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log, _ := watchChat(t, ctx, b.ChatAddr(), "checker")
	waitFor(t, 20*time.Second, "the line after the restart", func() bool { return log.count(chat.TypeChat, line) > 0 })
	time.Sleep(3 * time.Second) // a second copy would come now
	if n := log.count(chat.TypeChat, line); n != 1 {
		t.Errorf("the line arrived %d times", n)
	}
	after := x.shot(t, id, "restart-2-sent")
	panel := newLayout(1280, 720, image.Pt(1280, 720)).panel
	if changed(down, after, panel) < 100 {
		t.Error("the panel did not change when the line was sent")
	}
}
