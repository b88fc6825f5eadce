package chat

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// Attacks from issue 11, each written as the attack: real sockets on
// loopback, where 127.0.0.2 and up stand for other machines.

// rawFrom connects from the loopback address from (127.0.0.X).
func rawFrom(t testing.TB, from, addr string) *raw {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &raw{nc, bufio.NewReaderSize(nc, 1<<16)}
}

// hello says hello on r and returns the server's answer: welcome or error.
func (r *raw) hello(t testing.TB, line string) Msg {
	t.Helper()
	fmt.Fprintln(r, line)
	return r.next(t, TypeWelcome, TypeError)
}

// answerPings keeps a joined raw client alive, as a real one would; it
// ends when the connection does.
func (r *raw) answerPings() {
	r.SetReadDeadline(time.Time{})
	go func() {
		for {
			l, err := r.r.ReadSlice('\n')
			if err != nil {
				return
			}
			if bytes.HasPrefix(l, []byte(`{"type":"ping"`)) {
				r.Write(Encode(Msg{Type: TypePong}))
			}
		}
	}()
}

// joinFrom joins as name from the address from, answering pings after.
func joinFrom(t testing.TB, from, addr, name string) (*raw, Msg) {
	t.Helper()
	r := rawFrom(t, from, addr)
	m := r.hello(t, fmt.Sprintf(`{"type":"hello","v":1,"name":%q}`, name))
	if m.Type == TypeWelcome {
		r.answerPings()
	}
	return r, m
}

// refusedNow says whether the server closed or refused r at once.
func refusedNow(r *raw, wait time.Duration) bool {
	r.SetReadDeadline(time.Now().Add(wait))
	_, err := r.r.ReadByte()
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestLockoutBySilentSockets: one machine keeps 511 sockets open that never
// say hello, re-opening those the server closes; a join from another
// address still succeeds. Before issue 11 every join was refused with
// server_full.
func TestLockoutBySilentSockets(t *testing.T) {
	s := startServer(t, nil)
	const silent = 511
	socks := make([]*raw, silent)
	held := 0
	start := time.Now()
	for round := 0; round < 3 && time.Since(start) < 20*time.Second; round++ {
		held = 0
		for i := range socks {
			if socks[i] == nil || refusedNow(socks[i], time.Millisecond) {
				if socks[i] != nil {
					socks[i].Close()
				}
				socks[i] = rawFrom(t, "127.0.0.1", s.addr)
			}
		}
		for _, r := range socks {
			if !refusedNow(r, 5*time.Millisecond) {
				held++
			}
		}
	}
	t.Logf("silent sockets from one address: %d opened, %d held by the server, the rest refused", silent, held)
	if held > DefaultMaxPendingPerAddress {
		t.Errorf("%d silent sockets from one address held, share is %d", held, DefaultMaxPendingPerAddress)
	}
	if _, m := joinFrom(t, "127.0.0.2", s.addr, "alice"); m.Type != TypeWelcome {
		t.Fatalf("join from another address: %+v", m)
	}

	// Many addresses together fill the pool without hello: its oldest
	// squatters make way for a newcomer who says hello.
	for a := 10; a < 18; a++ {
		for range DefaultMaxPendingPerAddress {
			rawFrom(t, fmt.Sprintf("127.0.0.%d", a), s.addr)
		}
	}
	if _, m := joinFrom(t, "127.0.0.3", s.addr, "bob"); m.Type != TypeWelcome {
		t.Fatalf("join with a full pool without hello: %+v", m)
	}
}

// TestLockoutByJoinedClients: one address joins as many clients as it may,
// all answering pings; the next from it is refused (server_full, scope
// address) while another address still joins.
func TestLockoutByJoinedClients(t *testing.T) {
	s := startServer(t, nil)
	n := 0
	for ; n < DefaultMaxClients; n++ {
		_, m := joinFrom(t, "127.0.0.1", s.addr, fmt.Sprintf("bot%d", n))
		if m.Type != TypeWelcome {
			if m.Code != CodeServerFull || m.Scope != ScopeAddress {
				t.Fatalf("refusal %+v, want server_full scope address", m)
			}
			break
		}
	}
	t.Logf("joined clients from one address before the first refusal: %d", n)
	if n != DefaultMaxPerAddress {
		t.Fatalf("%d joined from one address, share %d", n, DefaultMaxPerAddress)
	}
	if _, m := joinFrom(t, "127.0.0.2", s.addr, "alice"); m.Type != TypeWelcome {
		t.Fatalf("join from another address: %+v", m)
	}
}

// TestLimitsAtScale fills every limit of a server with its defaults, in a
// process of its own so its memory can be read, and reports the figures.
func TestLimitsAtScale(t *testing.T) {
	testenv.SkipShort(t, "fills a server with 576 connections")
	addr, child := startChild(t, t.TempDir())
	addrs := DefaultMaxClients / DefaultMaxPerAddress
	for a := range addrs {
		for i := range DefaultMaxPerAddress {
			if _, m := joinFrom(t, fmt.Sprintf("127.0.1.%d", a+1), addr, fmt.Sprintf("u%d-%d", a, i)); m.Type != TypeWelcome {
				t.Fatalf("client %d from address %d refused: %+v", i, a, m)
			}
		}
	}
	if _, m := joinFrom(t, "127.0.2.1", addr, "one-too-many"); m.Code != CodeServerFull || m.Scope != ScopeClients {
		t.Fatalf("client %d: %+v, want server_full scope clients", DefaultMaxClients+1, m)
	}
	var pending []*raw
	for a := range DefaultMaxPending / DefaultMaxPendingPerAddress {
		for range DefaultMaxPendingPerAddress {
			pending = append(pending, rawFrom(t, fmt.Sprintf("127.0.3.%d", a+1), addr))
		}
	}
	time.Sleep(200 * time.Millisecond)
	for i, r := range pending {
		if refusedNow(r, time.Millisecond) {
			t.Fatalf("silent connection %d refused below the pool's size", i)
		}
	}
	rss, err := testenv.RSS(child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("server at its limits: %d joined (%d addresses × %d), %d without hello; VmRSS %d kB",
		DefaultMaxClients, addrs, DefaultMaxPerAddress, len(pending), rss>>10)
}

// startChild runs the test binary as a server with its defaults (see
// runChild) and returns its address and process, killed when the test
// ends.
func startChild(t *testing.T, dir string) (string, *exec.Cmd) {
	cmd := testenv.Child(serverEnv, dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() || strings.HasPrefix(sc.Text(), "error") {
		t.Fatalf("server: %s", sc.Text())
	}
	return sc.Text(), cmd
}

// TestEscapedHistoryLockout: eight clients each send an in-rate burst of
// 2 KiB messages that grow when JSON-escaped ('<' took six bytes for one,
// '"' takes two); a client reconnecting with since gets a welcome it can
// take, and pages back to every message. Before issue 11 the welcome was
// trimmed by raw bytes and came to 1.5 MB, which no client took.
func TestEscapedHistoryLockout(t *testing.T) {
	s := startServer(t, nil)
	watcher, _ := dial(t, s.addr, "watcher", "")
	watcher.Chat("before the flood")
	since := next(t, watcher, TypeAck).ID
	watcher.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		// Written as the attacker did, not through Encode.
		r := rawFrom(t, "127.0.0.1", s.addr)
		if m := r.hello(t, fmt.Sprintf(`{"type":"hello","v":1,"name":"flooder%d"}`, i)); m.Type != TypeWelcome {
			t.Fatal(m)
		}
		text := strings.Repeat("<", MaxText)
		if i%4 != 0 {
			text = strings.Repeat(`\"`, MaxText)
		}
		wg.Go(func() {
			for j := range rateBurst {
				fmt.Fprintf(r, `{"type":"chat","text":"%s","ref":"%d"}`+"\n", text, j)
			}
			for range rateBurst {
				if m := r.next(t, TypeAck, TypeError); m.Type != TypeAck {
					t.Errorf("flooder %d: %+v", i, m)
				}
			}
		})
	}
	wg.Wait()
	const sent = 8 * rateBurst

	// The welcome on the wire, as any client sees it.
	r := rawFrom(t, "127.0.0.2", s.addr)
	fmt.Fprintf(r, `{"type":"hello","v":1,"name":"measure","since":%d}`+"\n", since)
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := r.r.ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("welcome after the flood: %d bytes (client limit %d)", len(line), MaxServerLine)
	if len(line) > maxPageBytes {
		t.Fatalf("welcome of %d bytes, bound %d", len(line), maxPageBytes)
	}
	r.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, w, err := Dial(ctx, s.addr, Hello{Name: "lsview", Since: since})
	if err != nil {
		t.Fatalf("reconnect with since: %v", err)
	}
	defer c.Close()
	if len(w.Messages) == 0 || w.More != (len(w.Messages) < sent) {
		t.Fatalf("welcome: %d messages of %d, more=%v", len(w.Messages), sent, w.More)
	}
	t.Logf("welcome carries %d of %d messages", len(w.Messages), sent)
	got := map[uint64]bool{}
	for _, m := range w.Messages {
		got[m.ID] = true
	}
	oldest := w.Messages[0].ID
	for pages := 0; oldest > since+1; pages++ {
		if pages > sent {
			t.Fatal("paging does not end")
		}
		ref, _ := c.History(oldest, MaxHistoryPage)
		h := next(t, c, TypeHistory)
		if h.Ref != ref || len(h.Messages) == 0 {
			t.Fatalf("history page %+v", h)
		}
		for _, m := range h.Messages {
			if m.ID > since {
				got[m.ID] = true
			}
		}
		oldest = h.Messages[0].ID
	}
	if len(got) != sent {
		t.Fatalf("recovered %d of %d messages", len(got), sent)
	}
}

// TestSinceOverflow: since = 2^64-1 used to wrap to 0 in the store and
// return the oldest messages; a since at or beyond the newest id gets none.
func TestSinceOverflow(t *testing.T) {
	s := startServer(t, nil)
	a, _ := dial(t, s.addr, "alice", "")
	for i := range 3 {
		a.Chat(fmt.Sprintf("old %d", i))
		next(t, a, TypeAck)
	}
	r := rawFrom(t, "127.0.0.1", s.addr)
	w := r.hello(t, `{"type":"hello","v":1,"name":"future","since":18446744073709551615}`)
	if w.Type != TypeWelcome || len(w.Messages) != 0 {
		t.Fatalf("since 2^64-1: %+v", w)
	}
}

// TestClientRecoversFromLongLines: a server (not this one) that sends lines
// longer than a client takes: the client library joins again without
// since, and asks for smaller history pages, instead of retrying forever.
func TestClientRecoversFromLongLines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	huge := func(m Msg) []byte {
		m.Messages = []Msg{{Type: TypeChat, ID: 1, Text: strings.Repeat("x", MaxServerLine)}}
		return Encode(m)
	}
	var limits []int
	var mu sync.Mutex
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				sc := bufio.NewScanner(nc)
				for sc.Scan() {
					m, _ := Decode(sc.Bytes())
					switch {
					case m.Type == TypeHello && m.Since != 0:
						nc.Write(huge(Msg{Type: TypeWelcome, V: Version}))
						return
					case m.Type == TypeHello:
						nc.Write(Encode(Msg{Type: TypeWelcome, V: Version, You: m.Name}))
					case m.Type == TypeHistory:
						mu.Lock()
						limits = append(limits, m.Limit)
						mu.Unlock()
						h := Msg{Type: TypeHistory, Ref: m.Ref}
						if m.Limit > 20 {
							nc.Write(huge(h))
						} else {
							h.Messages = []Msg{{Type: TypeChat, ID: 1, Text: "fits"}}
							nc.Write(Encode(h))
						}
					}
				}
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, w, err := Dial(ctx, ln.Addr().String(), Hello{Name: "lsview", Since: 42})
	if err != nil {
		t.Fatalf("dial against a server with a huge welcome: %v", err)
	}
	defer c.Close()
	if w.You != "lsview" {
		t.Fatalf("welcome %+v", w)
	}
	ref, _ := c.History(0, 200)
	h := next(t, c, TypeHistory, TypeError)
	if h.Type != TypeHistory || h.Ref != ref || len(h.Messages) != 1 {
		t.Fatalf("history answer %+v", h)
	}
	mu.Lock()
	t.Logf("history limits asked: %v", limits)
	mu.Unlock()
}

// TestHostKeyGuessing: wrong keys from one address are logged and slowed
// down, while the right key from another address still works at once, and
// the key itself reaches no log line.
func TestHostKeyGuessing(t *testing.T) {
	var logs testenv.SyncBuffer
	s := startServer(t, func(s *Server) { s.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	var took []time.Duration
	for i := range keyFreeTries + 4 {
		r := rawFrom(t, "127.0.0.1", s.addr)
		t0 := time.Now()
		m := r.hello(t, fmt.Sprintf(`{"type":"hello","v":1,"name":"guess%d","role":"host","key":"%032x"}`, i, i))
		took = append(took, time.Since(t0))
		if m.Code != CodeForbidden {
			t.Fatalf("guess %d: %+v", i, m)
		}
		r.Close()
	}
	t.Logf("answers to wrong keys from one address took %v", took)
	for i, d := range took {
		if i >= keyFreeTries && d < keyFirstDelay<<(i-keyFreeTries) {
			t.Errorf("guess %d answered after %v, want at least %v", i, d, keyFirstDelay<<(i-keyFreeTries))
		}
	}
	t0 := time.Now()
	r := rawFrom(t, "127.0.0.2", s.addr)
	m := r.hello(t, fmt.Sprintf(`{"type":"hello","v":1,"name":"teacher","role":"host","key":%q}`, s.HostKey))
	if m.Type != TypeWelcome || m.Role != RoleHost || time.Since(t0) > keyFirstDelay {
		t.Fatalf("right key from another address: %+v after %v", m, time.Since(t0))
	}
	out := logs.String()
	if !strings.Contains(out, "wrong host key") || !strings.Contains(out, "127.0.0.1") {
		t.Errorf("wrong keys not logged with their address:\n%s", out)
	}
	if strings.Contains(out, s.HostKey) {
		t.Errorf("the host key reached the log:\n%s", out)
	}
}

// TestAcksBeforeBye: a flooder cut off with bye gets the ack of every
// message of its that was stored, before the bye.
func TestAcksBeforeBye(t *testing.T) {
	s := startServer(t, nil)
	r := rawFrom(t, "127.0.0.1", s.addr)
	if m := r.hello(t, `{"type":"hello","v":1,"name":"flooder"}`); m.Type != TypeWelcome {
		t.Fatal(m)
	}
	var lines bytes.Buffer
	for i := range rateBurst + floodStrike {
		fmt.Fprintf(&lines, `{"type":"chat","text":"flood %d","ref":"%d"}`+"\n", i, i)
	}
	r.Write(lines.Bytes())
	acked := map[uint64]bool{}
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := r.r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("no bye: %v", err)
		}
		m, _ := Decode(l[:len(l)-1])
		if m.Type == TypeAck {
			acked[m.ID] = true
		}
		if m.Type == TypeBye {
			break
		}
	}
	recs, _ := s.Store.History(0, 1000)
	stored := 0
	for _, rec := range recs {
		if rec.From == "flooder" {
			stored++
			if !acked[rec.ID] {
				t.Errorf("message %d stored, not acknowledged before the bye", rec.ID)
			}
		}
	}
	if stored == 0 {
		t.Fatal("nothing stored")
	}
	t.Logf("flooder: %d stored, %d acknowledged before the bye", stored, len(acked))
}

// TestAnnouncementNotExported: when the export fails the host gets
// not_exported, not an ack; the change stands and everyone sees it.
func TestAnnouncementNotExported(t *testing.T) {
	s := startServer(t, func(s *Server) {
		s.Announced = func([]store.Announcement) error { return errors.New("disk full") }
	})
	host, _ := dial(t, s.addr, "teacher", s.HostKey)
	viewer, _ := dial(t, s.addr, "pupil", "")
	ref, _ := host.Announce(store.OpPost, 0, "Exam on Friday")
	m := next(t, host, TypeAck, TypeError)
	if m.Type != TypeError || m.Code != CodeNotExported || m.Ref != ref || m.ID == 0 {
		t.Fatalf("host got %+v, want error not_exported with the id", m)
	}
	if a := next(t, viewer, TypeAnnouncement); a.ID != m.ID {
		t.Fatalf("viewer got %+v", a)
	}
	if got := s.Store.Announcements(); len(got) != 1 {
		t.Fatalf("store holds %+v", got)
	}
}
