package viewer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// ChatUpdate is one change to what a chat shows, in order.
type ChatUpdate struct {
	Lines         []ChatLine
	Announcements map[uint64]string // the whole current set, when it changed; nil otherwise
	Status        string            // the chat's state, when it changed
	Viewers       int               // people in the chat; -1: unchanged
	// Role is ours as the last welcome said (chat.RoleHost or
	// chat.RoleViewer), when it changed.
	Role string
	// Refused says why the chat turned us away, and how to fix it, when
	// that happened; the chat waits for Rejoin.
	Refused string
	// Queue: lines left the outgoing queue (delivered or refused); what
	// is still waiting is Session.Pending.
	Queue bool
	// Controls is the broadcaster's whole list of settings when it was
	// read (after each join) or changed; nil otherwise. Session.Controls
	// has the latest.
	Controls []chat.Control
	// ControlsBy is the host who changed them, and ControlsKey the setting
	// ("" when all were reset), when Controls comes from a change.
	ControlsBy, ControlsKey string
	// Control says what became of a settings request of ours.
	Control *ControlResult
}

// ChatLine is one message to show.
type ChatLine struct {
	At   time.Time
	Name string
	Text string
	Note bool // the viewer's own, about the connection, not a person's message
	Host bool // said by the host (the protocol's role), so every viewer can mark it
	// Announcement is the id of the announcement the line posts or edits.
	Announcement uint64
}

// Outgoing is a line or an announcement change the viewer asked for that
// the chat has not acknowledged yet.
type Outgoing struct {
	Op   string // "" for chat; AnnouncePost, AnnounceEdit or AnnounceDelete
	ID   uint64 // the announcement edited or deleted
	Text string
}

// Announcement operations, as the protocol names them.
const (
	AnnouncePost   = "post"
	AnnounceEdit   = "edit"
	AnnounceDelete = "delete"
)

// NewestAnnouncement is the banner text: the announcement with the highest
// id, i.e. the latest posted.
func NewestAnnouncement(ann map[uint64]string) string {
	var id uint64
	text := ""
	for k, v := range ann {
		if k >= id {
			id, text = k, v
		}
	}
	return strings.TrimSpace(text)
}

// Bounds of the chat's queues.
const (
	outboxLines   = 32  // typed lines waiting for their ack
	updatesQueued = 256 // updates waiting for the reader
)

// outItem is one queued request. It stays queued until the server
// acknowledges it: lines typed while the chat is away go out, in order,
// when it is back.
type outItem struct {
	Outgoing
	// ref is its tag on the current connection; "" until written there.
	ref string
	// written: it went out on some connection, so the server may have
	// stored it even though its ack never came.
	written bool
}

// matches says whether m, from us, is what the item asked for.
func (it *outItem) matches(m chat.Msg) bool {
	switch it.Op {
	case "":
		return m.Type == chat.TypeChat && m.Text == it.Text
	case AnnouncePost:
		return m.Type == chat.TypeAnnouncement && (m.Op == "" || m.Op == AnnouncePost) && m.Text == it.Text
	case AnnounceEdit:
		return m.Type == chat.TypeAnnouncement && m.Op == AnnounceEdit && m.Target == it.ID && m.Text == it.Text
	default:
		return m.Type == chat.TypeAnnouncement && m.Op == it.Op && m.Target == it.ID
	}
}

// rejoin is a change of name or host key asked for by the user.
type rejoin struct{ name, hostKey string }

// chatSession keeps one chat connection alive: it joins, reconnects with
// the newest id it has (so history is never shown twice), and carries
// typed lines to the server, each exactly once.
type chatSession struct {
	addr    string
	hello   chat.Hello
	log     *slog.Logger
	updates chan ChatUpdate
	lastID  uint64
	ann     map[uint64]string
	first   *chat.Client // a connection already made, used before dialling
	welcome *chat.Msg    // first's welcome
	ctl     *controls
	// acked holds ids acknowledged to us whose echo has not come yet, so
	// a welcome's copy of them is not taken for an unacknowledged line.
	acked map[uint64]bool

	mu    sync.Mutex
	queue []outItem // oldest first; appended by any goroutine, settled by run's
	next  *rejoin   // asked for, not yet applied
	wake  chan struct{}
	again chan struct{} // a rejoin was asked for

	status   atomic.Value // string
	messages atomic.Uint64
	viewers  atomic.Int64
}

func newChatSession(addr string, h chat.Hello, log *slog.Logger) *chatSession {
	s := &chatSession{addr: addr, hello: h, log: log, ann: map[uint64]string{}, acked: map[uint64]bool{}, ctl: newControls(),
		updates: make(chan ChatUpdate, updatesQueued),
		wake:    make(chan struct{}, 1), again: make(chan struct{}, 1)}
	s.status.Store("")
	s.viewers.Store(-1)
	return s
}

// send queues a request; false when the queue is full.
func (s *chatSession) send(o Outgoing) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= outboxLines {
		return false
	}
	s.queue = append(s.queue, outItem{Outgoing: o})
	poke(s.wake)
	return true
}

// pending lists what is queued and not yet acknowledged, oldest first.
func (s *chatSession) pending() []Outgoing {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Outgoing, len(s.queue))
	for i, it := range s.queue {
		out[i] = it.Outgoing
	}
	return out
}

// rejoin asks run to join again under a new name or host key.
func (s *chatSession) rejoin(r rejoin) {
	s.mu.Lock()
	s.next = &r
	s.mu.Unlock()
	poke(s.again)
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// post hands an update to the reader, counting it on the way; it waits
// for room rather than lose a line.
func (s *chatSession) post(ctx context.Context, u ChatUpdate) {
	for _, l := range u.Lines {
		if !l.Note {
			s.messages.Add(1)
		}
	}
	if u.Status != "" {
		s.status.Store(u.Status)
	}
	if u.Viewers >= 0 {
		s.viewers.Store(int64(u.Viewers))
	}
	select {
	case s.updates <- u:
	case <-ctx.Done():
	}
}

func (s *chatSession) note(ctx context.Context, text string) {
	s.post(ctx, ChatUpdate{Lines: []ChatLine{{At: time.Now(), Name: "lsview", Text: text, Note: true}}, Viewers: -1})
}

func (s *chatSession) setStatus(ctx context.Context, status string) {
	s.post(ctx, ChatUpdate{Status: status, Viewers: -1})
}

// run connects until ctx ends. A refusal that retrying can't fix (a bad or
// taken name, a wrong host key, another protocol version) is shown with
// how to fix it, and the chat waits for Rejoin; anything else (server_full
// of every scope, an internal error, a line it could not take) is retried
// with back-off.
func (s *chatSession) run(ctx context.Context) {
	defer func() {
		if s.first != nil { // ended before it was used
			s.first.Close()
		}
	}()
	retry := retryFirst
	joined := false
	for ctx.Err() == nil {
		if s.applyRejoin() {
			// A new name is not our own ghost's: a clash is final again.
			joined, retry = false, retryFirst
		}
		s.setStatus(ctx, "chat: connecting to "+s.addr+"…")
		c, welcome, err := s.dial(ctx)
		var refused *chat.Error
		switch {
		case errors.As(err, &refused) && final(refused, joined):
			msg := "chat refused: " + refused.Message + fix(refused)
			s.setStatus(ctx, msg)
			s.post(ctx, ChatUpdate{Refused: msg, Lines: []ChatLine{{At: time.Now(), Name: "lsview", Text: msg, Note: true}}, Viewers: -1})
			select {
			case <-ctx.Done():
				return
			case <-s.again:
				continue
			}
		case errors.As(err, &refused) && refused.Code == chat.CodeServerFull:
			s.setStatus(ctx, "chat: server full, retrying…")
			s.log.Debug("chat dial", "error", err)
		case err != nil:
			s.setStatus(ctx, "chat: unreachable, retrying…")
			s.log.Debug("chat dial", "error", err)
		default:
			retry, joined = retryFirst, true
			again := s.serve(ctx, c, welcome)
			c.Close()
			if ctx.Err() != nil {
				return
			}
			if again {
				continue
			}
			s.setStatus(ctx, "chat: reconnecting…")
		}
		select {
		case <-ctx.Done():
			return
		case <-s.again:
		case <-time.After(retry):
		}
		retry = min(2*retry, retryMax)
	}
}

// fix says how the user mends a refusal in place.
func fix(e *chat.Error) string {
	switch e.Code {
	case chat.CodeNameTaken:
		if e.Suggestion != "" {
			return fmt.Sprintf(": type /name %s (or another name)", e.Suggestion)
		}
		return ": type /name NEWNAME"
	case chat.CodeBadName:
		return ": type /name NEWNAME"
	case chat.CodeForbidden:
		return ": type /host KEYFILE (or the key), or /host - to join as a viewer"
	}
	return ""
}

// applyRejoin takes a name or host key the user gave; true if there was one.
func (s *chatSession) applyRejoin() bool {
	s.mu.Lock()
	r := s.next
	s.next = nil
	s.mu.Unlock()
	if r == nil {
		return false
	}
	if r.name != "" {
		s.hello.Name = r.name
	}
	switch r.hostKey {
	case "":
	case "-":
		s.hello.HostKey = ""
	default:
		s.hello.HostKey = r.hostKey
	}
	if s.first != nil { // joined under the old name
		s.first.Close()
		s.first = nil
	}
	return true
}

// final says whether a refusal ends the chat for good. A taken name after
// this session has joined is most likely its own previous connection,
// which the server has not yet seen go: that one passes.
func final(e *chat.Error, joined bool) bool {
	switch e.Code {
	case chat.CodeNameTaken:
		return !joined
	case chat.CodeBadName, chat.CodeForbidden, chat.CodeVersion:
		return true
	}
	return false
}

func (s *chatSession) dial(ctx context.Context) (*chat.Client, *chat.Msg, error) {
	if c := s.first; c != nil {
		s.first = nil
		return c, s.welcome, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return chat.Dial(ctx, s.addr, s.hello)
}

// serve handles one connection until it ends; true when it ended for a
// rejoin the user asked for.
func (s *chatSession) serve(ctx context.Context, c *chat.Client, w *chat.Msg) bool {
	s.hello.Name = w.You // the server may have tidied it
	settled := s.settle(w)
	u := ChatUpdate{Status: fmt.Sprintf("chat: %s as %s", s.addr, w.You), Viewers: w.Count, Role: w.Role, Queue: settled}
	if u.Role == "" {
		u.Role = chat.RoleViewer
	}
	for _, m := range w.Messages {
		u.Lines = append(u.Lines, s.absorb(m)...)
	}
	clear(s.ann)
	for _, a := range w.Announcements {
		s.ann[a.ID] = a.Text
	}
	u.Announcements = maps.Clone(s.ann)
	s.post(ctx, u)
	defer func() {
		s.unanswered(ctx, s.ctl.leave(), "the chat connection dropped before the broadcaster answered")
	}()
	if err := s.serveControls(ctx, c, w, u.Role); err != nil {
		s.log.Info("chat write", "error", err)
		return false
	}
	for {
		if err := s.flush(c); err != nil {
			s.log.Info("chat write", "error", err)
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-s.again:
			return true
		case <-s.wake:
		case r := <-s.ctl.reqs:
			if err := s.ctl.write(c, r); err != nil {
				s.unanswered(ctx, []controlReq{r}, "not sent: the chat connection dropped")
				s.log.Info("chat write", "error", err)
				return false
			}
		case m, ok := <-c.Events():
			if !ok {
				s.log.Info("chat connection ended", "error", c.Err())
				return false
			}
			s.event(ctx, m)
		}
	}
}

// settle starts a connection's life for the queue: refs are per
// connection, so every item is written again, except those the server
// stored although their ack never came. Those are in the welcome's
// history (it carries what came after our newest id), from us, in the
// order we sent them. It returns whether any left the queue.
func (s *chatSession) settle(w *chat.Msg) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range w.Messages {
		if n == len(s.queue) || !s.queue[n].written {
			break
		}
		if m.ID <= s.lastID || m.From != w.You || s.acked[m.ID] {
			continue
		}
		if s.queue[n].matches(m) {
			n++
		}
	}
	s.queue = append(s.queue[:0], s.queue[n:]...)
	for i := range s.queue {
		s.queue[i].ref = ""
	}
	clear(s.acked)
	return n > 0
}

// flush writes, in order, every queued item not yet written on c.
func (s *chatSession) flush(c *chat.Client) error {
	for {
		s.mu.Lock()
		i := 0
		for i < len(s.queue) && s.queue[i].ref != "" {
			i++
		}
		if i == len(s.queue) {
			s.mu.Unlock()
			return nil
		}
		it := s.queue[i].Outgoing
		s.mu.Unlock()
		// Only this goroutine sets refs and removes items, so index i is
		// still this item after the write.
		var ref string
		var err error
		if it.Op == "" {
			ref, err = c.Chat(it.Text)
		} else {
			ref, err = c.Announce(it.Op, it.ID, it.Text)
		}
		s.mu.Lock()
		s.queue[i].written = true // maybe partly: the server may have it
		if err == nil {
			s.queue[i].ref = ref
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// done takes the item with ref out of the queue, returning it.
func (s *chatSession) done(ref string) (Outgoing, bool) {
	if ref == "" {
		return Outgoing{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range s.queue {
		if it.ref == ref {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return it.Outgoing, true
		}
	}
	return Outgoing{}, false
}

func (s *chatSession) event(ctx context.Context, m chat.Msg) {
	if s.controlEvent(ctx, m) {
		return
	}
	switch m.Type {
	case chat.TypeChat:
		s.post(ctx, ChatUpdate{Lines: s.absorb(m), Viewers: -1})
	case chat.TypeAnnouncement:
		lines := s.absorb(m)
		s.post(ctx, ChatUpdate{Lines: lines, Announcements: maps.Clone(s.ann), Viewers: -1})
	case chat.TypePresence:
		s.post(ctx, ChatUpdate{Lines: []ChatLine{{At: time.Now(), Name: m.Name, Text: m.Event + "s", Note: true}}, Viewers: m.Count})
	case chat.TypeAck:
		if _, ok := s.done(m.Ref); ok {
			if m.ID > s.lastID {
				s.acked[m.ID] = true
			}
			s.post(ctx, ChatUpdate{Queue: true, Viewers: -1})
		}
	case chat.TypeError:
		_, mine := s.done(m.Ref)
		if m.Code == chat.CodeNotExported {
			// Not a failure: the announcement is stored and everyone sees it.
			if m.ID > s.lastID {
				s.acked[m.ID] = true
			}
			s.post(ctx, ChatUpdate{Queue: mine, Viewers: -1})
			s.note(ctx, "announcement saved, not exported to announcements.json: "+m.Message)
			return
		}
		s.post(ctx, ChatUpdate{Queue: mine, Viewers: -1})
		s.note(ctx, "chat error: "+m.Message)
	case chat.TypeBye:
		s.note(ctx, "chat closed: "+m.Reason)
	}
}

// absorb turns a chat or announcement record into lines, once: a record
// whose id we already have is dropped, so a reconnect duplicates nothing.
func (s *chatSession) absorb(m chat.Msg) []ChatLine {
	if m.ID != 0 {
		if m.ID <= s.lastID {
			return nil
		}
		s.lastID = m.ID
		s.hello.Since = m.ID
		delete(s.acked, m.ID)
	}
	at, err := time.Parse(time.RFC3339Nano, m.TS)
	if err != nil {
		at = time.Now()
	}
	if m.Type == chat.TypeAnnouncement {
		switch m.Op {
		case "edit":
			s.ann[m.Target] = m.Text
		case "delete":
			delete(s.ann, m.Target)
			return nil
		default:
			s.ann[m.ID] = m.Text
		}
		id := m.ID
		if m.Op == AnnounceEdit {
			id = m.Target
		}
		return []ChatLine{{At: at, Name: m.From, Text: m.Text, Host: true, Announcement: id}}
	}
	return []ChatLine{{At: at, Name: m.From, Text: m.Text, Host: m.Role == chat.RoleHost}}
}
