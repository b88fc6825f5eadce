package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns/mdnstest"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// Finding 4 of issue 11, written as the attack: a machine on the LAN
// announces a broadcaster whose name sets the terminal's title, clears and
// recolours it, and reverses what follows. The real lsbroadcast refuses such
// a --name now, so the impostor is an mDNS advertiser of its own: this test
// binary, re-run in the "pi" namespace.

const (
	evilName = "Cam\x1b]0;OWNED\x07\x1b[2J\x1b[31m\u202eevil\u2028\u200bx"
	evilEnv  = "LSVIEW_TEST_EVIL_IFACE"
)

// TestEvilAdvertiser is not a test: run with evilEnv set to an interface,
// it announces evilName there until interrupted (at most a minute).
func TestEvilAdvertiser(t *testing.T) {
	ifc := os.Getenv(evilEnv)
	if ifc == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	a := &mdns.Advertiser{Interfaces: mdns.Interfaces{Names: []string{ifc}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Stream: func() netio.Stream {
			return netio.Stream{Name: evilName, Instance: "0123456789abcdef0123456789abcdef", ChatPort: 4000,
				Proto: chat.Version, RTSPPort: 8554, RTSPPath: "/live", Width: 640, Height: 360, FPS: 15, Codec: "jpeg"}
		}}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	a.Serve(ctx)
}

// evilAdvertiser starts the impostor in p's "pi" namespace.
func evilAdvertiser(t *testing.T, p *mdnstest.Pair) {
	t.Helper()
	cmd := mdnstest.Command(context.Background(), p.Pi, os.Args[0], "-test.run=^TestEvilAdvertiser$")
	cmd.Env = append(os.Environ(), evilEnv+"="+p.PiIf)
	testenv.Start(t, cmd)
}

// hazardIn returns the first thing in out a terminal would act on rather
// than show (a control character but newline, a bidi control, a line
// separator, an invisible character, a byte that is not UTF-8), or "".
func hazardIn(out string) string {
	for i, r := range out {
		if r == '\n' {
			continue
		}
		if r == utf8.RuneError {
			return "invalid UTF-8 at byte " + strconv.Itoa(i)
		}
		if textsafe.Terminal(string(r)) != string(r) {
			return strconv.QuoteToASCII(string(r)) + " at byte " + strconv.Itoa(i)
		}
	}
	return ""
}

// TestListHostileName: nothing of the hostile name acts on the terminal in
// lsview --list, on stdout or in its logs; --list --json carries the name as
// sent, its hazards written as JSON escapes.
func TestListHostileName(t *testing.T) {
	p := mdnstest.NewPair(t)
	evilAdvertiser(t, p)
	bin, _ := binaries(t)
	run := func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := mdnstest.Command(ctx, p.Laptop, bin, append([]string{"--list", "--wait", "2s", "--log-level", "debug"}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.Run()
		return stdout.String(), stderr.String()
	}

	var out, logs string
	for try := 0; try < 5 && !strings.Contains(out, "Cam"); try++ {
		out, logs = run()
	}
	if !strings.Contains(out, `Cam\u001B]0;OWNED\u0007\u001B[2J\u001B[31m\u202Eevil\u2028\u200Bx`) {
		t.Fatalf("--list does not show the name escaped:\n%s\nlogs:\n%s", out, logs)
	}
	if h := hazardIn(out); h != "" {
		t.Errorf("--list printed %s:\n%q", h, out)
	}
	if h := hazardIn(logs); h != "" {
		t.Errorf("--list logged %s:\n%q", h, logs)
	}

	var found []listing
	for try := 0; try < 5 && len(found) == 0; try++ {
		out, logs = run("--json")
		found = nil
		if err := json.Unmarshal([]byte(out), &found); err != nil {
			t.Fatalf("--json printed %q: %v", out, err)
		}
	}
	if len(found) != 1 || found[0].Name != evilName {
		t.Fatalf("--json listed %+v, want the name as sent", found)
	}
	if h := hazardIn(out); h != "" {
		t.Errorf("--json printed %s:\n%q", h, out)
	}
	if !strings.Contains(out, `\u202e`) {
		t.Errorf("--json does not escape U+202E:\n%s", out)
	}
}

// TestPickerHostileName: the picker shows the hostile name escaped; the
// pane's screen holds no escape sequence and its title stays ours.
func TestPickerHostileName(t *testing.T) {
	testenv.NeedTools(t, "tmux")
	p := mdnstest.NewPair(t)
	evilAdvertiser(t, p)
	bin, _ := binaries(t)
	sock := "lsview-evil-" + strconv.Itoa(os.Getpid())
	tmux := func(args ...string) string {
		out, _ := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out)
	}
	t.Cleanup(func() { tmux("kill-server") })
	cmd := strings.Join([]string{"ip", "netns", "exec", p.Laptop, bin, "2>/dev/null", "; sleep 30"}, " ")
	if out := tmux("new-session", "-d", "-s", "pick", "-x", "200", "-y", "40", cmd); out != "" {
		t.Fatalf("tmux: %s", out)
	}
	tmux("set-option", "-t", "pick", "-g", "set-titles", "on")
	want := `1. Cam\u001B]0;OWNED\u0007\u001B[2J\u001B[31m\u202Eevil\u2028\u200Bx`
	screen := ""
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(screen, want) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		screen = tmux("capture-pane", "-p", "-e", "-t", "pick")
	}
	if !strings.Contains(screen, want) {
		t.Fatalf("the picker never listed the name escaped:\n%s", screen)
	}
	os.WriteFile(artifactDir(t)+"/picker-hostile.txt", []byte(screen), 0o644)
	if h := hazardIn(screen); h != "" {
		t.Errorf("the picker's screen holds %s (an escape sequence or a control got through):\n%q", h, screen)
	}
	if title := tmux("display-message", "-p", "-t", "pick", "#{pane_title}"); strings.Contains(title, "OWNED") {
		t.Errorf("pane title set by the network: %q", title)
	}
	tmux("send-keys", "-t", "pick", "q")
}
