package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns/mdnstest"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestPickerCursorFollowsStream: the cursor stays on the stream it is on
// when another sorts in above it, or when one above it goes.
func TestPickerCursorFollowsStream(t *testing.T) {
	cam := func(name, id string) viewer.Stream {
		return viewer.Stream{Stream: netio.Stream{Name: name, Instance: id, Proto: chat.Version}, Kind: viewer.KindLsview, URL: "rtsp://" + id + "/live"}
	}
	porch, attic, barn := cam("Porch", "p"), cam("Attic", "a"), cam("Barn", "b")
	p := pickerView{out: io.Discard}
	p.draw([]viewer.Stream{porch})
	p.draw([]viewer.Stream{attic, porch})
	if p.cursor != 1 {
		t.Fatalf("cursor on row %d after Attic sorted in above Porch; want 1", p.cursor)
	}
	p.press(keyEvent{k: keyUp}, []viewer.Stream{attic, porch})
	s, done, err := p.press(keyEvent{k: keyDown}, []viewer.Stream{attic, barn, porch})
	if done || err != nil || p.cursor != 1 {
		t.Fatalf("Down from Attic with Barn in between: row %d (%v %v); want 1, Barn", p.cursor, done, err)
	}
	s, done, err = p.press(keyEvent{k: keyEnter}, []viewer.Stream{barn, porch})
	if !done || err != nil || s.Name != "Barn" {
		t.Fatalf("Enter after Attic went opened %q (%v, %v); want Barn", s.Name, done, err)
	}
}

// TestPickerInTmuxKeepsCursor: a camera appearing above the one under the
// cursor of the real picker, in tmux, does not change what Enter opens.
func TestPickerInTmuxKeepsCursor(t *testing.T) {
	testenv.NeedTools(t, "tmux")
	x := startXvfb(t)
	p := mdnstest.NewPair(t)
	piBroadcaster(t, p, "Porch cam", "320x240")
	_, lsb := binaries(t)
	tmux := pickerInTmux(t, x, p, "lsview-cursor-", "--window", "640x360")
	waitScreen := func(what string, ok func(string) bool) string {
		t.Helper()
		screen := ""
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if screen = tmux("capture-pane", "-p", "-t", "pick"); ok(screen) {
				return screen
			}
		}
		t.Fatalf("the picker never showed %s:\n%s", what, screen)
		return ""
	}
	waitScreen("Porch cam under the cursor", func(s string) bool { return strings.Contains(s, "> 1. Porch cam") })
	// Another camera on the same Pi, on other ports, sorts in above.
	attic := mdnstest.Command(context.Background(), p.Pi, lsb, "--source", "pattern", "--size", "320x240", "--fps", "15",
		"--name", "Attic cam", "--mdns", p.PiIf, "--state-dir", t.TempDir(), "--rtsp-port", "8564", "--rtp-port", "8010",
		"--chat-port", "4010", "--http-port", "off")
	testenv.Start(t, attic)
	screen := waitScreen("Attic cam above Porch cam", func(s string) bool {
		return strings.Contains(s, "1. Attic cam") && strings.Contains(s, "2. Porch cam")
	})
	if !strings.Contains(screen, "> 2. Porch cam") {
		t.Fatalf("the cursor left Porch cam when Attic cam sorted in above:\n%s", screen)
	}
	os.WriteFile(artifactDir(t)+"/picker-cursor.txt", []byte(screen), 0o644)
	tmux("send-keys", "-t", "pick", "Enter")
	id := x.window(t, "Porch cam", 20*time.Second)
	x.command("xdotool", "key", "--window", id, "Escape").Run()
}
