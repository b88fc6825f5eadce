package viewer

import (
	"errors"
	"net"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
)

func TestRelayParseVia(t *testing.T) {
	for in, want := range map[string]Via{"pi": ViaPi, "relay": ViaRelay, "auto": ViaAuto} {
		if got, err := ParseVia(in); err != nil || got != want {
			t.Errorf("ParseVia(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseVia("cloud"); err == nil {
		t.Error("ParseVia(cloud): no error")
	}
}

// TestRelayViaChoosesTheVideo: --via relay plays the relay the stream
// names, and refuses a stream that names none; pi and auto keep the Pi's.
func TestRelayViaChoosesTheVideo(t *testing.T) {
	const pi, relay = "rtsp://10.0.0.2:8554/live", "rtsp://relay.example:8554/cam"
	named := Stream{Stream: netio.Stream{Name: "cam", RelayURL: relay}, Kind: KindLsview, URL: pi}
	for _, tc := range []struct {
		via    Via
		stream Stream
		want   string
		err    bool
	}{
		{ViaPi, named, pi, false},
		{ViaAuto, named, pi, false},
		{"", named, pi, false},
		{ViaRelay, named, relay, false},
		{ViaRelay, Stream{Stream: netio.Stream{Name: "cam"}, Kind: KindLsview, URL: pi}, pi, true},
	} {
		s := NewSession(Config{Stream: tc.stream, Via: tc.via})
		err := s.chooseVideo()
		if (err != nil) != tc.err || (err != nil && !errors.Is(err, ErrNoVideo)) {
			t.Errorf("via %q: error %v, want error %v", tc.via, err, tc.err)
		}
		if got := s.Stream().URL; got != tc.want {
			t.Errorf("via %q: plays %s, want %s", tc.via, got, tc.want)
		}
	}
}

// TestRelayFromMDNS: the relay URL in the TXT record reaches the stream.
func TestRelayFromMDNS(t *testing.T) {
	e := mdns.Entry{Instance: "cam", Type: mdns.LsviewType, Addrs: []net.IP{net.IPv4(10, 0, 0, 2)}, Port: 4000,
		TXT: map[string]string{mdns.KeyRelay: "rtsp://relay.example:8554/cam", mdns.KeyRTSPPort: "8554", mdns.KeyRTSPPath: "/live"}}
	if got := FromEntry(e).RelayURL; got != "rtsp://relay.example:8554/cam" {
		t.Errorf("RelayURL %q", got)
	}
}
