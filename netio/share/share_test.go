package share

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7"},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1}, "2001:db8:1:2::"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::9"), Port: 1, Zone: "eth0"}, "2001:db8:1:2::"},
		{&net.UnixAddr{Name: "@x", Net: "unix"}, "invalid IP"},
		{mustTCP(t, "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:554"), "2001:db8:1:2::"},
		{mustTCP(t, "[fe80::1%lo]:9"), "fe80::"},
		{addrString("198.51.100.3:9"), "198.51.100.3"},
	} {
		if got := Key(tc.addr).String(); got != tc.want {
			t.Errorf("Key(%v) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

func TestCaps(t *testing.T) {
	c := Caps{Kind: "video", Total: 3, PerKey: 2}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, tc := range []struct {
		key  netip.Addr
		want string // "" takes
	}{{a, ""}, {a, ""}, {a, "from your address"}, {b, ""}, {b, "server full"}} {
		err := c.Take(tc.key)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("take %d from %v: %v, want %q", i, tc.key, err, tc.want)
		}
	}
	c.Release(a)
	if err := c.Take(b); err != nil {
		t.Fatalf("after a release: %v", err)
	}
}

func TestLogGate(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var g LogGate
	for range 100 {
		g.Warn(log, "limit hit", "address", "192.0.2.1")
	}
	g.Warn(log, "other kind")
	if n := strings.Count(buf.String(), "limit hit"); n != 1 {
		t.Errorf("%d lines of one kind, want 1:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "other kind") {
		t.Errorf("another kind was held back:\n%s", buf.String())
	}
}

func mustTCP(t *testing.T, s string) *net.TCPAddr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// addrString is a net.Addr of another kind than TCP or UDP, such as the
// one a WebSocket's net.Conn gives.
type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }
