package chat

import (
	"net/netip"
	"sync"
	"time"
)

// Defaults of the per-address shares. Every slot a stranger can take has a
// share per address and a total, so one machine never locks out the room.
const (
	// DefaultMaxPerAddress bounds the joined clients from one address. It
	// is generous on purpose: a school's guest Wi-Fi may put a whole class
	// (or two) behind one NAT address, and they must all get in, while one
	// machine still can't take more than an eighth of the room.
	DefaultMaxPerAddress = 64
	// DefaultMaxPending bounds the connections that have not said hello
	// yet. A real client says hello within milliseconds of connecting, so
	// a small pool serves a whole class arriving at once; when it is full
	// the oldest silent connection of the address holding the most goes.
	DefaultMaxPending = 64
	// DefaultMaxPendingPerAddress: more than a class connecting at the
	// same instant behind one NAT address, far less than the pool.
	DefaultMaxPendingPerAddress = 16
	// DefaultHelloTimeout is how long a connection may stay silent before
	// its hello.
	DefaultHelloTimeout = 10 * time.Second

	// Wrong host keys: a few free tries (a typo), then each answer to a
	// host hello from that address waits twice as long as the last, up to
	// keyMaxDelay. The wait comes before the key is checked, so closing
	// early tells a guesser nothing; with at most
	// DefaultMaxPendingPerAddress waiting at once that is under one guess
	// a second per address.
	keyFreeTries  = 3
	keyFirstDelay = 250 * time.Millisecond
	keyMaxDelay   = 30 * time.Second
	keyForget     = 15 * time.Minute // quiet this long, an address starts afresh
	keyAddresses  = 4096             // addresses remembered; the stalest goes first

)

// Scopes of a server_full refusal: which limit was hit.
const (
	ScopeClients = "clients" // joined clients, all addresses
	ScopeAddress = "address" // joined clients from the refused client's address
	ScopePending = "pending" // connections that have not said hello yet
)

// holding is what one address holds. Guarded by Server.mu.
type holding struct {
	pending []*client // not joined yet, oldest first
	joined  int
}

// keyFails counts the wrong host keys from one address.
type keyFails struct {
	n    int
	last time.Time
}

// keyGuard slows host-key guessing per address.
type keyGuard struct {
	mu    sync.Mutex
	fails map[netip.Addr]*keyFails
}

// delay is how long a host hello from addr waits before its key is checked.
func (g *keyGuard) delay(addr netip.Addr, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.fails[addr]
	if f == nil || now.Sub(f.last) > keyForget || f.n < keyFreeTries {
		return 0
	}
	shift := min(f.n-keyFreeTries, 16)
	return min(keyFirstDelay<<shift, keyMaxDelay)
}

// failed records a wrong key from addr and returns how many there were.
func (g *keyGuard) failed(addr netip.Addr, now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fails == nil {
		g.fails = map[netip.Addr]*keyFails{}
	}
	f := g.fails[addr]
	if f == nil || now.Sub(f.last) > keyForget {
		if f == nil && len(g.fails) >= keyAddresses {
			g.forgetStalest()
		}
		f = &keyFails{}
		g.fails[addr] = f
	}
	f.n++
	f.last = now
	return f.n
}

// forgetStalest drops the address whose last failure is oldest. Called
// with g.mu held; the map is bounded, so the scan is.
func (g *keyGuard) forgetStalest() {
	var stalest netip.Addr
	var at time.Time
	for a, f := range g.fails {
		if at.IsZero() || f.last.Before(at) {
			stalest, at = a, f.last
		}
	}
	delete(g.fails, stalest)
}
