package viewer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
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
}

// ChatLine is one message to show.
type ChatLine struct {
	At   time.Time
	Name string
	Text string
	Note bool // the viewer's own, about the connection, not a person's message
}

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
	outboxLines   = 32  // typed lines waiting for the connection
	updatesQueued = 256 // updates waiting for the reader
)

// chatSession keeps one chat connection alive: it joins, reconnects with
// the newest id it has (so history is never shown twice), and carries
// typed lines to the server.
type chatSession struct {
	addr    string
	hello   chat.Hello
	log     *slog.Logger
	updates chan ChatUpdate
	outbox  chan string
	lastID  uint64
	ann     map[uint64]string
	first   *chat.Client // a connection already made, used before dialling
	welcome *chat.Msg    // first's welcome

	status   atomic.Value // string
	messages atomic.Uint64
	viewers  atomic.Int64
}

func newChatSession(addr string, h chat.Hello, log *slog.Logger) *chatSession {
	s := &chatSession{addr: addr, hello: h, log: log, ann: map[uint64]string{},
		updates: make(chan ChatUpdate, updatesQueued), outbox: make(chan string, outboxLines)}
	s.status.Store("")
	s.viewers.Store(-1)
	return s
}

// send queues a typed line; false when the queue is full.
func (s *chatSession) send(text string) bool {
	select {
	case s.outbox <- text:
		return true
	default:
		return false
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
// taken name, a wrong host key, another protocol version) ends it with a
// note; anything else (server_full of every scope, an internal error, a
// line it could not take) is retried with back-off.
func (s *chatSession) run(ctx context.Context) {
	defer func() {
		if s.first != nil { // ended before it was used
			s.first.Close()
		}
	}()
	retry := retryFirst
	joined := false
	for ctx.Err() == nil {
		s.setStatus(ctx, "chat: connecting to "+s.addr+"…")
		c, welcome, err := s.dial(ctx)
		var refused *chat.Error
		switch {
		case errors.As(err, &refused) && final(refused, joined):
			msg := "chat refused: " + refused.Message
			if refused.Suggestion != "" {
				msg += fmt.Sprintf(" (try --name %s)", refused.Suggestion)
			}
			s.setStatus(ctx, msg)
			s.note(ctx, msg)
			return
		case errors.As(err, &refused) && refused.Code == chat.CodeServerFull:
			s.setStatus(ctx, "chat: server full, retrying…")
			s.log.Debug("chat dial", "error", err)
		case err != nil:
			s.setStatus(ctx, "chat: unreachable, retrying…")
			s.log.Debug("chat dial", "error", err)
		default:
			retry, joined = retryFirst, true
			s.serve(ctx, c, welcome)
			c.Close()
			if ctx.Err() != nil {
				return
			}
			s.setStatus(ctx, "chat: reconnecting…")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, retryMax)
	}
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

// serve handles one connection until it ends.
func (s *chatSession) serve(ctx context.Context, c *chat.Client, w *chat.Msg) {
	s.hello.Name = w.You // the server may have tidied it
	u := ChatUpdate{Status: fmt.Sprintf("chat: %s as %s", s.addr, w.You), Viewers: w.Count}
	for _, m := range w.Messages {
		u.Lines = append(u.Lines, s.absorb(m)...)
	}
	clear(s.ann)
	for _, a := range w.Announcements {
		s.ann[a.ID] = a.Text
	}
	u.Announcements = maps.Clone(s.ann)
	s.post(ctx, u)
	for {
		select {
		case <-ctx.Done():
			return
		case text := <-s.outbox:
			if _, err := c.Chat(text); err != nil {
				s.note(ctx, "not sent: "+err.Error())
				return
			}
		case m, ok := <-c.Events():
			if !ok {
				s.log.Info("chat connection ended", "error", c.Err())
				return
			}
			s.event(ctx, m)
		}
	}
}

func (s *chatSession) event(ctx context.Context, m chat.Msg) {
	switch m.Type {
	case chat.TypeChat:
		s.post(ctx, ChatUpdate{Lines: s.absorb(m), Viewers: -1})
	case chat.TypeAnnouncement:
		lines := s.absorb(m)
		s.post(ctx, ChatUpdate{Lines: lines, Announcements: maps.Clone(s.ann), Viewers: -1})
	case chat.TypePresence:
		s.post(ctx, ChatUpdate{Lines: []ChatLine{{At: time.Now(), Name: m.Name, Text: m.Event + "s", Note: true}}, Viewers: m.Count})
	case chat.TypeError:
		if m.Code == chat.CodeNotExported {
			// Not a failure: the announcement is stored and everyone sees it.
			s.note(ctx, "announcement saved, not exported to announcements.json: "+m.Message)
			return
		}
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
		return []ChatLine{{At: at, Name: m.From + " (announcement)", Text: m.Text}}
	}
	return []ChatLine{{At: at, Name: m.From, Text: m.Text}}
}
