package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns/mdnstest"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// piBroadcaster runs the real lsbroadcast in the "pi" namespace,
// announcing on its veth end only.
func piBroadcaster(t testing.TB, p *mdnstest.Pair, name, size string) *testenv.Proc {
	t.Helper()
	_, bin := binaries(t)
	cmd := mdnstest.Command(context.Background(), p.Pi, bin, "--source", "pattern", "--size", size, "--fps", "15",
		"--name", name, "--mdns", p.PiIf, "--state-dir", t.TempDir())
	return testenv.Start(t, cmd)
}

// list runs lsview --list --json in the laptop namespace.
func list(t testing.TB, p *mdnstest.Pair, wait string) ([]listing, string, int) {
	t.Helper()
	bin, _ := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := mdnstest.Command(ctx, p.Laptop, bin, "--list", "--json", "--wait", wait)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	var found []listing
	if err := json.Unmarshal(out, &found); err != nil {
		t.Fatalf("--list --json printed %q: %v (stderr %s)", out, err, stderr.String())
	}
	return found, stderr.String(), code
}

func TestListPlayAndLoseAcrossNamespaces(t *testing.T) {
	p := mdnstest.NewPair(t)
	pi := piBroadcaster(t, p, "Kitchen cam", "640x360")

	var found []listing
	for try := 0; try < 5 && len(found) == 0; try++ {
		found, _, _ = list(t, p, "2s")
	}
	if len(found) != 1 {
		t.Fatalf("found %+v, want the one broadcaster", found)
	}
	s := found[0]
	if s.Name != "Kitchen cam" || s.Kind != "lsview" || s.URL != "rtsp://"+p.PiAddr+":8554/live" ||
		s.Chat != p.PiAddr+":4000" || s.Proto != chat.Version || s.Codec != "jpeg" || s.FPS != 15 ||
		s.Page != "http://"+p.PiAddr+":8080/" {
		t.Fatalf("listed %+v", s)
	}

	// By name, across the namespaces, as a person would type it.
	bin, _ := binaries(t)
	view := testenv.Start(t, mdnstest.Command(context.Background(), p.Laptop, bin, "--headless", "--frames", "20", "Kitchen cam"))
	err := view.Wait(t, 30*time.Second)
	var st stats
	if err != nil || json.Unmarshal([]byte(view.Stdout.String()), &st) != nil || st.Shown < 20 {
		t.Fatalf("headless by name: %v %q", err, view.Stdout.String())
	}

	pi.Stop()
	found, msg, code := list(t, p, "2s")
	if len(found) != 0 || code != 1 || !strings.Contains(msg, "no broadcaster found on "+p.LaptopIf) ||
		!strings.Contains(msg, "connect directly") {
		t.Fatalf("after the broadcaster stopped: %+v, exit %d, %q", found, code, msg)
	}
}

// pickerInTmux runs lsview's picker with args in a tmux session "pick" in
// the laptop namespace, its windows on x, until the test ends; it returns
// a function that runs tmux commands against that session's server.
func pickerInTmux(t *testing.T, x *xvfb, p *mdnstest.Pair, sockPrefix string, args ...string) func(args ...string) string {
	t.Helper()
	bin, _ := binaries(t)
	sock := sockPrefix + strconv.Itoa(os.Getpid())
	tmux := func(args ...string) string {
		out, _ := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		return string(out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tmux pane:\n%s", tmux("capture-pane", "-p", "-J", "-t", "pick"))
		}
		tmux("kill-server")
	})
	runtimeDir := t.TempDir()
	os.Chmod(runtimeDir, 0o700)
	env := []string{"env", "DISPLAY=" + x.display, "XDG_RUNTIME_DIR=" + runtimeDir}
	cmd := strings.Join(append([]string{"ip", "netns", "exec", p.Laptop}, append(env, append([]string{bin}, args...)...)...), " ")
	if out := tmux("new-session", "-d", "-s", "pick", "-x", "160", "-y", "40", cmd+"; sleep 30"); out != "" {
		t.Fatalf("tmux: %s", out)
	}
	return tmux
}

// TestPickerInTmux drives the terminal picker with tmux send-keys, in the
// laptop namespace, and checks the chosen camera's window under Xvfb.
func TestPickerInTmux(t *testing.T) {
	testenv.NeedTools(t, "tmux")
	x := startXvfb(t)
	p := mdnstest.NewPair(t)
	piBroadcaster(t, p, "Porch cam — Ünïcødé Ωμέγα", "640x360")
	tmux := pickerInTmux(t, x, p, "lsview-test-", "--stats", "--window", "960x540")
	screen := ""
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(screen, "1. Porch cam — Ünïcødé Ωμέγα") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		screen = tmux("capture-pane", "-p", "-t", "pick")
	}
	if !strings.Contains(screen, "1. Porch cam — Ünïcødé Ωμέγα") {
		t.Fatalf("the picker never listed the camera:\n%s", screen)
	}
	os.WriteFile(artifactDir(t)+"/picker.txt", []byte(screen), 0o644)
	tmux("send-keys", "-t", "pick", "1", "Enter")
	id := x.window(t, "Porch cam", 20*time.Second)
	time.Sleep(time.Second)
	shot := x.shot(t, id, "picked-window")
	area := videoArea(shot.Bounds(), 960, 540, 640, 360)
	if n := barsSeen(shot, area); n != len(pattern.Bars) {
		t.Errorf("picked window shows %d of %d bar colours", n, len(pattern.Bars))
	}
	if _, ok := frameCounter(shot, area); !ok {
		t.Error("picked window: no frame counter")
	}
	x.command("xdotool", "key", "--window", id, "Escape").Run()
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(screen, `"shown"`) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		screen = tmux("capture-pane", "-p", "-J", "-t", "pick")
	}
	if !strings.Contains(screen, `"shown"`) {
		t.Fatalf("lsview did not exit with its stats after Esc:\n%s", screen)
	}
}
