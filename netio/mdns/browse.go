package mdns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
)

// Browse timings. zeroconf's browser reports each instance once and
// neither goodbyes nor expiry, so Browser asks again in rounds and drops
// what stops answering: a query a round while a picker is open, which is
// what a person waiting in front of the picker wants.
const (
	DefaultRound  = 700 * time.Millisecond
	DefaultMisses = 2 // rounds without an answer before an entry is gone
)

// Entry is one service found.
type Entry struct {
	Instance string            `json:"name"`
	Type     string            `json:"type"` // LsviewType or RTSPType
	Host     string            `json:"host"` // DNS name of the host record
	Addrs    []net.IP          `json:"addrs"`
	Port     int               `json:"port"` // chat port for _lsview._tcp, RTSP port for _rtsp._tcp
	TXT      map[string]string `json:"txt"`
}

// Key identifies an entry across rounds.
func (e Entry) Key() string { return e.Type + "/" + e.Instance }

// Addr is host:port on the first address, the one to connect to.
func (e Entry) Addr() string {
	if len(e.Addrs) == 0 {
		return ""
	}
	return net.JoinHostPort(e.Addrs[0].String(), strconv.Itoa(e.Port))
}

// Int reads a numeric TXT value, or 0.
func (e Entry) Int(key string) int {
	n, _ := strconv.Atoi(e.TXT[key])
	return n
}

// RTSPURL is where the entry's video plays.
func (e Entry) RTSPURL() string {
	if len(e.Addrs) == 0 {
		return ""
	}
	port, path := e.Port, e.TXT[KeyPath]
	if e.Type == LsviewType {
		port, path = e.Int(KeyRTSPPort), e.TXT[KeyRTSPPath]
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "rtsp://" + net.JoinHostPort(e.Addrs[0].String(), strconv.Itoa(port)) + path
}

// EventKind says what happened to an entry.
type EventKind int

// Event kinds.
const (
	Appeared EventKind = iota
	Changed            // its TXT, port or addresses changed
	Gone
)

func (k EventKind) String() string {
	return [...]string{"appeared", "changed", "gone"}[k]
}

// Event reports one change.
type Event struct {
	Kind  EventKind
	Entry Entry
}

// Browser finds _lsview._tcp and _rtsp._tcp services.
type Browser struct {
	Interfaces Interfaces
	Round      time.Duration // 0: DefaultRound
	Misses     int           // 0: DefaultMisses
	Logger     *slog.Logger
}

// Run browses until ctx ends, calling onEvent (from this goroutine only)
// as services appear, change and go. It returns an error only when it
// can't browse at all, e.g. an interface that doesn't exist.
func (b *Browser) Run(ctx context.Context, onEvent func(Event)) error {
	if b.Interfaces.Off {
		<-ctx.Done()
		return nil
	}
	ifs, err := b.Interfaces.Resolve()
	if err != nil {
		return fmt.Errorf("mdns browse: %w", err)
	}
	round, misses := b.Round, b.Misses
	if round <= 0 {
		round = DefaultRound
	}
	if misses <= 0 {
		misses = DefaultMisses
	}
	log := b.Logger
	if log == nil {
		log = slog.Default()
	}
	type known struct {
		e      Entry
		missed int
		fresh  bool // answered in this round
	}
	seen := map[string]*known{}
	for ctx.Err() == nil {
		found := make(chan Entry, 16)
		errc := make(chan error, 1)
		go func() { errc <- browseRound(ctx, ifs, round, found) }()
		// Entries are reported as their answers arrive, so a new service
		// shows at once; what didn't answer is judged when the round ends.
		for e := range found {
			old, ok := seen[e.Key()]
			switch {
			case !ok:
				seen[e.Key()] = &known{e: e, fresh: true}
				onEvent(Event{Kind: Appeared, Entry: e})
			case !sameEntry(old.e, e):
				old.e, old.missed, old.fresh = e, 0, true
				onEvent(Event{Kind: Changed, Entry: e})
			default:
				old.missed, old.fresh = 0, true
			}
		}
		if err := <-errc; err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		for k, old := range seen {
			if old.fresh {
				old.fresh = false
				continue
			}
			if old.missed++; old.missed >= misses {
				delete(seen, k)
				onEvent(Event{Kind: Gone, Entry: old.e})
			}
		}
	}
	return nil
}

// browseRound queries both service types once and sends the answers that
// arrive within d to found, which it closes when done.
func browseRound(ctx context.Context, ifs []net.Interface, d time.Duration, found chan<- Entry) error {
	defer close(found)
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, typ := range []string{LsviewType, RTSPType} {
		r, err := newResolver(ifs)
		if err != nil {
			return fmt.Errorf("mdns browse on %s: %w", names(ifs), err)
		}
		ch := make(chan *zeroconf.ServiceEntry)
		if err := r.Browse(ctx, typ, domain, ch); err != nil {
			return fmt.Errorf("mdns browse %s on %s: %w", typ, names(ifs), err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// zeroconf closes ch when ctx ends; drain it until then.
			for se := range ch {
				found <- fromZeroconf(se, typ)
			}
		}()
	}
	return nil
}

// newResolver listens on IPv4 and IPv6, or IPv4 alone where the interfaces
// have no IPv6.
func newResolver(ifs []net.Interface) (*zeroconf.Resolver, error) {
	r, err := zeroconf.NewResolver(zeroconf.SelectIfaces(ifs))
	if err == nil {
		return r, nil
	}
	return zeroconf.NewResolver(zeroconf.SelectIfaces(ifs), zeroconf.SelectIPTraffic(zeroconf.IPv4))
}

func fromZeroconf(se *zeroconf.ServiceEntry, typ string) Entry {
	e := Entry{
		Instance: unescapeInstance(se.Instance),
		Type:     typ,
		Host:     strings.TrimSuffix(se.HostName, "."),
		Port:     se.Port,
		TXT:      ParseTXT(se.Text),
	}
	e.Addrs = append(e.Addrs, se.AddrIPv4...)
	e.Addrs = append(e.Addrs, se.AddrIPv6...)
	slices.SortStableFunc(e.Addrs, func(a, b net.IP) int { return strings.Compare(a.String(), b.String()) })
	e.Addrs = slices.CompactFunc(e.Addrs, net.IP.Equal)
	return e
}

// unescapeInstance undoes the DNS presentation escapes (\032 for a space,
// \. for a dot) that zeroconf leaves in instance names.
func unescapeInstance(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n, err := strconv.Atoi(s[i+1 : i+4]); err == nil && n < 256 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ParseTXT reads key=value strings (RFC 6763 section 6.3): keys are
// case-insensitive, the first of a repeated key wins, a key without = is a
// boolean (value ""), and an empty key is ignored.
func ParseTXT(txt []string) map[string]string {
	m := make(map[string]string, len(txt))
	for _, s := range txt {
		k, v, _ := strings.Cut(s, "=")
		k = strings.ToLower(k)
		if k == "" {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

func sameEntry(a, b Entry) bool {
	if a.Host != b.Host || a.Port != b.Port || len(a.Addrs) != len(b.Addrs) || len(a.TXT) != len(b.TXT) {
		return false
	}
	for i := range a.Addrs {
		if !a.Addrs[i].Equal(b.Addrs[i]) {
			return false
		}
	}
	for k, v := range a.TXT {
		if w, ok := b.TXT[k]; !ok || w != v {
			return false
		}
	}
	return true
}
