package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// serveChat bridges a WebSocket into the chat hub: the page speaks the
// chat protocol unchanged, one JSON object per text message.
func (s *Server) serveChat(sockets context.Context, w http.ResponseWriter, r *http.Request) {
	s.sockets.Add(1)
	defer s.sockets.Done()
	if s.Chat == nil {
		http.Error(w, "no chat here", http.StatusServiceUnavailable)
		return
	}
	// A message is one line: the hub's line limit, with room for a
	// newline the page may leave out. Beyond it: close 1009.
	ws, addr, done := s.upgrade(w, r, s.chat, chat.MaxLine, chatSendBuffer)
	if ws == nil {
		return
	}
	defer done()
	defer ws.CloseNow()
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	nc := &chatConn{ws: ws, ctx: sockets, remote: addr, local: local}
	if err := s.Chat.ServeConn(sockets, nc); errors.Is(err, chat.ErrNotServing) {
		ws.Close(websocket.StatusTryAgainLater, "chat not running")
	}
}

// chatConn is a chat WebSocket as the hub's net.Conn. Reads return the
// page's messages, each ended by a newline; writes send whole lines only,
// so every message to the page holds one or more newline-terminated
// lines, whatever the hub's buffered writer cuts. Close ends the socket
// with a close code saying why the hub said bye.
type chatConn struct {
	ws            *websocket.Conn
	ctx           context.Context
	remote, local net.Addr

	rdl, wdl atomic.Int64 // deadlines, unix nanoseconds; 0: none

	rest []byte // of the message being read; Read is never concurrent

	wmu     sync.Mutex
	partial []byte // of a line not yet ended
	bye     atomic.Pointer[bye]
}

// bye is what the hub's goodbye (or refusal) said.
type bye struct{ Type, Code, Reason string }

func (c *chatConn) deadline(d *atomic.Int64) (context.Context, context.CancelFunc) {
	if t := d.Load(); t != 0 {
		return context.WithDeadline(c.ctx, time.Unix(0, t))
	}
	return context.WithCancel(c.ctx)
}

func (c *chatConn) Read(p []byte) (int, error) {
	if len(c.rest) == 0 {
		ctx, cancel := c.deadline(&c.rdl)
		typ, msg, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return 0, fmt.Errorf("chat socket read: %w", os.ErrDeadlineExceeded)
			}
			return 0, err
		}
		if typ != websocket.MessageText {
			c.ws.Close(websocket.StatusUnsupportedData, "text messages only: one JSON object each")
			return 0, errors.New("binary message on the chat socket")
		}
		if len(msg) == 0 || msg[len(msg)-1] != '\n' {
			msg = append(msg, '\n')
		}
		c.rest = msg
	}
	n := copy(p, c.rest)
	c.rest = c.rest[n:]
	return n, nil
}

// Write sends what p completes of lines; the rest waits for its newline.
func (c *chatConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	msg := p
	if len(c.partial) > 0 || len(p) == 0 || p[len(p)-1] != '\n' {
		c.partial = append(c.partial, p...)
		end := bytes.LastIndexByte(c.partial, '\n')
		if end < 0 {
			if len(c.partial) > chat.MaxServerLine {
				return 0, fmt.Errorf("chat line over %d bytes", chat.MaxServerLine)
			}
			return len(p), nil
		}
		msg = c.partial[:end+1]
		defer func() { c.partial = c.partial[:copy(c.partial, c.partial[end+1:])] }()
	}
	c.noteBye(msg)
	ctx, cancel := c.deadline(&c.wdl)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

// noteBye remembers the hub's last word before it closes: a bye, or the
// error refusing a connection it does not take, for the close code.
func (c *chatConn) noteBye(msg []byte) {
	last := msg[bytes.LastIndexByte(msg[:len(msg)-1], '\n')+1:]
	if !bytes.HasPrefix(last, []byte(`{"type":"bye"`)) && !bytes.HasPrefix(last, []byte(`{"type":"error"`)) {
		return
	}
	var b bye
	if json.Unmarshal(last, &b) == nil {
		c.bye.Store(&b)
	}
}

// Close ends the socket with a code the page can act on: 1013 when the
// server is full (try again later), 1001 when it shuts down, 1008 when the
// hub cut the client off (flood, oversize lines, too slow, refused hello),
// 1000 otherwise. The reason is the hub's code.
func (c *chatConn) Close() error {
	code, reason := websocket.StatusNormalClosure, ""
	if b := c.bye.Load(); b != nil {
		switch {
		case b.Code == chat.CodeServerFull:
			code, reason = websocket.StatusTryAgainLater, b.Code
		case b.Type != chat.TypeBye:
			// An error the client may live with; the client hung up.
		case b.Code != "":
			code, reason = websocket.StatusPolicyViolation, b.Code
		case b.Reason == "server shutting down":
			code = websocket.StatusGoingAway
		}
	}
	return c.ws.Close(code, reason)
}

func (c *chatConn) LocalAddr() net.Addr  { return c.local }
func (c *chatConn) RemoteAddr() net.Addr { return c.remote }

func (c *chatConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *chatConn) SetReadDeadline(t time.Time) error {
	c.rdl.Store(unixNano(t))
	return nil
}

func (c *chatConn) SetWriteDeadline(t time.Time) error {
	c.wdl.Store(unixNano(t))
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
