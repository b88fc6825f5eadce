package device

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

func TestRTSPLimitFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "lsbroadcast.conf")
	if err := os.WriteFile(conf, []byte("rtsp-max-readers = 10\nrtsp-max-per-address = 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args             []string
		readers, perAddr int
		bad              bool
	}{
		{args: nil, readers: rtsp.DefaultMaxReaders, perAddr: rtsp.DefaultMaxReadersPerAddr},
		{args: []string{"--rtsp-max-readers", "100", "--rtsp-max-per-address", "2"}, readers: 100, perAddr: 2},
		{args: []string{"--config", conf}, readers: 10, perAddr: 3},
		{args: []string{"--config", conf, "--rtsp-max-per-address", "5"}, readers: 10, perAddr: 5},
		{args: []string{"--rtsp-max-readers", "0"}, bad: true},
		{args: []string{"--rtsp-max-per-address", "-1"}, bad: true},
		{args: []string{"--rtsp-max-readers", "4", "--rtsp-max-per-address", "5"}, bad: true},
	} {
		c, err := ParseArgs(append([]string{"--state-dir", t.TempDir()}, tc.args...), nil)
		if tc.bad {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Errorf("%q: error %v, want a usage error", tc.args, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if c.RTSPMaxReaders != tc.readers || c.RTSPMaxPerAddress != tc.perAddr {
			t.Errorf("%q: readers %d, per address %d; want %d, %d", tc.args, c.RTSPMaxReaders, c.RTSPMaxPerAddress, tc.readers, tc.perAddr)
		}
	}
}

// TestVersionFlag: --version is one of the flags, and ParseArgs says so
// before checking the rest.
func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{
		{"--version"},
		{"--source", "pattern", "--version"},
		{"--version", "--config", "/nonexistent.conf"},
	} {
		if c, err := ParseArgs(args, nil); !errors.Is(err, ErrVersion) || c != nil {
			t.Errorf("%q: %v, %v; want ErrVersion", args, c, err)
		}
	}
	if _, err := ParseArgs([]string{"--source", "pattern", "--state-dir", t.TempDir()}, nil); err != nil {
		t.Errorf("without --version: %v", err)
	}
}
