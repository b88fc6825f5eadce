package mdns

import (
	"slices"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// TestRelayInTXT: the relay's URL is announced when there is one and fits
// a TXT string; a longer one is left to the chat welcome.
func TestRelayInTXT(t *testing.T) {
	s := netio.Stream{Name: "cam", RTSPPort: 8554, RTSPPath: "/live", RelayURL: "rtsp://relay.example:8554/cam"}
	if !slices.Contains(lsviewTXT(s), "relay=rtsp://relay.example:8554/cam") {
		t.Errorf("TXT %q has no relay", lsviewTXT(s))
	}
	s.RelayURL = "rtsp://relay.example/" + strings.Repeat("x", 250)
	for _, kv := range lsviewTXT(s) {
		if strings.HasPrefix(kv, KeyRelay+"=") || len(kv) > 255 {
			t.Errorf("TXT string %d bytes: %.40q…", len(kv), kv)
		}
	}
	s.RelayURL = ""
	for _, kv := range lsviewTXT(s) {
		if strings.HasPrefix(kv, KeyRelay+"=") {
			t.Errorf("TXT %q names a relay without one", kv)
		}
	}
}
