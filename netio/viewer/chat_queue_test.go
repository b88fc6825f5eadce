package viewer

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// chatHost is a chat server on a fixed loopback port that the test can
// stop and start again on the same store, as a broadcaster restart does.
type chatHost struct {
	addr, dir, key string
	cancel         context.CancelFunc
	done           chan struct{}
	st             *store.Store
}

func startChatHost(t *testing.T, h *chatHost) *chatHost {
	t.Helper()
	if h == nil {
		h = &chatHost{addr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), dir: t.TempDir(), key: "0123456789abcdef0123456789abcdef"}
	}
	st, err := store.Open(filepath.Join(h.dir, "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	s := &chat.Server{Addr: h.addr, Store: st, HostKey: h.key, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Info: func() netio.Stream { return netio.Stream{Name: "queue test"} }}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done, h.st = cancel, make(chan struct{}), st
	go func() { defer close(h.done); s.Serve(ctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *chatHost) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.st.Close()
	h.cancel = nil
}

// runChat runs a chat session until the test ends and collects what it
// delivers.
type chatRun struct {
	s   *chatSession
	mu  sync.Mutex
	ups []ChatUpdate
}

func runChat(t *testing.T, addr string, h chat.Hello) *chatRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &chatRun{s: newChatSession(addr, h, quietLog())}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.s.run(ctx); close(r.s.updates) }()
	go func() {
		defer wg.Done()
		for u := range r.s.updates {
			r.mu.Lock()
			r.ups = append(r.ups, u)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r
}

func (r *chatRun) until(t *testing.T, d time.Duration, what string, ok func(ups []ChatUpdate) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		done := ok(r.ups)
		r.mu.Unlock()
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s within %v", what, d)
}

func joinedAs(name string) func([]ChatUpdate) bool {
	return func(ups []ChatUpdate) bool {
		n := 0
		for _, u := range ups {
			if strings.HasSuffix(u.Status, " as "+name) {
				n++
			}
		}
		return n > 0
	}
}

// listen collects the texts of chat messages another client receives.
func listen(t *testing.T, addr, name string) func() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c, _, err := chat.Dial(ctx, addr, chat.Hello{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	var got []string
	go func() {
		for m := range c.Events() {
			if m.Type == chat.TypeChat || m.Type == chat.TypeAnnouncement {
				mu.Lock()
				got = append(got, m.Text)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestChatQueueAcrossRestart: lines sent while the server is down wait as
// pending and arrive, in order, exactly once when it is back.
func TestChatQueueAcrossRestart(t *testing.T) {
	h := startChatHost(t, nil)
	r := runChat(t, h.addr, chat.Hello{Name: "typist"})
	r.until(t, 10*time.Second, "join", joinedAs("typist"))
	h.stop()
	r.until(t, 10*time.Second, "reconnecting status", func(ups []ChatUpdate) bool {
		return ups[len(ups)-1].Status != "" && !strings.Contains(ups[len(ups)-1].Status, " as ")
	})
	for _, text := range []string{"one", "two", "three"} {
		if !r.s.send(Outgoing{Text: text}) {
			t.Fatal("send refused")
		}
	}
	if p := r.s.pending(); len(p) != 3 {
		t.Fatalf("pending %v, want the three lines", p)
	}
	time.Sleep(600 * time.Millisecond) // a failed dial or two meanwhile
	startChatHost(t, h)
	deadline := time.Now().Add(15 * time.Second)
	for len(r.s.pending()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := r.s.pending(); len(p) != 0 {
		t.Fatalf("still pending after the restart: %v", p)
	}
	recs, err := h.st.History(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, rec := range recs {
		texts = append(texts, rec.Text)
	}
	if strings.Join(texts, ",") != "one,two,three" {
		t.Errorf("stored %q, want one,two,three once each in order", texts)
	}
}

// TestChatQueueAckLost: a line the server stored whose ack was lost with
// the connection is recognised in the next welcome and not sent again.
func TestChatQueueAckLost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan []string, 1)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		// First connection: welcome, read the chat line, drop without ack.
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		br := bufio.NewReader(nc)
		br.ReadString('\n')
		nc.Write(chat.Encode(chat.Msg{Type: chat.TypeWelcome, V: chat.Version, You: "me", Count: 1,
			Messages: []chat.Msg{{Type: chat.TypeChat, ID: 3, From: "x", Text: "before"}}}))
		// "stored" as id 4; the settings list asked for after the welcome
		// is not what this test is about.
		for {
			l, err := br.ReadString('\n')
			if err != nil || strings.Contains(l, `"type":"chat"`) {
				break
			}
		}
		nc.Close()
		// Second: the welcome carries it; anything sent now is a duplicate.
		nc, err = ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br = bufio.NewReader(nc)
		hello, _ := br.ReadString('\n')
		nc.Write(chat.Encode(chat.Msg{Type: chat.TypeWelcome, V: chat.Version, You: "me", Count: 1,
			Messages: []chat.Msg{{Type: chat.TypeChat, ID: 4, From: "me", Text: "only once"}}}))
		nc.SetReadDeadline(time.Now().Add(1500 * time.Millisecond))
		lines := []string{hello}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				break
			}
			if !strings.Contains(l, `"ping"`) && !strings.Contains(l, `"pong"`) && !strings.Contains(l, `"type":"controls"`) {
				lines = append(lines, l)
			}
		}
		second <- lines
	}()
	r := runChat(t, ln.Addr().String(), chat.Hello{Name: "me"})
	r.until(t, 10*time.Second, "join", joinedAs("me"))
	r.s.send(Outgoing{Text: "only once"})
	select {
	case lines := <-second:
		if !strings.Contains(lines[0], `"since":3`) {
			t.Errorf("second hello %q: want since 3", lines[0])
		}
		if len(lines) > 1 {
			t.Errorf("sent again after the welcome showed it stored: %q", lines[1:])
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no second connection")
	}
	if p := r.s.pending(); len(p) != 0 {
		t.Errorf("pending %v after the welcome showed it stored", p)
	}
}

// TestChatRefusedThenFixedInPlace: a taken name and a wrong host key say
// why and how to fix it; /name and /host (Rejoin) join without a restart,
// and what was typed meanwhile goes out.
func TestChatRefusedThenFixedInPlace(t *testing.T) {
	h := startChatHost(t, nil)
	got := listen(t, h.addr, "alice")
	r := runChat(t, h.addr, chat.Hello{Name: "alice"})
	r.until(t, 10*time.Second, "refusal", func(ups []ChatUpdate) bool {
		for _, u := range ups {
			if strings.Contains(u.Refused, "/name alice2") {
				return true
			}
		}
		return false
	})
	r.s.send(Outgoing{Text: "typed while refused"})
	r.s.rejoin(rejoin{name: "bob", hostKey: "wrong"})
	r.until(t, 10*time.Second, "host key refusal", func(ups []ChatUpdate) bool {
		return strings.Contains(ups[len(ups)-1].Refused, "/host")
	})
	r.s.rejoin(rejoin{hostKey: h.key})
	r.until(t, 15*time.Second, "host join as bob", func(ups []ChatUpdate) bool {
		for _, u := range ups {
			if u.Role == chat.RoleHost && strings.HasSuffix(u.Status, " as bob") {
				return true
			}
		}
		return false
	})
	deadline := time.Now().Add(10 * time.Second)
	for len(got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if g := got(); len(g) != 1 || g[0] != "typed while refused" {
		t.Errorf("the other client got %q", g)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.ups {
		for _, l := range u.Lines {
			if l.Text == "typed while refused" && !l.Host {
				t.Errorf("the host's own line is not marked as the host's: %+v", l)
			}
		}
	}
}
