package chat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Hello is what a client says of itself.
type Hello struct {
	Name    string
	HostKey string // join as host; empty for a viewer
	// Since is the id of the newest message the client already has: the
	// welcome then carries only what came after, so a reconnecting viewer
	// sees nothing twice.
	Since uint64
}

// eventQueue bounds the events waiting for the application; the client
// stops reading the connection while it is full.
const eventQueue = 1024

// Client is a connection to a chat server.
type Client struct {
	nc     net.Conn
	wmu    sync.Mutex
	w      *bufio.Writer
	events chan Msg
	done   chan struct{}
	err    error // why the connection ended, valid once done is closed
	refs   atomic.Uint64
	once   sync.Once

	hmu   sync.Mutex
	pages map[string]page // history requests not answered yet, by ref
}

// page is a history request, kept to ask again for less when the answer
// is too long to take.
type page struct {
	before uint64
	limit  int
}

// Dial connects, says hello and waits for the welcome. A refusal (name
// taken, wrong host key, other protocol version, server full) is an *Error.
// A welcome too long to take (from a server that does not bound it) is
// not retried as it was: Dial joins again without Since, so the welcome
// carries only the latest messages; a welcome whose first message is not
// right after Since (or whose More is set) tells the caller to page back
// with History.
func Dial(ctx context.Context, addr string, h Hello) (*Client, *Msg, error) {
	c, w, err := dialOnce(ctx, addr, h, Version)
	if e, ok := errors.AsType[*Error](err); ok && e.Code == CodeVersion {
		// A server of version 1 refuses our hello: speak its version,
		// without the settings it doesn't have.
		c, w, err = dialOnce(ctx, addr, h, MinVersion)
	}
	var long *lineTooLong
	if errors.As(err, &long) && h.Since != 0 {
		h.Since = 0
		c, w, err = dialOnce(ctx, addr, h, Version)
	}
	return c, w, err
}

func dialOnce(ctx context.Context, addr string, h Hello, v int) (*Client, *Msg, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("chat %s: %w", addr, err)
	}
	c := &Client{nc: nc, w: bufio.NewWriter(nc), events: make(chan Msg, eventQueue), done: make(chan struct{}),
		pages: map[string]page{}}
	role := RoleViewer
	if h.HostKey != "" {
		role = RoleHost
	}
	deadline := time.Now().Add(DefaultHelloTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	r := bufio.NewReaderSize(nc, MaxLine)
	if err := c.write(Msg{Type: TypeHello, V: v, Name: h.Name, Role: role, Key: h.HostKey, Since: h.Since}); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("chat %s: %w", addr, err)
	}
	for {
		m, err := readMsg(r)
		if err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("chat %s: no welcome: %w", addr, err)
		}
		switch m.Type {
		case TypePing:
			continue
		case TypeError:
			nc.Close()
			return nil, nil, &Error{Code: m.Code, Message: m.Message, Suggestion: m.Suggestion, Scope: m.Scope}
		case TypeBye:
			nc.Close()
			return nil, nil, &Error{Code: m.Code, Message: m.Reason}
		case TypeWelcome:
			if m.V < MinVersion || m.V > Version {
				nc.Close()
				return nil, nil, &Error{Code: CodeVersion, Message: fmt.Sprintf("server speaks protocol %d, this client %d to %d", m.V, MinVersion, Version)}
			}
			nc.SetDeadline(time.Time{})
			go c.readLoop(r)
			go c.pingLoop()
			return c, &m, nil
		default:
			nc.Close()
			return nil, nil, fmt.Errorf("chat %s: %q before the welcome", addr, m.Type)
		}
	}
}

// lineTooLong is a server line longer than MaxServerLine, read past. head
// is its beginning, enough to tell what it was.
type lineTooLong struct{ head []byte }

func (e *lineTooLong) Error() string {
	return fmt.Sprintf("server line longer than %d bytes skipped", MaxServerLine)
}

// headOf matches the beginning of a line as Encode writes it.
var headOf = regexp.MustCompile(`^\{"type":"([a-z_]+)"(?:,"v":\d+)?(?:,"ref":"([^"\\]*)")?`)

// readMsg reads one server line of at most MaxServerLine bytes. A longer
// line is read to its end and reported as a *lineTooLong, so the
// connection stays usable.
func readMsg(r *bufio.Reader) (Msg, error) {
	var line []byte
	var long *lineTooLong
	for {
		chunk, err := r.ReadSlice('\n')
		if long == nil && len(line)+len(chunk) > MaxServerLine {
			head := append([]byte(nil), line[:min(len(line), 256)]...)
			long = &lineTooLong{head: append(head, chunk[:min(len(chunk), 256-len(head))]...)}
			line = nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if long == nil {
				line = append(line, chunk...)
			}
			continue
		}
		if err != nil {
			return Msg{}, err
		}
		if long != nil {
			return Msg{}, long
		}
		if line == nil {
			line = chunk
		} else {
			line = append(line, chunk...)
		}
		break
	}
	m, perr := Decode(line[:len(line)-1])
	if perr != nil {
		return Msg{}, perr
	}
	return m, nil
}

// tooLong turns a line the client could not take into something to do: a
// history answer is asked for again, half as long; anything else becomes
// an error event (code too_long) for the application.
func (c *Client) tooLong(long *lineTooLong) (Msg, bool) {
	typ, ref := "", ""
	if sub := headOf.FindSubmatch(long.head); sub != nil {
		typ, ref = string(sub[1]), string(sub[2])
	}
	if typ == TypeHistory {
		c.hmu.Lock()
		p, ok := c.pages[ref]
		c.hmu.Unlock()
		if ok && p.limit > 1 {
			p.limit /= 2
			if c.askHistory(ref, p) == nil {
				return Msg{}, false
			}
		}
		c.hmu.Lock()
		delete(c.pages, ref)
		c.hmu.Unlock()
	}
	return Msg{Type: TypeError, Code: CodeTooLong, Ref: ref,
		Message: fmt.Sprintf("a %s from the server was longer than %d bytes and was skipped", typ, MaxServerLine)}, true
}

// Events delivers what the server sends after the welcome: chat,
// announcement, presence, ack, error, history, who and bye. It is closed
// when the connection ends; Err says why.
func (c *Client) Events() <-chan Msg { return c.events }

// Err is why the connection ended, once Events is closed.
func (c *Client) Err() error {
	<-c.done
	return c.err
}

func (c *Client) readLoop(r *bufio.Reader) {
	defer close(c.events)
	for {
		c.nc.SetReadDeadline(time.Now().Add(DeadAfter))
		m, err := readMsg(r)
		var long *lineTooLong
		if errors.As(err, &long) {
			var deliver bool
			if m, deliver = c.tooLong(long); !deliver {
				continue
			}
		} else if err != nil {
			c.finish(err)
			return
		}
		switch m.Type {
		case TypePing:
			c.write(Msg{Type: TypePong})
			continue
		case TypePong:
			continue
		case TypeHistory:
			c.hmu.Lock()
			delete(c.pages, m.Ref)
			c.hmu.Unlock()
		}
		select {
		case c.events <- m:
		case <-c.done:
			return
		}
		if m.Type == TypeBye {
			c.finish(fmt.Errorf("server closed the chat: %s", m.Reason))
			return
		}
	}
}

func (c *Client) pingLoop() {
	t := time.NewTicker(PingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.write(Msg{Type: TypePing}); err != nil {
				c.finish(err)
				return
			}
		}
	}
}

func (c *Client) finish(err error) {
	c.once.Do(func() {
		c.err = err
		close(c.done)
		c.nc.Close()
	})
}

func (c *Client) write(m Msg) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.w.Write(Encode(m)); err != nil {
		return err
	}
	return c.w.Flush()
}

func (c *Client) ref() string { return "r" + strconv.FormatUint(c.refs.Add(1), 10) }

// Chat sends a chat message and returns its ref; the server's ack (or
// error) with that ref arrives on Events.
func (c *Client) Chat(text string) (string, error) {
	ref := c.ref()
	return ref, c.write(Msg{Type: TypeChat, Text: text, Ref: ref})
}

// Announce posts (id 0), edits or deletes an announcement; host only.
func (c *Client) Announce(op string, id uint64, text string) (string, error) {
	ref := c.ref()
	return ref, c.write(Msg{Type: TypeAnnounce, Op: op, ID: id, Text: text, Ref: ref})
}

// History asks for up to limit messages older than before (0: the newest).
// An answer too long to take is asked for again with half the limit, under
// the same ref; the answer's More says whether older ones remain.
func (c *Client) History(before uint64, limit int) (string, error) {
	ref := c.ref()
	if limit <= 0 || limit > MaxHistoryPage {
		limit = MaxHistoryPage
	}
	return ref, c.askHistory(ref, page{before: before, limit: limit})
}

func (c *Client) askHistory(ref string, p page) error {
	c.hmu.Lock()
	c.pages[ref] = p
	c.hmu.Unlock()
	return c.write(Msg{Type: TypeHistory, Before: p.before, Limit: p.limit, Ref: ref})
}

// Who asks who is here.
func (c *Client) Who() (string, error) {
	ref := c.ref()
	return ref, c.write(Msg{Type: TypeWho, Ref: ref})
}

// Controls asks for the settings of the picture; the answer is a
// TypeControls event with the same ref.
func (c *Client) Controls() (string, error) {
	ref := c.ref()
	return ref, c.write(Msg{Type: TypeControls, Ref: ref})
}

// SetControl sets one setting; host only. Everyone then gets a
// TypeControls event with Event "changed".
func (c *Client) SetControl(key string, value int64) (string, error) {
	ref := c.ref()
	return ref, c.write(Msg{Type: TypeControl, Op: OpSet, ControlKey: key, Value: &value, Ref: ref})
}

// ResetControl returns one setting (key "" for all) to its default; host
// only.
func (c *Client) ResetControl(key string) (string, error) {
	ref := c.ref()
	return ref, c.write(Msg{Type: TypeControl, Op: OpReset, ControlKey: key, Ref: ref})
}

// Close ends the connection.
func (c *Client) Close() error {
	c.finish(errors.New("closed"))
	return nil
}
