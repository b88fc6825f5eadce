package chat

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/netio/share"
)

// Defaults of a Server.
const (
	DefaultMaxClients = 512
	// DefaultQueue bounds what waits for one client: room for a burst of
	// a thousand messages (24 KiB of slots). A client that lets it fill is
	// cut off (slow_consumer) rather than delaying anyone else.
	DefaultQueue = 1024
	// HistoryOnJoin is how many past messages a welcome carries.
	HistoryOnJoin = 50
	// MaxHistoryPage bounds one history answer.
	MaxHistoryPage = 200

	// PingEvery and DeadAfter: a quiet peer is pinged; one that sends
	// nothing, not even a pong, for DeadAfter is dropped.
	PingEvery    = 5 * time.Second
	DeadAfter    = 15 * time.Second
	writeTimeout = 10 * time.Second

	rateEvery   = 100 * time.Millisecond // one message per 100 ms on average
	rateBurst   = 20
	floodStrike = 50 // refused messages before a flooder is cut off
	longStrike  = 3  // oversize lines before the client is cut off
	commitBatch = 256
	// socketBuffer is the kernel send buffer of a client connection.
	socketBuffer = 64 << 10
	// settleTimeout bounds how long a client being cut off waits for the
	// acks of what it had sent before.
	settleTimeout = 5 * time.Second
)

// Server is the chat service. Set the fields, Listen, then Serve.
type Server struct {
	Addr    string // host:port
	Store   *store.Store
	HostKey string
	Info    func() netio.Stream // what the welcome says of the stream
	// Announced, when set, is given the current announcements each time
	// they change, before anyone is told or acknowledged: what it keeps
	// (an export file) holds every acknowledged announcement. When it
	// fails the change stands (it is in the store, and everyone is told)
	// but its author gets error not_exported instead of an ack.
	Announced func([]store.Announcement) error
	// Camera, when set, lets clients read the picture's settings and the
	// host change them.
	Camera Camera
	Logger *slog.Logger
	// Limits; zero means the default. MaxClients and MaxPerAddress count
	// joined clients, MaxPending and MaxPendingPerAddress connections that
	// have not said hello within HelloTimeout yet.
	MaxClients           int
	MaxPerAddress        int
	MaxPending           int
	MaxPendingPerAddress int
	HelloTimeout         time.Duration
	Queue                int

	ln      net.Listener
	commits chan pending
	ctx     context.Context // Serve's: ends every client's read loop

	mu       sync.Mutex              // guards serving, clients, all, names, shares, npending and the order of broadcasts
	serving  bool                    // between Serve's start and its goodbyes: connections are taken
	clients  map[*client]struct{}    // joined
	all      map[*client]struct{}    // connected, joined or not
	names    map[string]*client      // by NameKey: look-alikes are one name
	shares   map[netip.Addr]*holding // by share.Key
	npending int
	viewers  atomic.Int64
	keys     keyGuard
	gate     share.LogGate
	wg       sync.WaitGroup
}

type pending struct {
	rec  *store.Record
	from *client
	ref  string
}

// Listen opens the port: a busy port is reported here.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("chat server: %w", err)
	}
	s.ln = ln
	return nil
}

// ListenAddr returns the address the server listens on.
func (s *Server) ListenAddr() net.Addr { return s.ln.Addr() }

// Viewers is the number of clients in the chat now.
func (s *Server) Viewers() int { return int(s.viewers.Load()) }

// Serve accepts clients until ctx ends, then says bye to each and returns.
func (s *Server) Serve(ctx context.Context) error {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	setDefault(&s.MaxClients, DefaultMaxClients)
	setDefault(&s.MaxPerAddress, DefaultMaxPerAddress)
	setDefault(&s.MaxPending, DefaultMaxPending)
	setDefault(&s.MaxPendingPerAddress, DefaultMaxPendingPerAddress)
	setDefault(&s.HelloTimeout, DefaultHelloTimeout)
	if s.Queue < 2*commitBatch {
		// One commit batch is broadcast at once: a smaller queue would cut
		// off healthy clients in a burst.
		s.Queue = DefaultQueue
	}
	if s.Info == nil {
		s.Info = func() netio.Stream { return netio.Stream{} }
	}
	s.commits = make(chan pending, 4*commitBatch)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.clients = map[*client]struct{}{}
	s.all = map[*client]struct{}{}
	s.names = map[string]*client{}
	s.shares = map[netip.Addr]*holding{}
	s.ctx, s.serving = ctx, true
	s.mu.Unlock()
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		s.commitLoop(ctx)
	}()
	go func() {
		<-ctx.Done()
		s.ln.Close()
	}()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.Logger.Error("chat accept", "error", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			// The kernel would buffer megabytes for a client that stopped
			// reading; this keeps its share small so the queue decides.
			tc.SetWriteBuffer(socketBuffer)
		}
		s.start(nc)
	}
	s.mu.Lock()
	s.serving = false
	for c := range s.all {
		c.kick("", "server shutting down")
	}
	s.mu.Unlock()
	s.wg.Wait()
	<-committed
	return nil
}

// ErrNotServing is ServeConn's answer when Serve is not running.
var ErrNotServing = errors.New("chat server not serving")

// ServeConn serves one client connection accepted elsewhere (the web
// server's WebSocket bridge) in the same hub as the TCP clients: same
// names, limits, history and order. nc.RemoteAddr is the address its
// per-address limits count; nc.Read returns the client's lines and each
// nc.Write carries whole or partial lines, as on TCP. ServeConn returns
// once the connection is closed, by the client, by the server or because
// ctx ended. It may be called only while Serve runs; otherwise it closes
// nc and returns ErrNotServing.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) error {
	c, err := s.start(nc)
	if c == nil {
		return err
	}
	select {
	case <-c.closed:
	case <-ctx.Done():
		c.kick("", "server shutting down")
		<-c.closed
	}
	return nil
}

// start admits nc and runs its loops, or tells it why not and closes it
// (then it returns no client).
func (s *Server) start(nc net.Conn) (*client, error) {
	c, refusal := s.admit(nc)
	if c != nil {
		go c.readLoop(s.ctx)
		go c.writeLoop()
		return c, nil
	}
	if refusal.Type == "" {
		nc.Close()
		return nil, ErrNotServing
	}
	// A fresh socket's send buffer is empty: this write never waits.
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(Encode(refusal))
	nc.Close()
	return nil, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// admit takes a new connection into the pool of those that have not said
// hello, or says why not (an empty Msg when Serve is not running). A full
// pool makes room by dropping the oldest silent connection of the address
// holding the most: a real client says hello at once, so whoever waits
// longest is the likeliest squatter. The caller runs the client's two
// loops, counted here, under the lock that tells Serve's end from them.
func (s *Server) admit(nc net.Conn) (*client, Msg) {
	addr := share.Key(nc.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.serving {
		return nil, Msg{}
	}
	sh := s.shares[addr]
	if sh != nil && len(sh.pending) >= s.MaxPendingPerAddress {
		s.gate.Warn(s.Logger, "chat limit: connections without hello from one address", "address", addr, "limit", s.MaxPendingPerAddress)
		return nil, Msg{Type: TypeError, Code: CodeServerFull, Scope: ScopePending,
			Message: fmt.Sprintf("%d connections from your address have not said hello yet", len(sh.pending))}
	}
	if s.npending >= s.MaxPending {
		s.evictPending()
	}
	if sh == nil {
		sh = &holding{}
		s.shares[addr] = sh
	}
	c := &client{s: s, nc: nc, addr: addr, out: make(chan []byte, s.Queue), quit: make(chan struct{}),
		closed: make(chan struct{}), settled: make(chan struct{}, 1), bucket: rateBurst, refill: time.Now(), pending: true}
	s.wg.Add(2)
	sh.pending = append(sh.pending, c)
	s.npending++
	s.all[c] = struct{}{}
	return c, Msg{}
}

// evictPending drops the oldest connection without hello of the address
// holding the most. Called with s.mu held.
func (s *Server) evictPending() {
	var most *holding
	var addr netip.Addr
	for a, sh := range s.shares {
		if most == nil || len(sh.pending) > len(most.pending) {
			most, addr = sh, a
		}
	}
	if most == nil || len(most.pending) == 0 {
		return
	}
	victim := most.pending[0]
	s.unpend(victim)
	victim.kick(CodeServerFull, "too many connections waiting for their hello")
	s.gate.Warn(s.Logger, "chat limit: connections without hello, oldest dropped", "address", addr,
		"limit", s.MaxPending)
}

// unpend takes c out of the pool without hello, if it is there. Called with
// s.mu held.
func (s *Server) unpend(c *client) {
	if !c.pending {
		return
	}
	c.pending = false
	s.npending--
	sh := s.shares[c.addr]
	for i, p := range sh.pending {
		if p == c {
			sh.pending = append(sh.pending[:i], sh.pending[i+1:]...)
			break
		}
	}
	s.dropIdle(c.addr)
}

// dropIdle forgets an address that holds nothing. Called with s.mu held.
func (s *Server) dropIdle(addr netip.Addr) {
	if sh := s.shares[addr]; sh != nil && sh.joined == 0 && len(sh.pending) == 0 {
		delete(s.shares, addr)
	}
}

// commitLoop stores messages in batches, one fsync each, then tells
// everyone in the order the store gave them.
func (s *Server) commitLoop(ctx context.Context) {
	for {
		var batch []pending
		select {
		case <-ctx.Done():
			return
		case p := <-s.commits:
			batch = append(batch, p)
		}
	drain:
		for len(batch) < commitBatch {
			select {
			case p := <-s.commits:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		recs := make([]*store.Record, len(batch))
		for i, p := range batch {
			recs[i] = p.rec
		}
		s.mu.Lock()
		annChanged, err := s.Store.Append(recs)
		var exportErr error
		if annChanged && s.Announced != nil {
			// Before the acks: an acknowledged announcement is exported too.
			// A failed export keeps the change: it is committed to the
			// store, whose state every welcome shows, and undoing it would
			// need another write to what is likely the same full disk.
			// Its author is told instead of acknowledged.
			if exportErr = s.Announced(s.Store.Announcements()); exportErr != nil {
				s.Logger.Warn("announcements not exported", "error", exportErr)
			}
		}
		for _, p := range batch {
			ts := p.rec.Time.Format(time.RFC3339Nano)
			switch {
			case err != nil:
				p.from.send(Encode(Msg{Type: TypeError, Code: CodeInternal, Ref: p.ref, Message: "not stored: " + err.Error()}))
			case p.rec.Err != nil:
				p.from.send(Encode(Msg{Type: TypeError, Code: CodeNotFound, Ref: p.ref, Message: p.rec.Err.Error()}))
			default:
				line := Encode(recordMsg(*p.rec))
				for c := range s.clients {
					c.send(line)
				}
				if exportErr != nil && p.rec.Kind == store.KindAnnouncement {
					p.from.send(Encode(Msg{Type: TypeError, Code: CodeNotExported, Ref: p.ref, ID: p.rec.ID, TS: ts,
						Message: "stored and shown to everyone, but the announcements file was not written: " + exportErr.Error()}))
				} else {
					p.from.send(Encode(Msg{Type: TypeAck, Ref: p.ref, ID: p.rec.ID, TS: ts}))
				}
			}
			p.from.answered()
		}
		s.mu.Unlock()
		if err != nil {
			s.Logger.Error("chat store", "error", err)
		}
	}
}

// Bounds of what a welcome or a history answer carries, in bytes as they
// go on the wire: JSON escapes '<', '>' and '&' as six bytes each, so text
// is measured encoded, never raw. Half of MaxServerLine leaves room for
// the rest of a welcome (the names of everyone present).
const (
	maxPageBytes         = MaxServerLine / 2
	maxAnnouncementBytes = MaxServerLine / 8
)

// fitNewest keeps the newest of msgs (oldest first) whose encoded size adds
// up to at most budget bytes, and says whether any were left out.
func fitNewest(msgs []Msg, budget int) ([]Msg, bool) {
	size := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		size += len(Encode(msgs[i])) // its newline stands for the comma
		if size > budget {
			return msgs[i+1:], true
		}
	}
	return msgs, false
}

func recordMsgs(recs []store.Record) []Msg {
	out := make([]Msg, 0, len(recs))
	for _, r := range recs {
		out = append(out, recordMsg(r))
	}
	return out
}

// recordMsg is how a stored record travels.
func recordMsg(r store.Record) Msg {
	m := Msg{ID: r.ID, From: r.From, Role: r.Role, Text: r.Text, TS: r.Time.Format(time.RFC3339Nano)}
	if r.Kind == store.KindAnnouncement {
		m.Type, m.Op = TypeAnnouncement, r.Op
		if r.Op != store.OpPost {
			m.Target = r.Target
		}
		return m
	}
	m.Type = TypeChat
	return m
}

func announcementMsg(a store.Announcement) Msg {
	m := Msg{Type: TypeAnnouncement, Op: store.OpPost, ID: a.ID, From: a.From, Role: RoleHost, Text: a.Text,
		TS: a.Posted.Format(time.RFC3339Nano)}
	if a.Edited != nil {
		m.Edited = a.Edited.Format(time.RFC3339Nano)
	}
	return m
}

// join registers c under name and queues its welcome, all under the lock
// that orders broadcasts, so c sees each message once: in the history of
// its welcome or live after it.
func (s *Server) join(c *client, hello Msg) *Error {
	name, perr := CleanName(hello.Name)
	if perr != nil {
		return perr
	}
	role := RoleViewer
	switch hello.Role {
	case "", RoleViewer:
	case RoleHost:
		if !keyMatches(s.HostKey, hello.Key) {
			n := s.keys.failed(c.addr, time.Now())
			s.gate.Warn(s.Logger, "chat: wrong host key", "address", c.addr, "failures", n)
			return errorf(CodeForbidden, "wrong host key")
		}
		role = RoleHost
	default:
		return errorf(CodeBadRequest, "role %q: want viewer or host", hello.Role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shares[c.addr]
	switch {
	case !c.pending:
		return errorf(CodeServerFull, "too many connections waiting for their hello")
	case len(s.clients) >= s.MaxClients:
		s.gate.Warn(s.Logger, "chat limit: clients", "address", c.addr, "limit", s.MaxClients)
		e := errorf(CodeServerFull, "server full (%d clients)", s.MaxClients)
		e.Scope = ScopeClients
		return e
	case sh.joined >= s.MaxPerAddress:
		s.gate.Warn(s.Logger, "chat limit: clients from one address", "address", c.addr, "limit", s.MaxPerAddress)
		e := errorf(CodeServerFull, "%d clients from your address are here already", sh.joined)
		e.Scope = ScopeAddress
		return e
	}
	if _, taken := s.names[NameKey(name)]; taken {
		e := errorf(CodeNameTaken, "%q is already here", name)
		e.Suggestion = s.freeName(name)
		return e
	}
	limit := HistoryOnJoin
	if hello.Since > 0 {
		limit = MaxHistoryPage
	}
	recs, err := s.Store.History(hello.Since, limit)
	if err != nil {
		return errorf(CodeInternal, "history: %v", err)
	}
	w := Msg{Type: TypeWelcome, V: Version, You: name, Role: role, Count: len(s.names) + 1}
	info := s.Info()
	w.Stream = &info
	var ann []Msg
	for _, a := range s.Store.Announcements() {
		ann = append(ann, announcementMsg(a))
	}
	var cut bool
	if w.Announcements, cut = fitNewest(ann, maxAnnouncementBytes); cut {
		s.gate.Warn(s.Logger, "chat: announcements too long for a welcome, oldest left out", "count", len(ann))
	}
	c.name, c.role, c.v = name, role, hello.V
	sh.joined++ // before unpend, which forgets an address holding nothing
	s.unpend(c)
	c.joined = true
	s.names[NameKey(name)] = c
	s.clients[c] = struct{}{}
	w.Present = s.present()
	// Whatever the rest weighs, the messages get what is left of the page,
	// so the line stays under MaxServerLine.
	w.Messages, cut = fitNewest(recordMsgs(recs), maxPageBytes-len(Encode(w)))
	// More tells the client older messages (after its since) were left
	// out: it pages back with history.
	w.More = cut || len(recs) == limit
	c.send(Encode(w))
	s.viewers.Store(int64(len(s.clients)))
	s.presence("join", name, c)
	return nil
}

func keyMatches(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// freeName suggests name2, name3, … for a taken name: one whose NameKey is
// free, so the suggestion isn't a twin of someone either, and that
// CleanName accepts (shortening may cut an emoji sequence). Called with s.mu
// held.
func (s *Server) freeName(name string) string {
	base := []rune(name)
	for i := 2; ; i++ {
		suffix := strconv.Itoa(i)
		b := base
		if len(b)+len(suffix) > MaxName {
			b = b[:MaxName-len(suffix)]
		}
		cand := string(b) + suffix
		if _, err := CleanName(cand); err != nil {
			continue
		}
		if _, taken := s.names[NameKey(cand)]; !taken {
			return cand
		}
	}
}

// present lists who is here, sorted. Called with s.mu held.
func (s *Server) present() []string {
	out := make([]string, 0, len(s.names))
	for c := range s.clients {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// presence tells everyone but skip who came or went. Called with s.mu held.
func (s *Server) presence(event, name string, skip *client) {
	line := Encode(Msg{Type: TypePresence, Event: event, Name: name, Count: len(s.clients)})
	for c := range s.clients {
		if c != skip {
			c.send(line)
		}
	}
}

func (s *Server) leave(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.all, c)
	s.unpend(c)
	if !c.joined {
		return
	}
	c.joined = false
	s.shares[c.addr].joined--
	s.dropIdle(c.addr)
	delete(s.clients, c)
	delete(s.names, NameKey(c.name))
	s.viewers.Store(int64(len(s.clients)))
	s.presence("leave", c.name, nil)
}

// client is one connection.
type client struct {
	s    *Server
	nc   net.Conn
	out  chan []byte
	quit chan struct{}
	// closed is closed once the connection is: its write loop is done.
	closed chan struct{}
	once   sync.Once
	bye    []byte

	addr            netip.Addr // share.Key of its address
	pending, joined bool       // guarded by s.mu
	name, role      string     // set by join
	v               int        // protocol version of its hello

	// inflight counts its messages waiting for their commit; settled is
	// signalled when that falls to zero, so a client being cut off gets
	// its acks before the bye.
	inflight atomic.Int64
	settled  chan struct{}

	bucket  float64 // rate limit tokens
	refill  time.Time
	strikes int
}

// send queues line without waiting; a full queue cuts the client off.
func (c *client) send(line []byte) {
	select {
	case c.out <- line:
	default:
		c.kick(CodeSlow, fmt.Sprintf("too slow: %d messages waiting", cap(c.out)))
	}
}

// kick closes the connection after a bye saying why.
func (c *client) kick(code, reason string) {
	c.once.Do(func() {
		c.bye = Encode(Msg{Type: TypeBye, Code: code, Reason: reason})
		close(c.quit)
	})
}

func (c *client) writeLoop() {
	defer c.s.wg.Done()
	defer close(c.closed)
	w := bufio.NewWriterSize(c.nc, 4<<10)
	ping := time.NewTicker(PingEvery)
	defer ping.Stop()
	lastWrite := time.Now()
	write := func(b []byte) bool {
		c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		lastWrite = time.Now()
		return len(c.out) > 0 || w.Flush() == nil
	}
	for {
		select {
		case b := <-c.out:
			if !write(b) {
				c.kick("", "write failed")
			}
		case <-ping.C:
			if time.Since(lastWrite) >= PingEvery && !write(Encode(Msg{Type: TypePing})) {
				c.kick("", "write failed")
			}
		case <-c.quit:
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			// What was queued before the bye (an error saying why) goes first.
			for drained := false; !drained; {
				select {
				case b := <-c.out:
					w.Write(b)
				default:
					drained = true
				}
			}
			w.Write(c.bye)
			w.Flush()
			c.nc.Close()
			return
		}
	}
}

// answered notes one of its messages committed (or refused) and answered.
func (c *client) answered() {
	if c.inflight.Add(-1) == 0 {
		select {
		case c.settled <- struct{}{}:
		default:
		}
	}
}

// settle waits, within settleTimeout, until every message c sent has been
// answered, so the acks go out before a bye.
func (c *client) settle(ctx context.Context) {
	t := time.NewTimer(settleTimeout)
	defer t.Stop()
	for c.inflight.Load() > 0 {
		select {
		case <-c.settled:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// cutOff says bye after the answers to what c sent before.
func (c *client) cutOff(ctx context.Context, code, reason string) {
	c.settle(ctx)
	c.kick(code, reason)
}

// pause waits d, unless the server stops or the client goes first.
func (c *client) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-c.quit:
	}
	return false
}

func (c *client) readLoop(ctx context.Context) {
	defer c.s.wg.Done()
	defer c.s.leave(c)
	defer c.kick("", "connection closed")
	r := bufio.NewReaderSize(c.nc, MaxLine)
	c.nc.SetReadDeadline(time.Now().Add(c.s.HelloTimeout))
	joined := false
	long := 0
	for ctx.Err() == nil {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long++
			c.send(Encode(Msg{Type: TypeError, Code: CodeTooLong, Message: fmt.Sprintf("line longer than %d bytes", MaxLine)}))
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if long >= longStrike {
				c.cutOff(ctx, CodeTooLong, "too many oversize lines")
				return
			}
			continue
		}
		if err != nil {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(DeadAfter))
		m, perr := Decode(line[:len(line)-1])
		if perr == nil && !joined && m.Type != TypeHello {
			perr = errorf(CodeBadRequest, "say hello first")
		}
		if perr != nil {
			c.refuse(perr, m.Ref)
			if !joined {
				c.kick(perr.Code, perr.Message)
				return
			}
			continue
		}
		if m.Type == TypeHello {
			if joined {
				c.refuse(errorf(CodeBadRequest, "hello twice"), m.Ref)
				continue
			}
			if m.V < MinVersion || m.V > Version {
				c.refuse(errorf(CodeVersion, "protocol version %d, this server speaks %d to %d", m.V, MinVersion, Version), m.Ref)
				c.kick(CodeVersion, "incompatible protocol version")
				return
			}
			if m.Role == RoleHost {
				// The wait comes before the key is looked at: a guesser
				// learns nothing by hanging up early.
				if d := c.s.keys.delay(c.addr, time.Now()); d > 0 && !c.pause(ctx, d) {
					return
				}
			}
			if perr := c.s.join(c, m); perr != nil {
				c.send(Encode(Msg{Type: TypeError, Code: perr.Code, Message: perr.Message, Suggestion: perr.Suggestion,
					Scope: perr.Scope, Ref: m.Ref}))
				c.kick(perr.Code, perr.Message)
				return
			}
			joined = true
			continue
		}
		if !c.allow() {
			c.strikes++
			c.refuse(errorf(CodeRateLimited, "slow down: at most %d messages a second", time.Second/rateEvery), m.Ref)
			if c.strikes >= floodStrike {
				c.cutOff(ctx, CodeRateLimited, "flooding")
				return
			}
			continue
		}
		if perr := c.handle(ctx, m); perr != nil {
			c.refuse(perr, m.Ref)
		}
	}
}

func (c *client) refuse(e *Error, ref string) {
	c.send(Encode(Msg{Type: TypeError, Code: e.Code, Message: e.Message, Ref: ref}))
}

// allow takes a token from the client's bucket.
func (c *client) allow() bool {
	now := time.Now()
	c.bucket = min(rateBurst, c.bucket+float64(now.Sub(c.refill))/float64(rateEvery))
	c.refill = now
	if c.bucket < 1 {
		return false
	}
	c.bucket--
	return true
}

func (c *client) handle(ctx context.Context, m Msg) *Error {
	switch m.Type {
	case TypePing:
		c.send(Encode(Msg{Type: TypePong}))
	case TypePong:
	case TypeChat:
		if e := CheckText(m.Text); e != nil {
			return e
		}
		return c.commit(ctx, &store.Record{Kind: store.KindChat, From: c.name, Role: c.role, Text: m.Text}, m.Ref)
	case TypeAnnounce:
		if c.role != RoleHost {
			return errorf(CodeForbidden, "only the host posts announcements")
		}
		rec := &store.Record{Kind: store.KindAnnouncement, Op: m.Op, From: c.name, Role: c.role, Text: m.Text}
		switch m.Op {
		case store.OpPost, store.OpEdit:
			if e := CheckText(m.Text); e != nil {
				return e
			}
		case store.OpDelete:
			rec.Text = ""
		default:
			return errorf(CodeBadRequest, "announce op %q: want post, edit or delete", m.Op)
		}
		if m.Op != store.OpPost {
			if m.ID == 0 {
				return errorf(CodeBadRequest, "announce %s needs the announcement's id", m.Op)
			}
			rec.Target = m.ID
		}
		return c.commit(ctx, rec, m.Ref)
	case TypeHistory:
		limit := m.Limit
		if limit <= 0 || limit > MaxHistoryPage {
			limit = MaxHistoryPage
		}
		before := m.Before
		if before == 0 {
			before = ^uint64(0)
		}
		recs, more, err := c.s.Store.Before(before, limit)
		if err != nil {
			return errorf(CodeInternal, "history: %v", err)
		}
		h := Msg{Type: TypeHistory, Ref: m.Ref}
		var cut bool
		h.Messages, cut = fitNewest(recordMsgs(recs), maxPageBytes-len(Encode(h)))
		h.More = more || cut
		c.send(Encode(h))
	case TypeWho:
		c.s.mu.Lock()
		present := c.s.present()
		c.s.mu.Unlock()
		c.send(Encode(Msg{Type: TypeWho, Ref: m.Ref, Present: present, Count: len(present)}))
	case TypeControls:
		return c.controls(m)
	case TypeControl:
		return c.control(m)
	default:
		return errorf(CodeUnknownType, "unknown message type %q", m.Type)
	}
	return nil
}

func (c *client) commit(ctx context.Context, rec *store.Record, ref string) *Error {
	c.inflight.Add(1)
	select {
	case c.s.commits <- pending{rec: rec, from: c, ref: ref}:
		return nil
	case <-ctx.Done():
		c.answered()
		return errorf(CodeInternal, "server shutting down")
	}
}
