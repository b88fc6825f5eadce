package viewer

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// fullThenWelcome is a chat server on loopback that refuses the first
// joins with server_full of each scope (and a bye without one, as the
// pending pool sends), then welcomes and reports an announcement that was
// stored but not exported.
func fullThenWelcome(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	refusals := []chat.Msg{
		{Type: chat.TypeError, Code: chat.CodeServerFull, Scope: chat.ScopeClients, Message: "server full"},
		{Type: chat.TypeError, Code: chat.CodeServerFull, Scope: chat.ScopeAddress, Message: "64 clients from your address"},
		{Type: chat.TypeError, Code: chat.CodeServerFull, Scope: chat.ScopePending, Message: "too many waiting"},
		{Type: chat.TypeBye, Code: chat.CodeServerFull, Reason: "room for someone new"},
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := bufio.NewReader(nc).ReadString('\n'); err != nil {
				nc.Close()
				continue
			}
			if i < len(refusals) {
				nc.Write(chat.Encode(refusals[i]))
				nc.Close()
				continue
			}
			nc.Write(chat.Encode(chat.Msg{Type: chat.TypeWelcome, V: chat.Version, You: "me", Count: 1}))
			nc.Write(chat.Encode(chat.Msg{Type: chat.TypeError, Code: chat.CodeNotExported, Ref: "r9", ID: 5,
				Message: "announcements.json: no space left on device"}))
			wg.Add(1)
			go func() { // hold it open until the test ends
				defer wg.Done()
				defer nc.Close()
				buf := make([]byte, 512)
				for {
					if _, err := nc.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestChatRetriesServerFullAndReportsNotExported: server_full of every
// scope is retried with back-off until the join succeeds, and not_exported
// is shown as what it is, a saved announcement, not a failure.
func TestChatRetriesServerFullAndReportsNotExported(t *testing.T) {
	addr := fullThenWelcome(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := newChatSession(addr, chat.Hello{Name: "me"}, quietLog())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var joined, saved, full bool
	for !(joined && saved) {
		select {
		case u := <-s.updates:
			full = full || strings.Contains(u.Status, "server full")
			joined = joined || strings.Contains(u.Status, "as me")
			for _, l := range u.Lines {
				if strings.Contains(l.Text, "refused") || strings.Contains(l.Text, "chat error") {
					t.Fatalf("gave up or reported a failure: %+v", l)
				}
				saved = saved || strings.Contains(l.Text, "announcement saved, not exported to announcements.json")
			}
		case <-ctx.Done():
			t.Fatalf("joined %v, not-exported note %v within 20 s", joined, saved)
		}
	}
	if !full {
		t.Error("status never said the server was full")
	}
}

// TestChatRefusalsThatEndIt: only refusals retrying can't fix end the chat;
// a taken name once joined is our own ghost and is retried.
func TestChatRefusalsThatEndIt(t *testing.T) {
	for _, tc := range []struct {
		code   string
		joined bool
		final  bool
	}{
		{chat.CodeBadName, false, true},
		{chat.CodeForbidden, true, true},
		{chat.CodeVersion, false, true},
		{chat.CodeNameTaken, false, true},
		{chat.CodeNameTaken, true, false},
		{chat.CodeServerFull, false, false},
		{chat.CodeInternal, false, false},
		{chat.CodeTooLong, true, false},
	} {
		if got := final(&chat.Error{Code: tc.code}, tc.joined); got != tc.final {
			t.Errorf("%s (joined %v): final %v, want %v", tc.code, tc.joined, got, tc.final)
		}
	}
}
