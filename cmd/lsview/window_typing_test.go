//go:build linux && !noqt

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestWindowTypesAnyText: what a person types into the window reaches
// another client verbatim (capitals, accents, CJK, emoji, a paste from the
// clipboard and from the X selection), the editing keys edit, Esc clears
// the box and a second Esc quits. xdotool types a character missing from
// the keymap by binding a spare keycode to its keysym, so Qt sees a real
// key press with that text. An input method (ibus, fcitx) is not run here:
// its commits take the filter's InputMethod path, untested.
func TestWindowTypesAnyText(t *testing.T) {
	x := startXvfb(t)
	testenv.NeedTools(t, "xclip")
	b := testenv.StartBroadcaster(t, "640x360", 30, nil)
	const hostKey = "0123456789abcdef0123456789abcdef"
	addr := chatServer(t, b, hostKey)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, _, err := chat.Dial(ctx, addr, chat.Hello{Name: "host", HostKey: hostKey})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	bin, _ := binaries(t)
	vp := testenv.Start(t, x.command(bin, "--window", "1280x720", "--name", "typist", addr))
	id := x.window(t, "Chat cam", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)

	xdo := func(args ...string) {
		t.Helper()
		if out, err := x.command("xdotool", args...).CombinedOutput(); err != nil {
			t.Fatalf("xdotool %q: %v: %s", args, err, out)
		}
	}
	typeText := func(s string) { xdo("type", "--window", id, "--delay", "60", s) }
	keys := func(k ...string) { xdo(append([]string{"key", "--window", id, "--delay", "60"}, k...)...) }
	received := func(what string) string {
		t.Helper()
		for {
			select {
			case m, ok := <-host.Events():
				if !ok {
					t.Fatalf("host connection ended: %v", host.Err())
				}
				if m.Type == chat.TypeChat && m.From == "typist" {
					return m.Text
				}
			case <-ctx.Done():
				t.Fatalf("%s never reached the other client", what)
			}
		}
	}
	expect := func(what, want string) {
		t.Helper()
		if got := received(what); got != want {
			t.Errorf("%s: the other client got %q, want %q", what, got, want)
		}
	}

	for i, s := range []string{"Hello World ABC?!", "café über", "日本語", "😀"} {
		typeText(s)
		if i == 1 {
			x.shot(t, id, "typing-1-accents")
		}
		keys("Return")
		expect("typed "+s, s)
	}

	// Editing keys: Left, End, Home, Delete; Up brings back the last line.
	typeText("helo")
	keys("Left")
	typeText("l")
	keys("End")
	typeText("!")
	keys("Home", "Delete")
	typeText("H")
	keys("Return")
	expect("an edited line", "Hello!")
	keys("Up", "Return")
	expect("Up then Enter", "Hello!")

	// Ctrl+V pastes the clipboard; a middle click the X selection.
	const clip, sel = "pasted: naïve 東京 🚀", "selected: Ärger ½"
	setSelection(t, x, "clipboard", clip)
	keys("ctrl+v", "Return")
	expect("a clipboard paste", clip)
	setSelection(t, x, "primary", sel)
	xdo("mousemove", "--window", id, "300", "200", "click", "2")
	keys("Return")
	expect("a selection paste", sel)

	// Esc clears a box with text in it; the next line is all that goes.
	typeText("never sent")
	x.shot(t, id, "typing-2-before-esc")
	keys("Escape")
	time.Sleep(300 * time.Millisecond)
	x.shot(t, id, "typing-3-cleared")
	typeText("after Esc")
	keys("Return")
	expect("the line after Esc", "after Esc")
	if isDone(vp) {
		t.Fatal("one Esc on a box with text closed the window")
	}
	// A second Esc on the empty box quits: the window may be gone before
	// xdotool sends the key's release, which it then reports as an error.
	x.command("xdotool", "key", "--window", id, "Escape").Run()
	if err := vp.Wait(t, 10*time.Second); err != nil {
		t.Fatalf("after Esc on the empty box: %v\n%s", err, vp.Stderr.String())
	}
}

// setSelection makes xclip own the X selection with text, until the test
// ends: Qt asks the owner for the text when it pastes.
func setSelection(t *testing.T, x *xvfb, selection, text string) {
	t.Helper()
	c := x.command("xclip", "-quiet", "-selection", selection)
	c.Stdin = strings.NewReader(text)
	testenv.Start(t, c)
	time.Sleep(300 * time.Millisecond) // xclip owns it once it has read stdin
}

func isDone(p *testenv.Proc) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// TestWindowDeadKeysAndCompose: a dead key and a Compose sequence make one
// character, which reaches another client as typed. Under a layout with
// dead keys (us intl: the apostrophe key is dead_acute), Qt's compose
// input context (libxkbcommon's compose, with the locale's table) turns
// dead_acute e into "é" and Multi_key o c into "©" and hands the filter
// the text; the keys alone carry none.
func TestWindowDeadKeysAndCompose(t *testing.T) {
	x := startXvfb(t)
	testenv.NeedTools(t, "setxkbmap")
	if out, err := x.command("setxkbmap", "-layout", "us", "-variant", "intl").CombinedOutput(); err != nil {
		t.Fatalf("setxkbmap: %v: %s", err, out)
	}
	b := testenv.StartBroadcaster(t, "640x360", 30, nil)
	const hostKey = "0123456789abcdef0123456789abcdef"
	addr := chatServer(t, b, hostKey)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	host, _, err := chat.Dial(ctx, addr, chat.Hello{Name: "host", HostKey: hostKey})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	bin, _ := binaries(t)
	cmd := x.command(bin, "--window", "1280x720", "--name", "typist", addr)
	// The compose table is the locale's: C.UTF-8 is the one every Debian
	// has, and compose.dir gives it en_US.UTF-8's. (It passed with LC_ALL=C
	// too: Qt or libxkbcommon falls back to a UTF-8 table there.)
	cmd.Env = append(cmd.Env, "LC_ALL=C.UTF-8")
	testenv.Start(t, cmd)
	id := x.window(t, "Chat cam", 20*time.Second)
	time.Sleep(1500 * time.Millisecond)

	// Real key events (XTEST) to the focused window, not events sent to
	// it: Qt composes only for the object with the focus.
	if out, err := x.command("xdotool", "windowfocus", "--sync", id).CombinedOutput(); err != nil {
		t.Fatalf("xdotool windowfocus: %v: %s", err, out)
	}
	keys := func(k ...string) {
		t.Helper()
		args := append([]string{"key", "--delay", "80"}, k...)
		if out, err := x.command("xdotool", args...).CombinedOutput(); err != nil {
			t.Fatalf("xdotool %q: %v: %s", args, err, out)
		}
	}
	for _, c := range []struct {
		what string
		keys []string
		want string
	}{
		{"a dead key", []string{"c", "a", "f", "dead_acute", "e"}, "café"},
		{"a Compose sequence", []string{"Multi_key", "o", "c", "space", "2", "0", "2", "6"}, "© 2026"},
	} {
		keys(c.keys...)
		x.shot(t, id, "compose-"+strings.ReplaceAll(c.what, " ", "-"))
		keys("Return")
		for got := ""; got != c.want; {
			select {
			case m, ok := <-host.Events():
				if !ok {
					t.Fatalf("host connection ended: %v", host.Err())
				}
				if m.Type != chat.TypeChat || m.From != "typist" {
					continue
				}
				if got = m.Text; got != c.want {
					t.Fatalf("%s: the other client got %q, want %q", c.what, got, c.want)
				}
			case <-ctx.Done():
				t.Fatalf("%s: %q never reached the other client", c.what, c.want)
			}
		}
	}
}
