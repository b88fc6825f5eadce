package viewer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// ControlList is the op of a ControlResult for the list asked for after
// each join.
const ControlList = "list"

// ControlResult is what became of a settings request of ours: the list
// asked for after a join, a set or a reset.
type ControlResult struct {
	Op    string // ControlList, chat.OpSet or chat.OpReset
	Key   string // the setting; "" for the list or a reset of all
	Value int64  // of a set
	Err   *chat.Error
}

// Errors of settings requests refused before anything is sent.
var (
	ErrNoChat        = errors.New("this camera has no chat, so no settings")
	ErrNotJoined     = errors.New("not connected to the chat yet")
	ErrNotHost       = errors.New("only the host can change camera settings (join as host with --host-key FILE or /host KEYFILE)")
	ErrNoSettings    = errors.New("this broadcaster is too old to change settings from here (chat protocol 1)")
	ErrTooManyWaited = errors.New("too many settings changes waiting; try again")
)

// controlsQueued bounds the settings requests waiting for the chat's
// goroutine; a person's key presses never come near it.
const controlsQueued = 16

// controlReq is a set or reset waiting to be written.
type controlReq struct {
	op    string
	key   string
	value int64
}

// controls is the chat's view of the broadcaster's settings: the latest
// list and what the connection allows.
type controls struct {
	reqs chan controlReq

	mu      sync.Mutex
	list    []chat.Control
	joined  bool
	role    string
	version int
	refs    map[string]controlReq // written, not yet answered, by ref
}

func newControls() *controls {
	return &controls{reqs: make(chan controlReq, controlsQueued), refs: map[string]controlReq{}}
}

// ask checks what the connection allows and queues r.
func (c *controls) ask(r controlReq) error {
	c.mu.Lock()
	joined, role, v := c.joined, c.role, c.version
	c.mu.Unlock()
	switch {
	case !joined:
		return ErrNotJoined
	case v < chat.ControlsVersion:
		return ErrNoSettings
	case role != chat.RoleHost:
		return ErrNotHost
	}
	select {
	case c.reqs <- r:
		return nil
	default:
		return ErrTooManyWaited
	}
}

// current is a copy of the latest list; nil before any.
func (c *controls) current() []chat.Control {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// join starts a connection's life: its role and version, and no answers
// owed from the last one.
func (c *controls) join(w *chat.Msg, role string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.joined, c.role, c.version = true, role, w.V
	clear(c.refs)
}

// leave ends a connection's life and returns what it wrote that was never
// answered.
func (c *controls) leave() []controlReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.joined = false
	var out []controlReq
	for _, r := range c.refs {
		out = append(out, r)
	}
	clear(c.refs)
	return out
}

// stale takes requests queued for a connection that ended before it wrote
// them: sent now they would act on a picture the user no longer sees.
func (c *controls) stale() []controlReq {
	var out []controlReq
	for {
		select {
		case r := <-c.reqs:
			out = append(out, r)
		default:
			return out
		}
	}
}

// write sends r on cl and keeps its ref for the answer.
func (c *controls) write(cl *chat.Client, r controlReq) error {
	var ref string
	var err error
	switch r.op {
	case ControlList:
		ref, err = cl.Controls()
	case chat.OpReset:
		ref, err = cl.ResetControl(r.key)
	default:
		ref, err = cl.SetControl(r.key, r.value)
	}
	if err != nil {
		return fmt.Errorf("settings %s: %w", r.op, err)
	}
	c.mu.Lock()
	c.refs[ref] = r
	c.mu.Unlock()
	return nil
}

// answered takes the request ref answers, if it was one of ours.
func (c *controls) answered(ref string) (controlReq, bool) {
	if ref == "" {
		return controlReq{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.refs[ref]
	delete(c.refs, ref)
	return r, ok
}

// keep stores a list from the server and returns the copy to hand out;
// never nil, so an update can say "the list is empty".
func (c *controls) keep(list []chat.Control) []chat.Control {
	if list == nil {
		list = []chat.Control{}
	}
	c.mu.Lock()
	c.list = list
	c.mu.Unlock()
	return slices.Clone(list)
}

// unanswered tells the reader of requests that never got their answer,
// so none is left waiting.
func (s *chatSession) unanswered(ctx context.Context, reqs []controlReq, why string) {
	for _, r := range reqs {
		if r.op == ControlList {
			continue
		}
		s.post(ctx, ChatUpdate{Viewers: -1, Control: &ControlResult{Op: r.op, Key: r.key, Value: r.value,
			Err: &chat.Error{Code: CodeNoAnswer, Message: why}}})
	}
}

// CodeNoAnswer is the code of a ControlResult for a request the chat lost
// its connection around: it may or may not have been applied, and the
// list read after the next join says which.
const CodeNoAnswer = "no_answer"

// serveControls asks for the list on a new connection of a server that
// has settings, and turns away requests left from the last connection.
func (s *chatSession) serveControls(ctx context.Context, c *chat.Client, w *chat.Msg, role string) error {
	s.unanswered(ctx, s.ctl.stale(), "not sent: the chat reconnected before it went out; try again")
	s.ctl.join(w, role)
	if w.V < chat.ControlsVersion {
		return nil
	}
	return s.ctl.write(c, controlReq{op: ControlList})
}

// controlEvent handles the settings' part of a server message: true when
// it was one.
func (s *chatSession) controlEvent(ctx context.Context, m chat.Msg) bool {
	switch m.Type {
	case chat.TypeControls:
		u := ChatUpdate{Viewers: -1, Controls: s.ctl.keep(m.Controls)}
		if m.Event == "changed" {
			u.ControlsBy, u.ControlsKey = m.From, m.ControlKey
		}
		s.ctl.answered(m.Ref)
		s.post(ctx, u)
		return true
	case chat.TypeAck, chat.TypeError:
		r, ok := s.ctl.answered(m.Ref)
		if !ok {
			return false
		}
		res := &ControlResult{Op: r.op, Key: r.key, Value: r.value}
		if m.Type == chat.TypeError {
			res.Err = &chat.Error{Code: m.Code, Message: m.Message}
		}
		s.post(ctx, ChatUpdate{Viewers: -1, Control: res})
		return true
	}
	return false
}

// Controls is the broadcaster's settings as last heard: read after each
// join (from a server of protocol 2 or later) and kept up to date by
// every change a host makes. Nil before the first list, and for a stream
// without chat.
func (s *Session) Controls() []chat.Control {
	if s.chat == nil {
		return nil
	}
	return s.chat.ctl.current()
}

// SetControl asks the broadcaster to set one of its settings; only the
// host may. It returns at once: an error when it can't be sent (see the
// Err variables), else the answer comes as an update whose Control says
// what became of it, and every client then hears the new list.
func (s *Session) SetControl(key string, value int64) error {
	if s.chat == nil {
		return ErrNoChat
	}
	return s.chat.ctl.ask(controlReq{op: chat.OpSet, key: key, value: value})
}

// ResetControl returns one setting, or every one when key is "", to its
// default, as SetControl sets one.
func (s *Session) ResetControl(key string) error {
	if s.chat == nil {
		return ErrNoChat
	}
	return s.chat.ctl.ask(controlReq{op: chat.OpReset, key: key})
}
