package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestVersion: both programs print one line naming themselves and a
// version, and exit 0, with no camera, network or display.
func TestVersion(t *testing.T) {
	lsview, lsbroadcast := binaries(t)
	for _, bin := range []string{lsview, lsbroadcast} {
		out, err := exec.Command(bin, "--version").CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		name := bin[strings.LastIndex(bin, "/")+1:]
		if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], name+" ") || len(lines[0]) <= len(name)+1 {
			t.Errorf("%s --version: %v, %q", name, err, out)
		}
	}
}

// TestBroadcasterSaysHowToWatch: lsbroadcast's broadcasting line holds the
// lsview command to paste and the page, and that command reaches it.
func TestBroadcasterSaysHowToWatch(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 15, nil)
	b.WaitOutput(t, "msg=broadcasting", 20*time.Second)
	line := ""
	for _, l := range strings.Split(b.Stderr.String(), "\n") {
		if strings.Contains(l, "msg=broadcasting") {
			line = l
		}
	}
	cmd := "lsview " + b.ChatAddr()
	if !strings.Contains(line, `watch="`+cmd+`"`) || !strings.Contains(line, "page="+b.PageURL()) {
		t.Fatalf("broadcasting line %q: want watch=%q and page=%s", line, cmd, b.PageURL())
	}
	st, _ := headless(t, "--seconds", "2", "--name", "pasted", strings.TrimPrefix(cmd, "lsview "))
	if st.URL != b.URL() || st.Shown == 0 {
		t.Fatalf("the pasted command played %+v; want %s", st, b.URL())
	}
}
