package rtsp

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// Default limits. One machine must never lock out the room, so every slot
// a stranger can take has a share per address and a total.
const (
	// DefaultMaxReaders is the largest fan-out the benchmarks measure
	// (BenchmarkFanout's 64 readers); a Pi's uplink is full long before.
	DefaultMaxReaders = 64
	// DefaultMaxReadersPerAddr lets one machine run a few players (lsview,
	// VLC, ffplay, a recorder) without leaving room for a flood.
	DefaultMaxReadersPerAddr = 8

	// DefaultGhostTimeout is how long a UDP reader whose RTSP connections are all
	// closed keeps receiving without sending RTCP. Real clients (ffmpeg,
	// GStreamer, VLC, lsview) keep their connection open, so this only ends
	// readers that are gone: a crashed player, or one that closed its
	// connection to leave the stream flooding its network.
	DefaultGhostTimeout = 3 * time.Second

	// rtcpSilenceAfterReport is how long a reader without a connection may
	// fall silent once it has shown it sends receiver reports: RFC 3550
	// spaces them at most 5 s × 1.5 / 1.22 ≈ 6.2 s apart, so this allows two
	// to be lost.
	rtcpSilenceAfterReport = 20 * time.Second

	// ghostCheckEvery bounds how late a ghost is ended after its timeout.
	ghostCheckEvery = 500 * time.Millisecond

	// refuseGrace is how long a connection over its address's share may
	// stay to be told 503 on its first DESCRIBE or SETUP before it is closed.
	refuseGrace = 2 * time.Second

	// refuseLogEvery bounds the warnings about refusals: a flood refused
	// thousands of times a second logs once a while, with the count.
	refuseLogEvery = 10 * time.Second
)

// limits is the resolved configuration of a Server's shares.
type limits struct {
	readers, readersPerAddr, sessionsPerAddr, connsPerAddr int
	ghostTimeout                                           time.Duration
}

// conn is what the server keeps about an RTSP connection.
type conn struct {
	key      netip.Addr
	refused  bool                  // over its address's share: every request but OPTIONS is refused
	sessions map[*session]struct{} // the sessions it set up or played
}

// session is what the server keeps about an RTSP session.
type session struct {
	ss       *gortsplib.ServerSession
	key      netip.Addr
	admitted bool // counted in its address's sessions; a refused one is answered 503
	playing  bool
	udp      bool // unicast UDP: the only kind that outlives its connection
	conns    map[*conn]struct{}
	connGone time.Time // when its last connection closed; zero while one is open
	watch    ghostWatch
	// track is what the session set up, and reader where the fan-out
	// sends a unicast UDP reader's RTP; both set at SETUP and read by the
	// session's own callbacks only (the ledger's play and stop among them).
	track  *track
	reader *udpReader
}

// ghostWatch is what the reaper knows of a reader without a connection.
// Only the reaper's goroutine touches it.
type ghostWatch struct {
	since    time.Time // the connGone it watches from
	rtcp     uint64    // RTCP packets the session had counted at the last look
	lastRTCP time.Time // when that count last grew; zero: no RTCP since since
	ended    bool      // closed as a ghost; its session is on its way out
}

// look updates w with the session's RTCP count and tells whether the
// reader is a ghost. Until it sends RTCP after its connection closed it
// gets the short timeout; one that does is a client that plays without a
// connection, and keeps playing while its reports come.
func (w *ghostWatch) look(gone time.Time, rtcp uint64, now time.Time, timeout time.Duration) bool {
	switch {
	case !w.since.Equal(gone):
		*w = ghostWatch{since: gone, rtcp: rtcp}
	case rtcp > w.rtcp:
		w.rtcp, w.lastRTCP = rtcp, now
	}
	if w.lastRTCP.IsZero() {
		return now.Sub(gone) >= timeout
	}
	return now.Sub(w.lastRTCP) >= rtcpSilenceAfterReport
}

// ledger counts what each address holds. Every method takes its lock, so
// gortsplib's goroutines may call them concurrently.
type ledger struct {
	lim limits

	mu       sync.Mutex
	conns    map[netip.Addr]int
	sessions map[netip.Addr]int
	readers  map[netip.Addr]int
	total    int // readers
	live     map[*session]struct{}
}

func newLedger(lim limits) *ledger {
	return &ledger{lim: lim, conns: map[netip.Addr]int{}, sessions: map[netip.Addr]int{},
		readers: map[netip.Addr]int{}, live: map[*session]struct{}{}}
}

// connOpen counts a new connection. Up to the share it is served; up to
// twice the share it stays a moment to be refused with a status; beyond
// that, closeNow says to close it without a word, so a flood of
// connections costs only its accepts.
func (l *ledger) connOpen(key netip.Addr) (c *conn, closeNow bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.conns[key]
	if n >= 2*l.lim.connsPerAddr {
		return nil, true
	}
	l.conns[key] = n + 1
	return &conn{key: key, refused: n >= l.lim.connsPerAddr, sessions: map[*session]struct{}{}}, false
}

func (l *ledger) connClose(c *conn, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dec(l.conns, c.key)
	for s := range c.sessions {
		delete(s.conns, c)
		if len(s.conns) == 0 {
			s.connGone = now
		}
	}
}

// sessionOpen counts a new session; one over the share is kept uncounted
// and refused at its SETUP.
func (l *ledger) sessionOpen(ss *gortsplib.ServerSession, key netip.Addr) *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &session{ss: ss, key: key, conns: map[*conn]struct{}{}}
	if l.sessions[key] < l.lim.sessionsPerAddr {
		l.sessions[key]++
		s.admitted = true
	}
	l.live[s] = struct{}{}
	return s
}

// sessionClose forgets a session; it reports whether it was playing.
func (l *ledger) sessionClose(s *session) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.live, s)
	for c := range s.conns {
		delete(c.sessions, s)
	}
	if s.admitted {
		l.dec(l.sessions, s.key)
	}
	wasPlaying := s.playing
	l.stopLocked(s)
	return wasPlaying
}

// attach records that c spoke for s, so s is not a ghost while c is open.
func (l *ledger) attach(c *conn, s *session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c.sessions[s] = struct{}{}
	s.conns[c] = struct{}{}
	s.connGone = time.Time{}
}

// refusal names the limit that refuses a reader, if any.
type refusal struct {
	status int    // RTSP status code
	limit  string // for the log
}

// readerRefusal is the limit a new reader from key would break. The total
// protects the server's uplink, so breaking it is 453 Not Enough
// Bandwidth, as RFC 2326 §11.3.11 names a failed reservation; a full
// per-address share is the server declining this client for now, 503.
func (l *ledger) readerRefusal(key netip.Addr) (refusal, bool) {
	switch {
	case l.total >= l.lim.readers:
		return refusal{453, "readers"}, true
	case l.readers[key] >= l.lim.readersPerAddr:
		return refusal{503, "readers per address"}, true
	}
	return refusal{}, false
}

// checkReader tells, without reserving, whether a reader from key could
// play now: SETUP fails early rather than after the client set up.
func (l *ledger) checkReader(key netip.Addr) (refusal, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.readerRefusal(key)
}

// play takes a reader slot for s, counted in the total and the address's
// share whatever its track, and in its track's readers; a session already
// playing keeps its own. s must have been set up.
func (l *ledger) play(s *session, udp bool) (readers int, r refusal, refused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.playing {
		return l.total, refusal{}, false
	}
	if r, refused := l.readerRefusal(s.key); refused {
		return l.total, r, true
	}
	s.playing, s.udp = true, udp
	l.readers[s.key]++
	l.total++
	s.track.readers.Add(1)
	if s.reader == nil {
		s.track.libReaders.Add(1)
	}
	return l.total, refusal{}, false
}

// pause gives back s's reader slot.
func (l *ledger) pause(s *session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopLocked(s)
}

func (l *ledger) stopLocked(s *session) {
	if !s.playing {
		return
	}
	s.playing = false
	l.dec(l.readers, s.key)
	l.total--
	s.track.readers.Add(-1)
	if s.reader == nil {
		s.track.libReaders.Add(-1)
	}
}

func (l *ledger) dec(m map[netip.Addr]int, key netip.Addr) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// totalReaders is the number of sessions playing.
func (l *ledger) totalReaders() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// orphan is a UDP reader whose connections are all gone.
type orphan struct {
	s    *session
	gone time.Time
}

// orphans lists the UDP readers whose connections are all gone.
func (l *ledger) orphans() []orphan {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []orphan
	for s := range l.live {
		if s.playing && s.udp && !s.connGone.IsZero() {
			out = append(out, orphan{s, s.connGone})
		}
	}
	return out
}

// rateLog logs one line a while, with how many events it stands for.
type rateLog struct {
	every  time.Duration
	last   atomic.Int64 // unix nanoseconds
	events atomic.Uint64
}

// note counts an event and says whether to log now, with the events since
// the last line.
func (r *rateLog) note(now time.Time) (uint64, bool) {
	n := r.events.Add(1)
	last := r.last.Load()
	if now.UnixNano()-last < int64(r.every) || !r.last.CompareAndSwap(last, now.UnixNano()) {
		return 0, false
	}
	return n, true
}
