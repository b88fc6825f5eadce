package device

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// TestRelayFlags: --relay with credentials in the URL, in relay-user and
// relay-password (from the config file too), and the watch URL readers are
// told, never with credentials.
func TestRelayFlags(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "lsbroadcast.conf")
	if err := os.WriteFile(conf, []byte("relay = rtsp://relay.example:8554/cam\nrelay-user = pi\nrelay-password = s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args           []string
		publish, watch string
		bad            string
	}{
		{args: nil},
		{args: []string{"--relay", "rtsp://relay.example:8554/cam"},
			publish: "rtsp://relay.example:8554/cam", watch: "rtsp://relay.example:8554/cam"},
		{args: []string{"--relay", "rtsp://pi:pw@relay.example:8554/cam"},
			publish: "rtsp://pi:pw@relay.example:8554/cam", watch: "rtsp://relay.example:8554/cam"},
		{args: []string{"--config", conf},
			publish: "rtsp://pi:s3cret@relay.example:8554/cam", watch: "rtsp://relay.example:8554/cam"},
		{args: []string{"--config", conf, "--relay-watch-url", "rtsp://public.example/cam"},
			publish: "rtsp://pi:s3cret@relay.example:8554/cam", watch: "rtsp://public.example/cam"},
		{args: []string{"--relay", "http://relay.example/cam"}, bad: "want rtsp://"},
		{args: []string{"--relay", "rtsp://relay.example:8554"}, bad: "want rtsp://"},
		{args: []string{"--relay", "rtsp://a:b@relay.example/cam", "--relay-user", "c"}, bad: "both"},
		{args: []string{"--relay-user", "pi"}, bad: "need relay"},
		{args: []string{"--relay", "rtsp://relay.example/cam", "--relay-watch-url", "x"}, bad: "relay-watch-url"},
		{args: []string{"--relay", "rtsp://relay.example/cam", "--relay-watch-url", "rtsp://a:s3cret@relay.example/cam"},
			bad: "must not hold"},
	} {
		c, err := ParseArgs(append([]string{"--state-dir", t.TempDir()}, tc.args...), nil)
		if tc.bad != "" {
			var ue *UsageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q: error %v, want a usage error saying %q", tc.args, err, tc.bad)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%q: the error shows the password: %v", tc.args, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if c.Relay.PublishURL != tc.publish || c.Relay.WatchURL != tc.watch || c.Relay.On() != (tc.publish != "") {
			t.Errorf("%q: %+v, want publish %q, watch %q", tc.args, c.Relay, tc.publish, tc.watch)
		}
	}
}

// TestRelayStatusLine: systemd's status line names the relay's state,
// and the reason while it fails, never the password.
func TestRelayStatusLine(t *testing.T) {
	b := &Broadcaster{cfg: &Config{}}
	if got := b.relayLine(); got != "" {
		t.Errorf("without a relay: %q", got)
	}
	b.cfg.Relay = RelayConfig{PublishURL: "rtsp://pi:s3cret@relay.example:8554/cam", WatchURL: "rtsp://relay.example:8554/cam"}
	b.relay = &rtsp.Publisher{URL: b.cfg.Relay.PublishURL}
	if got, want := b.relayLine(), "; relay rtsp://relay.example:8554/cam: connecting"; got != want {
		t.Errorf("before it runs: %q, want %q", got, want)
	}
	if st := b.relayStatus(); st == nil || st.URL != b.cfg.Relay.WatchURL || st.State != "connecting" {
		t.Errorf("/state relay %+v", st)
	}
}
