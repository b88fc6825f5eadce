package testenv

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"
)

// FreePort is a TCP port on 127.0.0.1 that nobody listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePortOn(t, "127.0.0.1")
}

// FreePortOn is a TCP port on host (an address of this machine or of the
// network namespace the test runs in) that was free a moment ago.
func FreePortOn(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("free port on %s: %v", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreePorts is n distinct TCP ports on host that were free a moment ago,
// for one program that listens on several: each listener stays open until
// all are chosen, so the kernel can't hand the same port out twice (it
// did: a chat and an RTSP port alike, "address already in use").
func FreePorts(t testing.TB, host string, n int) []int {
	t.Helper()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("free port on %s: %v", host, err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// FreeUDPRun is the first of n consecutive UDP ports on host that are
// free, the first also free for TCP. The first is even, because RTP wants
// an even port and RTCP the next one. It returns an error, not a test
// failure, so that benchmark drivers (cmd/lsbench) use it too.
func FreeUDPRun(host string, n int) (int, error) {
	for range 100 {
		l, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, fmt.Errorf("free UDP port on %s: %w", host, err)
		}
		base := l.LocalAddr().(*net.UDPAddr).Port &^ 1
		l.Close()
		if base+n > 65000 {
			continue
		}
		if runFree(host, base, n) {
			return base, nil
		}
	}
	return 0, errors.New("no run of free UDP ports on " + host)
}

func runFree(host string, base, n int) bool {
	for p := base; p < base+n; p++ {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		c.Close()
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(base)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// WaitPort waits at most d for a TCP listener at addr (host:port) and
// fails the test if none comes.
func WaitPort(t testing.TB, addr string, d time.Duration) {
	t.Helper()
	if err := DialWait(addr, d); err != nil {
		t.Fatal(err)
	}
}

// DialWait waits at most d for a TCP listener at addr.
func DialWait(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %w", addr, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
