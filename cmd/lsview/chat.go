package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// chatUpdate is what the chat session tells the window; it is applied on
// the GUI thread.
type chatUpdate struct {
	lines         []chatLine
	announcements map[uint64]string // the whole current set, when it changed
	status        string            // when it changed
	viewers       int               // -1: unchanged
}

// chatSession keeps one chat connection alive for the window: it joins,
// reconnects with the newest id it has (so history is never shown twice),
// and carries typed lines to the server.
type chatSession struct {
	addr    string
	hello   chat.Hello
	log     *slog.Logger
	updates chan chatUpdate // to the GUI thread, which drains it every beat
	outbox  chan string     // typed lines to send; bounded, the GUI never waits
	lastID  uint64
	ann     map[uint64]string
	first   *joined // a connection already made, used before dialling
}

// outboxLines bounds typed lines waiting for the connection.
const outboxLines = 32

func newChatSession(addr string, h chat.Hello, first *joined, log *slog.Logger) *chatSession {
	return &chatSession{addr: addr, hello: h, log: log, first: first,
		updates: make(chan chatUpdate, 256), outbox: make(chan string, outboxLines), ann: map[uint64]string{}}
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

func (s *chatSession) post(ctx context.Context, u chatUpdate) {
	select {
	case s.updates <- u:
	case <-ctx.Done():
	}
}

func (s *chatSession) note(ctx context.Context, text string) {
	s.post(ctx, chatUpdate{lines: []chatLine{{at: time.Now(), name: "lsview", text: text, note: true}}, viewers: -1})
}

// run connects until ctx ends. A refusal that retrying can't fix (a taken
// name, a wrong host key, another protocol version) ends it with a note.
func (s *chatSession) run(ctx context.Context) {
	retry := retryFirst
	for ctx.Err() == nil {
		s.post(ctx, chatUpdate{status: "chat: connecting to " + s.addr + "…", viewers: -1})
		c, welcome, err := s.dial(ctx)
		if err != nil {
			var refused *chat.Error
			if errors.As(err, &refused) && refused.Code != chat.CodeServerFull {
				msg := "chat refused: " + refused.Message
				if refused.Suggestion != "" {
					msg += fmt.Sprintf(" (try --name %s)", refused.Suggestion)
				}
				s.post(ctx, chatUpdate{status: msg, viewers: -1})
				s.note(ctx, msg)
				return
			}
			s.post(ctx, chatUpdate{status: "chat: unreachable, retrying…", viewers: -1})
			s.log.Debug("chat dial", "error", err)
		} else {
			retry = retryFirst
			s.serve(ctx, c, welcome)
			c.Close()
			if ctx.Err() != nil {
				return
			}
			s.post(ctx, chatUpdate{status: "chat: reconnecting…", viewers: -1})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, retryMax)
	}
}

func (s *chatSession) dial(ctx context.Context) (*chat.Client, *chat.Msg, error) {
	if j := s.first; j != nil {
		s.first = nil
		return j.c, j.welcome, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return chat.Dial(ctx, s.addr, s.hello)
}

// serve handles one connection until it ends.
func (s *chatSession) serve(ctx context.Context, c *chat.Client, w *chat.Msg) {
	s.hello.Name = w.You // the server may have tidied it
	u := chatUpdate{status: fmt.Sprintf("chat: %s as %s", s.addr, w.You), viewers: w.Count}
	for _, m := range w.Messages {
		u.lines = append(u.lines, s.absorb(m)...)
	}
	clear(s.ann)
	for _, a := range w.Announcements {
		s.ann[a.ID] = a.Text
	}
	u.announcements = copyAnn(s.ann)
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
		s.post(ctx, chatUpdate{lines: s.absorb(m), viewers: -1})
	case chat.TypeAnnouncement:
		lines := s.absorb(m)
		s.post(ctx, chatUpdate{lines: lines, announcements: copyAnn(s.ann), viewers: -1})
	case chat.TypePresence:
		s.post(ctx, chatUpdate{lines: []chatLine{{at: time.Now(), name: m.Name, text: m.Event + "s", note: true}}, viewers: m.Count})
	case chat.TypeError:
		s.note(ctx, "chat error: "+m.Message)
	case chat.TypeBye:
		s.note(ctx, "chat closed: "+m.Reason)
	}
}

// absorb turns a chat or announcement record into lines, once: a record
// whose id we already have is dropped, so a reconnect duplicates nothing.
func (s *chatSession) absorb(m chat.Msg) []chatLine {
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
		return []chatLine{{at: at, name: m.From + " (announcement)", text: m.Text}}
	}
	return []chatLine{{at: at, name: m.From, text: m.Text}}
}

func copyAnn(m map[uint64]string) map[uint64]string {
	out := make(map[uint64]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// newestAnnouncement is the banner text: the announcement with the
// highest id, i.e. the latest posted.
func newestAnnouncement(ann map[uint64]string) string {
	var id uint64
	text := ""
	for k, v := range ann {
		if k >= id {
			id, text = k, v
		}
	}
	return strings.TrimSpace(text)
}
