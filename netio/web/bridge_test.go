package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// wsChat is a page's chat socket: it sends one JSON object per message
// and splits what it gets on newlines, as the contract says.
type wsChat struct {
	t     testing.TB
	c     *websocket.Conn
	lines []chat.Msg
	chats []string // texts of the chat lines, in order, skipped or not
}

func dialChat(t testing.TB, ctx context.Context, base, name string) (*wsChat, chat.Msg) {
	t.Helper()
	c := dialWS(t, ctx, wsURL(base, "/ws/chat"), nil)
	c.SetReadLimit(chat.MaxServerLine)
	p := &wsChat{t: t, c: c}
	p.send(ctx, fmt.Sprintf(`{"type":"hello","v":1,"name":%q}`, name)) // no newline: it is optional
	return p, p.next(ctx, chat.TypeWelcome, chat.TypeError)
}

func (p *wsChat) send(ctx context.Context, s string) {
	p.t.Helper()
	if err := p.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		p.t.Fatalf("send %s: %v", s, err)
	}
}

// next returns the next line of one of the types, skipping others.
func (p *wsChat) next(ctx context.Context, types ...string) chat.Msg {
	p.t.Helper()
	for {
		for len(p.lines) > 0 {
			m := p.lines[0]
			p.lines = p.lines[1:]
			if m.Type == chat.TypeChat {
				p.chats = append(p.chats, m.Text)
			}
			for _, typ := range types {
				if m.Type == typ {
					return m
				}
			}
		}
		typ, b, err := p.c.Read(ctx)
		if err != nil {
			p.t.Fatalf("waiting for %v: %v", types, err)
		}
		if typ != websocket.MessageText || len(b) == 0 || b[len(b)-1] != '\n' {
			p.t.Fatalf("chat message: type %v, %q: want text of newline-terminated lines", typ, b)
		}
		for _, l := range bytes.Split(b[:len(b)-1], []byte("\n")) {
			var m chat.Msg
			if err := json.Unmarshal(l, &m); err != nil {
				p.t.Fatalf("line %q: %v", l, err)
			}
			p.lines = append(p.lines, m)
		}
	}
}

func tcpChat(t testing.TB, ctx context.Context, addr, name string) *chat.Client {
	t.Helper()
	c, _, err := chat.Dial(ctx, addr, chat.Hello{Name: name})
	if err != nil {
		t.Fatalf("chat dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextEvent returns the client's next event of type typ, noting the texts
// of the chat lines it passes in chats.
func nextEvent(t testing.TB, ctx context.Context, c *chat.Client, typ string, chats *[]string) chat.Msg {
	t.Helper()
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				t.Fatalf("chat client closed waiting for %s: %v", typ, c.Err())
			}
			if m.Type == chat.TypeChat {
				*chats = append(*chats, m.Text)
			}
			if m.Type == typ {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no %s", typ)
		}
	}
}

// TestChatBridge: browser and TCP clients share one hub: the same
// messages in the same order, both ways.
func TestChatBridge(t *testing.T) {
	hub := startChat(t)
	w := startWeb(t, func(s *Server) { s.Chat = hub })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tcp := tcpChat(t, ctx, hub.ListenAddr().String(), "laptop")
	page, welcome := dialChat(t, ctx, w.base, "phone")
	if welcome.Type != chat.TypeWelcome || welcome.You != "phone" || welcome.Stream == nil || welcome.Stream.HTTPPort != 8080 {
		t.Fatalf("welcome %+v", welcome)
	}
	if !strings.Contains(strings.Join(welcome.Present, ","), "laptop") {
		t.Errorf("present %v lacks the TCP client", welcome.Present)
	}
	// The same name is taken across both kinds of client.
	_, refused := dialChat(t, ctx, w.base, "LAPTOP")
	if refused.Code != chat.CodeNameTaken {
		t.Errorf("a browser taking a TCP client's name: %+v", refused)
	}

	const n = 20
	var fromTCP []string
	for i := range n {
		if i%2 == 0 {
			page.send(ctx, fmt.Sprintf(`{"type":"chat","text":"m%d","ref":"p%d"}`+"\n", i, i))
		} else if _, err := tcp.Chat(fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
		// Interleave for real: each waits for its own echo.
		if i%2 == 0 {
			page.next(ctx, chat.TypeAck)
		} else {
			nextEvent(t, ctx, tcp, chat.TypeAck, &fromTCP)
		}
	}
	for len(page.chats) < n {
		page.next(ctx, chat.TypeChat)
	}
	for len(fromTCP) < n {
		nextEvent(t, ctx, tcp, chat.TypeChat, &fromTCP)
	}
	fromPage := page.chats
	if strings.Join(fromPage, ",") != strings.Join(fromTCP, ",") {
		t.Errorf("order differs:\npage %v\ntcp  %v", fromPage, fromTCP)
	}
	for i, s := range fromPage {
		if s != fmt.Sprintf("m%d", i) {
			t.Errorf("message %d is %q", i, s)
		}
	}
	// The hub counts the browser by its HTTP client's address.
	if hub.Viewers() != 2 {
		t.Errorf("hub has %d clients, want 2", hub.Viewers())
	}
}

// TestChatBadInput: binary, oversize, flood: each a clear close code; the
// others carry on.
func TestChatBadInput(t *testing.T) {
	hub := startChat(t)
	w := startWeb(t, func(s *Server) { s.Chat = hub })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bystander, _ := dialChat(t, ctx, w.base, "bystander")

	closeOf := func(p *wsChat) websocket.CloseError {
		t.Helper()
		for {
			_, _, err := p.c.Read(ctx)
			if err != nil {
				var ce websocket.CloseError
				if !errorsAs(err, &ce) {
					t.Fatalf("socket ended without a close frame: %v", err)
				}
				return ce
			}
		}
	}

	binary, _ := dialChat(t, ctx, w.base, "binary")
	binary.c.Write(ctx, websocket.MessageBinary, []byte(`{"type":"chat","text":"x"}`))
	if ce := closeOf(binary); ce.Code != websocket.StatusUnsupportedData {
		t.Errorf("binary: close %v, want 1003", ce)
	}

	big, _ := dialChat(t, ctx, w.base, "big")
	big.c.Write(ctx, websocket.MessageText, []byte(`{"type":"chat","text":"`+strings.Repeat("a", chat.MaxLine)+`"}`))
	if ce := closeOf(big); ce.Code != websocket.StatusMessageTooBig {
		t.Errorf("oversize: close %v, want 1009", ce)
	}

	flood, _ := dialChat(t, ctx, w.base, "flood")
	for i := range 200 {
		if flood.c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"type":"chat","text":"f%d"}`, i))) != nil {
			break
		}
	}
	if ce := closeOf(flood); ce.Code != websocket.StatusPolicyViolation || ce.Reason != chat.CodeRateLimited {
		t.Errorf("flood: close %v, want 1008 rate_limited", ce)
	}

	// The bystander still chats.
	bystander.send(ctx, `{"type":"chat","text":"still here","ref":"b"}`)
	if m := bystander.next(ctx, chat.TypeAck, chat.TypeError); m.Type != chat.TypeAck {
		t.Errorf("bystander: %+v", m)
	}
}

// TestIdleSocketsCapped: 200 idle WebSockets from one address: the
// address's share is taken, the rest refused with 1013 (try again later),
// and a client from another address is served.
func TestIdleSocketsCapped(t *testing.T) {
	hub := startChat(t)
	w := startWeb(t, func(s *Server) { s.Chat = hub })
	feed(t, w.Server, capture.Size{W: 160, H: 120}, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, kind := range []struct {
		path string
		open int
	}{
		{"/ws/video", DefaultMaxVideoPerAddress},
		// No hello: the hub keeps 16 waiting per address and refuses the
		// rest with server_full, which closes with 1013 too.
		{"/ws/chat", chat.DefaultMaxPendingPerAddress},
	} {
		results := make(chan websocket.StatusCode, 200)
		for range 200 {
			c := dialWS(t, ctx, wsURL(w.base, kind.path), nil)
			go func() {
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				for {
					// A refusal may come as an error line, then the close.
					typ, _, err := c.Read(rctx)
					if err != nil || typ == websocket.MessageBinary {
						results <- websocket.CloseStatus(err) // -1: a frame, or still open
						return
					}
				}
			}()
		}
		open, refused := 0, 0
		for range 200 {
			switch <-results {
			case -1:
				open++
			case websocket.StatusTryAgainLater:
				refused++
			}
		}
		if open != kind.open || refused != 200-kind.open {
			t.Errorf("%s: %d open, %d refused with 1013; want %d open", kind.path, open, refused, kind.open)
		}
		// Another address is served.
		other := &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}}
		c := dialWS(t, ctx, wsURL(w.base, kind.path), other)
		if kind.path == "/ws/chat" {
			c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","v":1,"name":"other"}`))
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Errorf("%s from another address: %v", kind.path, err)
		} else if kind.path == "/ws/chat" && !bytes.Contains(b, []byte(`"welcome"`)) {
			t.Errorf("chat from another address: %s", b)
		}
	}
}

// TestSlowViewer: a viewer that stops reading neither grows the server's
// memory nor slows another viewer, and is cut off after VideoTimeout.
func TestSlowViewer(t *testing.T) {
	w := startWeb(t, func(s *Server) { s.VideoTimeout = 2 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The stalled viewer: a tiny receive buffer, and it never reads.
	stalled := &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{Control: nil}).DialContext}}}
	stalled.HTTPClient.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4 << 10)
		}
		return c, err
	}
	dialWS(t, ctx, wsURL(w.base, "/ws/video"), stalled)
	healthy := dialWS(t, ctx, wsURL(w.base, "/ws/video"), nil)
	healthy.SetReadLimit(4 << 20)

	// Big frames (1 MiB) at 30 fps for 3 s: 90 MiB published; queued
	// frames would show in the heap.
	jpg := make([]byte, 1<<20)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := make(chan int, 1)
	go func() {
		n := 0
		for {
			if _, _, err := healthy.Read(ctx); err != nil {
				got <- n
				return
			}
			n++
		}
	}()
	const frames = 90
	tick := time.NewTicker(time.Second / 30)
	for i := 1; i <= frames; i++ {
		<-tick.C
		w.WriteFrame(uint64(i), time.Now(), jpg)
	}
	tick.Stop()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Errorf("heap grew %d MiB with a stalled viewer", grown>>20)
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.Viewers() > 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if w.Viewers() != 1 {
		t.Errorf("%d viewers after the stalled one's timeout, want 1", w.Viewers())
	}
	healthy.CloseNow()
	if n := <-got; n < frames*8/10 {
		t.Errorf("the healthy viewer got %d of %d frames", n, frames)
	}
}

func errorsAs(err error, target *websocket.CloseError) bool { return errors.As(err, target) }
