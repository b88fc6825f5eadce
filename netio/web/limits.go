package web

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// caps bounds the WebSockets of one kind: a share per address and a
// total, so one machine never takes every slot.
type caps struct {
	kind           string
	total, perAddr int
	mu             sync.Mutex
	n              int
	by             map[string]int
}

func newCaps(kind string, total, perAddr int) *caps {
	return &caps{kind: kind, total: total, perAddr: perAddr, by: map[string]int{}}
}

// take reserves a slot for addr, or says why not.
func (c *caps) take(addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.by[addr] >= c.perAddr:
		return fmt.Errorf("%d %s connections from your address already", c.by[addr], c.kind)
	case c.n >= c.total:
		return fmt.Errorf("server full: %d %s connections", c.n, c.kind)
	}
	c.n++
	c.by[addr]++
	return nil
}

func (c *caps) release(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.by[addr]--; c.by[addr] <= 0 {
		delete(c.by, addr)
	}
}

// clientAddr is the TCP address of the request's client, as the chat hub
// counts addresses.
func clientAddr(remote string) (*net.TCPAddr, error) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return nil, fmt.Errorf("client address %q: %w", remote, err)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())), nil
}

// addrKey is what a share is kept for: the IP, and for IPv6 its /64, since
// one machine can pick any address in its prefix (as the chat hub does).
func addrKey(a *net.TCPAddr) string {
	if v4 := a.IP.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: a.IP.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

// logEvery: one line per kind of refusal at most this often, so an
// attack can't flood the journal.
const logEvery = 10 * time.Second

type logGate struct {
	mu      sync.Mutex
	last    map[string]time.Time
	skipped map[string]int
}

func (g *logGate) warn(log *slog.Logger, kind string, args ...any) {
	g.mu.Lock()
	if g.last == nil {
		g.last, g.skipped = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if now.Sub(g.last[kind]) < logEvery {
		g.skipped[kind]++
		g.mu.Unlock()
		return
	}
	skipped := g.skipped[kind]
	g.last[kind], g.skipped[kind] = now, 0
	g.mu.Unlock()
	log.Warn(kind, append(args, "similar_since_last", skipped)...)
}
