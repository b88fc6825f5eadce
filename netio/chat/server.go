package chat

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
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

	helloTimeout = 10 * time.Second
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
)

// Server is the chat service. Set the fields, Listen, then Serve.
type Server struct {
	Addr    string // host:port
	Store   *store.Store
	HostKey string
	Info    func() netio.Stream // what the welcome says of the stream
	// Announced, when set, is given the current announcements each time
	// they change, before anyone is told or acknowledged: what it keeps
	// (an export file) holds every acknowledged announcement. Its error is
	// logged; the change stands.
	Announced  func([]store.Announcement) error
	Logger     *slog.Logger
	MaxClients int
	Queue      int

	ln      net.Listener
	commits chan pending

	mu      sync.Mutex           // guards clients, names and the order of broadcasts
	clients map[*client]struct{} // joined
	all     map[*client]struct{} // connected, joined or not
	names   map[string]*client   // lower-cased
	conns   atomic.Int64
	viewers atomic.Int64
	wg      sync.WaitGroup
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
	if s.MaxClients == 0 {
		s.MaxClients = DefaultMaxClients
	}
	if s.Queue < 2*commitBatch {
		// One commit batch is broadcast at once: a smaller queue would cut
		// off healthy clients in a burst.
		s.Queue = DefaultQueue
	}
	if s.Info == nil {
		s.Info = func() netio.Stream { return netio.Stream{} }
	}
	s.clients = map[*client]struct{}{}
	s.all = map[*client]struct{}{}
	s.names = map[string]*client{}
	s.commits = make(chan pending, 4*commitBatch)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
		if s.conns.Add(1) > int64(s.MaxClients) {
			s.conns.Add(-1)
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			nc.Write(Encode(Msg{Type: TypeError, Code: CodeServerFull, Message: fmt.Sprintf("server full (%d clients)", s.MaxClients)}))
			nc.Close()
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			// The kernel would buffer megabytes for a client that stopped
			// reading; this keeps its share small so the queue decides.
			tc.SetWriteBuffer(socketBuffer)
		}
		c := &client{s: s, nc: nc, out: make(chan []byte, s.Queue), quit: make(chan struct{}),
			bucket: rateBurst, refill: time.Now()}
		s.mu.Lock()
		s.all[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(2)
		go c.readLoop(ctx)
		go c.writeLoop()
	}
	s.mu.Lock()
	for c := range s.all {
		c.kick("", "server shutting down")
	}
	s.mu.Unlock()
	s.wg.Wait()
	<-committed
	return nil
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
		if annChanged && s.Announced != nil {
			// Before the acks: an acknowledged announcement is exported too.
			if err := s.Announced(s.Store.Announcements()); err != nil {
				s.Logger.Warn("announcements not exported", "error", err)
			}
		}
		for _, p := range batch {
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
				p.from.send(Encode(Msg{Type: TypeAck, Ref: p.ref, ID: p.rec.ID, TS: p.rec.Time.Format(time.RFC3339Nano)}))
			}
		}
		s.mu.Unlock()
		if err != nil {
			s.Logger.Error("chat store", "error", err)
		}
	}
}

// maxHistoryBytes bounds the history a welcome or history answer carries,
// newest kept, so a server line stays well under MaxServerLine.
const maxHistoryBytes = 256 << 10

func historyMsgs(recs []store.Record) []Msg {
	out := []Msg{}
	size := 0
	for i := len(recs) - 1; i >= 0; i-- {
		size += len(recs[i].Text) + 128
		if size > maxHistoryBytes {
			recs = recs[i+1:]
			break
		}
	}
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
			return errorf(CodeForbidden, "wrong host key")
		}
		role = RoleHost
	default:
		return errorf(CodeBadRequest, "role %q: want viewer or host", hello.Role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.names[strings.ToLower(name)]; taken {
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
	w.Messages = historyMsgs(recs)
	for _, a := range s.Store.Announcements() {
		w.Announcements = append(w.Announcements, announcementMsg(a))
	}
	c.name, c.role = name, role
	s.names[strings.ToLower(name)] = c
	s.clients[c] = struct{}{}
	w.Present = s.present()
	c.send(Encode(w))
	s.viewers.Store(int64(len(s.clients)))
	s.presence("join", name, c)
	return nil
}

func keyMatches(want, got string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// freeName suggests name2, name3, … for a taken name. Called with s.mu held.
func (s *Server) freeName(name string) string {
	base := []rune(name)
	for i := 2; ; i++ {
		suffix := strconv.Itoa(i)
		b := base
		if len(b)+len(suffix) > MaxName {
			b = b[:MaxName-len(suffix)]
		}
		cand := string(b) + suffix
		if _, taken := s.names[strings.ToLower(cand)]; !taken {
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
	if _, ok := s.clients[c]; !ok {
		return
	}
	delete(s.clients, c)
	delete(s.names, strings.ToLower(c.name))
	s.viewers.Store(int64(len(s.clients)))
	s.presence("leave", c.name, nil)
}

// client is one connection.
type client struct {
	s    *Server
	nc   net.Conn
	out  chan []byte
	quit chan struct{}
	once sync.Once
	bye  []byte

	name, role string // set by join

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

func (c *client) readLoop(ctx context.Context) {
	defer c.s.wg.Done()
	defer c.s.conns.Add(-1)
	defer c.s.leave(c)
	defer c.kick("", "connection closed")
	r := bufio.NewReaderSize(c.nc, MaxLine)
	c.nc.SetReadDeadline(time.Now().Add(helloTimeout))
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
				c.kick(CodeTooLong, "too many oversize lines")
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
			if m.V != Version {
				c.refuse(errorf(CodeVersion, "protocol version %d, this server speaks %d", m.V, Version), m.Ref)
				c.kick(CodeVersion, "incompatible protocol version")
				return
			}
			if perr := c.s.join(c, m); perr != nil {
				c.send(Encode(Msg{Type: TypeError, Code: perr.Code, Message: perr.Message, Suggestion: perr.Suggestion, Ref: m.Ref}))
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
				c.kick(CodeRateLimited, "flooding")
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
		msgs := historyMsgs(recs)
		h := Msg{Type: TypeHistory, Ref: m.Ref, More: more || len(msgs) < len(recs), Messages: msgs}
		c.send(Encode(h))
	case TypeWho:
		c.s.mu.Lock()
		present := c.s.present()
		c.s.mu.Unlock()
		c.send(Encode(Msg{Type: TypeWho, Ref: m.Ref, Present: present, Count: len(present)}))
	default:
		return errorf(CodeUnknownType, "unknown message type %q", m.Type)
	}
	return nil
}

func (c *client) commit(ctx context.Context, rec *store.Record, ref string) *Error {
	select {
	case c.s.commits <- pending{rec: rec, from: c, ref: ref}:
		return nil
	case <-ctx.Done():
		return errorf(CodeInternal, "server shutting down")
	}
}
