package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestVersionAmongFlags: --version answers wherever it stands among the
// other flags, before any of them is acted on: no camera opened, no port
// taken, no state directory needed.
func TestVersionAmongFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--version"},
		{"--source", "pattern", "--version"},
		{"--version", "--source", "pattern", "--state-dir", "/nonexistent/state", "--config", "/nonexistent.conf"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, lsbroadcast(t), args...).CombinedOutput()
		cancel()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "lsbroadcast ") || len(lines[0]) <= len("lsbroadcast ") {
			t.Errorf("lsbroadcast %q: %v, %q; want one line naming the version", args, err, out)
		}
	}
}
