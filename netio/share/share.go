// Package share is how every service divides what strangers can take:
// slots counted per address and in total, so one machine can never lock
// out the room, and warnings about refusals that an attack can't turn into
// a flood of log lines.
package share

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Key is the address a share is kept for: an IPv4 address (IPv4-mapped
// IPv6 counts as IPv4), or the /64 of an IPv6 address, since one IPv6 host
// may use any address in its /64 (SLAAC privacy addresses). An address
// that is not IP gives the zero Addr, one share for all such clients.
func Key(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if a != nil {
			if ap, err := netip.ParseAddrPort(a.String()); err == nil {
				ip = ap.Addr()
			}
		}
	}
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip
	}
	return netip.PrefixFrom(ip.WithZone(""), 64).Masked().Addr()
}

// Caps counts slots of one kind per Key and in total. The zero value
// refuses everything: set Total and PerKey.
type Caps struct {
	Kind          string // what a slot is, for errors: "video websocket"
	Total, PerKey int

	mu sync.Mutex
	n  int
	by map[netip.Addr]int
}

// Take reserves a slot for key, or says which cap is full.
func (c *Caps) Take(key netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.by[key] >= c.PerKey:
		return fmt.Errorf("%d %s connections from your address already", c.by[key], c.Kind)
	case c.n >= c.Total:
		return fmt.Errorf("server full: %d %s connections", c.n, c.Kind)
	}
	if c.by == nil {
		c.by = map[netip.Addr]int{}
	}
	c.n++
	c.by[key]++
	return nil
}

// Release gives back a slot Take reserved for key.
func (c *Caps) Release(key netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.by[key]--; c.by[key] <= 0 {
		delete(c.by, key)
	}
}

// LogEvery is how often a LogGate lets a line of one kind through.
const LogEvery = 10 * time.Second

// LogGate lets one warning per kind through every LogEvery and counts the
// rest, so refusals under attack can't flood the journal. The zero value
// is ready.
type LogGate struct {
	mu      sync.Mutex
	last    map[string]time.Time
	skipped map[string]int
}

// Warn logs kind with args at WARN unless a line of the same kind went out
// less than LogEvery ago; the line says how many it stands for.
func (g *LogGate) Warn(log *slog.Logger, kind string, args ...any) {
	g.mu.Lock()
	if g.last == nil {
		g.last, g.skipped = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	if now.Sub(g.last[kind]) < LogEvery {
		g.skipped[kind]++
		g.mu.Unlock()
		return
	}
	skipped := g.skipped[kind]
	g.last[kind], g.skipped[kind] = now, 0
	g.mu.Unlock()
	log.Warn(kind, append(args, "similar_since_last", skipped)...)
}
