package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
)

// serveChat runs a chat server on addr with its store in dir until stop.
func serveChat(t *testing.T, addr, dir string) (stop func()) {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	s := &chat.Server{Addr: addr, Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Info: func() netio.Stream { return netio.Stream{Name: "x", RTSPPort: 8554, RTSPPath: "/live"} }}
	if err := s.Listen(); err != nil {
		st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ctx)
	}()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			st.Close()
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestChatReconnectShowsNothingTwice: the server restarts on the same
// store; the session reconnects by itself and the window gets each
// message exactly once.
func TestChatReconnectShowsNothingTwice(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	stop := serveChat(t, addr, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	say := func(texts ...string) {
		c, _, err := chat.Dial(ctx, addr, chat.Hello{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, s := range texts {
			c.Chat(s)
		}
		for acks := 0; acks < len(texts); {
			m, ok := <-c.Events()
			if !ok {
				t.Fatal("other client cut off")
			}
			if m.Type == chat.TypeAck {
				acks++
			}
		}
	}
	say("one", "two")

	s := newChatSession(addr, chat.Hello{Name: "viewer"}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.run(ctx)
	}()
	defer func() { cancel(); <-done }()

	seen := map[string]int{}
	var statuses []string
	wait := func(text string) {
		t.Helper()
		for seen[text] == 0 {
			select {
			case u := <-s.updates:
				for _, l := range u.lines {
					if !l.note {
						seen[l.text]++
					}
				}
				if u.status != "" {
					statuses = append(statuses, u.status)
				}
			case <-ctx.Done():
				t.Fatalf("never saw %q; saw %v, statuses %q", text, seen, statuses)
			}
		}
	}
	wait("two")
	stop()
	serveChat(t, addr, dir)
	say("three")
	wait("three")
	for _, text := range []string{"one", "two", "three"} {
		if seen[text] != 1 {
			t.Errorf("%q shown %d times", text, seen[text])
		}
	}
	reconnecting := false
	for _, st := range statuses {
		if st == "chat: reconnecting…" {
			reconnecting = true
		}
	}
	if !reconnecting {
		t.Errorf("statuses %q: never said it was reconnecting", statuses)
	}
}

func TestAbsorbDropsKnownIDs(t *testing.T) {
	s := newChatSession("x", chat.Hello{}, nil, slog.Default())
	n := 0
	for _, id := range []uint64{1, 2, 3, 2, 3, 4} {
		n += len(s.absorb(chat.Msg{Type: chat.TypeChat, ID: id, Text: strconv.FormatUint(id, 10)}))
	}
	if n != 4 || s.hello.Since != 4 {
		t.Fatalf("%d lines, since %d; want 4, 4", n, s.hello.Since)
	}
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "post", ID: 5, Text: "a"})
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "post", ID: 6, Text: "b"})
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "edit", ID: 7, Target: 5, Text: "a2"})
	if got := newestAnnouncement(s.ann); got != "b" {
		t.Fatalf("banner %q, want b", got)
	}
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "delete", ID: 8, Target: 6})
	if got := newestAnnouncement(s.ann); got != "a2" {
		t.Fatalf("banner after delete %q, want a2", got)
	}
}

// TestHeadlessReceivesChat: one chat address is enough for headless too;
// it plays the video the welcome names and counts the chat.
func TestHeadlessReceivesChat(t *testing.T) {
	b := startBroadcaster(t, "320x240", 30, nil)
	addr := chatServer(t, b, "")
	c, _, err := chat.Dial(context.Background(), addr, chat.Hello{Name: "earlier"})
	if err != nil {
		t.Fatal(err)
	}
	c.Chat("said before you came")
	for m := range c.Events() {
		if m.Type == chat.TypeAck {
			break
		}
	}
	c.Close()
	st, _ := headless(t, "--seconds", "2", addr)
	if st.ChatMessages != 1 || st.Shown == 0 || !strings.Contains(st.Chat, "as ") {
		t.Fatalf("stats %+v: want the one message from history, video, and a joined chat", st)
	}
}
