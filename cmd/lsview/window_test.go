package main

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// artifactDir is where GUI tests keep their screenshots:
// $LSVIEW_ARTIFACTS, else bin/test-artifacts/lsview in the repository.
func artifactDir(t testing.TB) string {
	t.Helper()
	return testenv.ArtifactDir(t, "LSVIEW_ARTIFACTS", "lsview")
}

// xvfb is a virtual X display for the test.
type xvfb struct {
	display string
	env     []string
}

func startXvfb(t testing.TB) *xvfb {
	t.Helper()
	testenv.NeedTools(t, "Xvfb", "xdotool", "import")
	// -displayfd has Xvfb pick a free display itself (taking its lock
	// file, so two tests or a stale socket can't share one) and write the
	// number only once it accepts connections.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "2048x1536x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	p := testenv.Start(t, cmd)
	w.Close()
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, 64))
		got <- strings.TrimSpace(string(b))
	}()
	var n string
	select {
	case n = <-got:
	case <-p.Done():
		t.Fatalf("Xvfb exited before it was ready: %v\n%s", p.Err(), p.Stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("Xvfb did not report a display in 15s:\n%s", p.Stderr.String())
	}
	if _, err := strconv.Atoi(n); err != nil {
		t.Fatalf("Xvfb reported display %q:\n%s", n, p.Stderr.String())
	}
	disp := ":" + n
	runtimeDir := t.TempDir()
	os.Chmod(runtimeDir, 0o700)
	x := &xvfb{display: disp, env: append(os.Environ(), "DISPLAY="+disp, "XDG_RUNTIME_DIR="+runtimeDir)}
	// A client's connection proves the display is usable before any
	// program under test meets it.
	if out, err := x.command("xdotool", "getdisplaygeometry").CombinedOutput(); err != nil {
		t.Fatalf("display %s does not answer: %v: %s\n%s", disp, err, out, p.Stderr.String())
	}
	return x
}

func (x *xvfb) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = x.env
	return c
}

// window waits for a window whose name contains title and returns its id.
func (x *xvfb) window(t testing.TB, title string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		out, _ := x.command("xdotool", "search", "--onlyvisible", "--name", title).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			return ids[len(ids)-1]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no window %q after %v", title, d)
	return ""
}

// shot saves a screenshot of window id as name.png among the artifacts.
func (x *xvfb) shot(t testing.TB, id, name string) image.Image {
	t.Helper()
	path := filepath.Join(artifactDir(t), name+".png")
	if out, err := x.command("import", "-window", id, "png:"+path).CombinedOutput(); err != nil {
		t.Fatalf("import: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// videoArea is where the picture of a w×h stream lies in a screenshot of
// the window, scaled if the window isn't the canvas's size.
func videoArea(shot image.Rectangle, canvasW, canvasH, w, h int) image.Rectangle {
	r := fit(newLayout(canvasW, canvasH, image.Pt(w, h)).video, w, h)
	sx := float64(shot.Dx()) / float64(canvasW)
	sy := float64(shot.Dy()) / float64(canvasH)
	return image.Rect(int(float64(r.Min.X)*sx), int(float64(r.Min.Y)*sy), int(float64(r.Max.X)*sx), int(float64(r.Max.Y)*sy))
}

// frameCounter reads the pattern's frame number from the video area.
func frameCounter(img image.Image, area image.Rectangle) (uint32, bool) {
	gray := make([]byte, area.Dx()*area.Dy())
	for y := 0; y < area.Dy(); y++ {
		for x := 0; x < area.Dx(); x++ {
			gray[y*area.Dx()+x] = color.GrayModel.Convert(img.At(area.Min.X+x, area.Min.Y+y)).(color.Gray).Y
		}
	}
	seq, _, ok := pattern.Read(gray, area.Dx(), area.Dy())
	return seq, ok
}

// barsSeen counts which of the pattern's bar colours appear along a row
// through the bars.
func barsSeen(img image.Image, area image.Rectangle) int {
	y := area.Min.Y + area.Dy()*45/100
	seen := 0
	for _, bar := range pattern.Bars {
		for x := area.Min.X; x < area.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r>>8, bar.R) && near(g>>8, bar.G) && near(b>>8, bar.B) {
				seen++
				break
			}
		}
	}
	return seen
}

// near allows for JPEG's and scaling's colour error.
func near(v uint32, want uint8) bool {
	d := int(v) - int(want)
	return d > -24 && d < 24
}

// changed counts pixels that differ between two shots inside r.
func changed(a, b image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if a.At(x, y) != b.At(x, y) {
				n++
			}
		}
	}
	return n
}

func TestWindowShowsPatternAndTakesTyping(t *testing.T) {
	x := startXvfb(t)
	b := testenv.StartBroadcaster(t, "1280x720", 30, nil)
	bin, _ := binaries(t)
	view := x.command(bin, "--window", "1280x720", "--name", "tester", "--stats", b.URL())
	vp := testenv.Start(t, view)
	id := x.window(t, "lsview", 20*time.Second)
	time.Sleep(1500 * time.Millisecond) // let the status line fill in

	first := x.shot(t, id, "window-1")
	area := videoArea(first.Bounds(), 1280, 720, 1280, 720)
	if n := barsSeen(first, area); n != len(pattern.Bars) {
		t.Errorf("saw %d of the %d bar colours", n, len(pattern.Bars))
	}
	seq1, ok := frameCounter(first, area)
	if !ok {
		t.Fatal("no frame counter in the first screenshot")
	}
	time.Sleep(time.Second)
	second := x.shot(t, id, "window-2")
	seq2, ok := frameCounter(second, area)
	if !ok || seq2 <= seq1 {
		t.Fatalf("frame counter %d then %d (ok %v): the picture does not advance", seq1, seq2, ok)
	}
	t.Logf("frame counter %d then %d", seq1, seq2)

	if out, err := x.command("xdotool", "type", "--window", id, "--delay", "80", "hello from xdotool").CombinedOutput(); err != nil {
		t.Fatalf("xdotool type: %v: %s", err, out)
	}
	x.command("xdotool", "key", "--window", id, "Return").Run()
	time.Sleep(700 * time.Millisecond)
	third := x.shot(t, id, "window-3-typed")
	lay := newLayout(1280, 720, image.Pt(1280, 720))
	sx := float64(third.Bounds().Dx()) / 1280
	panel := image.Rect(int(float64(lay.panel.Min.X)*sx), 60, third.Bounds().Dx(), int(float64(lay.panel.Max.Y)*sx)-50)
	if n := changed(second, third, panel); n < 200 {
		t.Errorf("the chat panel hardly changed after typing a line (%d pixels)", n)
	}

	// The broadcaster restarts: the window says so, then plays again.
	b.Stop()
	var lost image.Image
	for try := 0; try < 20; try++ {
		time.Sleep(500 * time.Millisecond)
		lost = x.shot(t, id, "window-4-reconnecting")
		if whitePixels(lost, newLayout(1280, 720, image.Pt(1280, 720)).banner) > 50 {
			break
		}
	}
	if n := whitePixels(lost, newLayout(1280, 720, image.Pt(1280, 720)).banner); n <= 50 {
		t.Fatalf("no reconnecting banner after the broadcaster stopped (%d white pixels)", n)
	}
	testenv.StartBroadcaster(t, "1280x720", 30, b)
	var back image.Image
	resumed := false
	for try := 0; try < 30 && !resumed; try++ {
		time.Sleep(500 * time.Millisecond)
		back = x.shot(t, id, "window-5-resumed")
		_, ok := frameCounter(back, area)
		resumed = ok && whitePixels(back, newLayout(1280, 720, image.Pt(1280, 720)).banner) == 0
	}
	if !resumed {
		t.Fatal("the picture did not come back after the broadcaster restarted")
	}

	// Esc closes the window and lsview exits cleanly with its stats.
	x.command("xdotool", "key", "--window", id, "Escape").Run()
	if err := vp.Wait(t, 10*time.Second); err != nil || !strings.Contains(vp.Stdout.String(), `"shown"`) {
		t.Fatalf("after Esc: %v, stdout %q", err, vp.Stdout.String())
	}
}

// chatServer runs the chat service in the test process, naming b's video
// in its welcome, as lsbroadcast will beside its RTSP server.
func chatServer(t testing.TB, b *testenv.Broadcaster, hostKey string) string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	s := &chat.Server{Addr: "127.0.0.1:0", Store: st, HostKey: hostKey,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Info: func() netio.Stream {
			return netio.Stream{Name: "Chat cam ✓", RTSPPort: b.RTSPPort, RTSPPath: "/live"}
		}}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return s.ListenAddr().String()
}

// TestWindowChat: one address is enough (the welcome names the video);
// what is typed into the window reaches a second client, and the host's
// announcement shows as a banner.
func TestWindowChat(t *testing.T) {
	x := startXvfb(t)
	b := testenv.StartBroadcaster(t, "1280x720", 30, nil)
	const key = "0123456789abcdef0123456789abcdef"
	addr := chatServer(t, b, key)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, _, err := chat.Dial(ctx, addr, chat.Hello{Name: "host", HostKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if _, err := host.Chat("welcome, früh aufgestanden? ☕"); err != nil {
		t.Fatal(err)
	}

	bin, _ := binaries(t)
	vp := testenv.Start(t, x.command(bin, "--window", "1280x720", "--name", "tester", addr))
	id := x.window(t, "Chat cam", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)
	before := x.shot(t, id, "chat-1-joined")
	area := videoArea(before.Bounds(), 1280, 720, 1280, 720)
	if _, ok := frameCounter(before, area); !ok {
		t.Error("no picture: the welcome's RTSP address was not used")
	}

	x.command("xdotool", "type", "--window", id, "--delay", "80", "hi from the window").Run()
	x.command("xdotool", "key", "--window", id, "Return").Run()
	var got string
	for got == "" {
		select {
		case m, ok := <-host.Events():
			if !ok {
				t.Fatalf("host connection ended: %v", host.Err())
			}
			if m.Type == chat.TypeChat && m.From == "tester" {
				got = m.Text
			}
		case <-ctx.Done():
			t.Fatal("the typed line never reached the other client")
		}
	}
	if !strings.HasPrefix(got, "hi") || !strings.HasSuffix(got, "window") {
		t.Errorf("the other client got %q", got)
	}

	if _, err := host.Announce("post", 0, "Stream ends at 18:00 — merci!"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	after := x.shot(t, id, "chat-2-announcement")
	banner := newLayout(1280, 720, image.Pt(1280, 720)).banner
	yellow := 0
	for y := banner.Min.Y; y < banner.Max.Y; y++ {
		for x := banner.Min.X; x < banner.Max.X; x++ {
			r, g, b, _ := after.At(x, y).RGBA()
			if near(r>>8, bannerBG.R) && near(g>>8, bannerBG.G) && near(b>>8, bannerBG.B) {
				yellow++
			}
		}
	}
	if yellow < banner.Dx()*banner.Dy()/2 {
		t.Errorf("no announcement banner: %d banner-coloured pixels", yellow)
	}
	vp.Stop()
}

// whitePixels counts near-white pixels in r: text on the dark banner.
func whitePixels(img image.Image, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr>>8 > 200 && cg>>8 > 200 && cb>>8 > 200 {
				n++
			}
		}
	}
	return n
}
