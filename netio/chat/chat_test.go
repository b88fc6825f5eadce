package chat

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

const serverEnv = "LSB_CHAT_TEST_SERVER"

func TestMain(m *testing.M) { testenv.Main(m, testenv.Children{serverEnv: runChild}) }

// runChild serves on a free port with the store in dir and prints the
// address, for the kill -9 test.
func runChild(dir string) int {
	st, err := store.Open(filepath.Join(dir, "chat.db"), store.Retention{})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	s := &Server{Addr: "127.0.0.1:0", Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := s.Listen(); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(s.ListenAddr())
	s.Serve(context.Background())
	return 0
}

type testServer struct {
	*Server
	addr string
}

func startServer(t testing.TB, tweak func(*Server)) *testServer {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: "127.0.0.1:0", Store: st, HostKey: "0123456789abcdef0123456789abcdef",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Info:   func() netio.Stream { return netio.Stream{Name: "Test", RTSPPort: 8554, RTSPPath: "/live"} }}
	if tweak != nil {
		tweak(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Serve(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	return &testServer{Server: s, addr: s.ListenAddr().String()}
}

func dial(t testing.TB, addr, name, key string) (*Client, *Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, w, err := Dial(ctx, addr, Hello{Name: name, HostKey: key})
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, w
}

// next waits for the next event of one of the types, skipping others.
func next(t testing.TB, c *Client, types ...string) Msg {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection ended waiting for %v: %v", types, c.Err())
			}
			for _, ty := range types {
				if m.Type == ty {
					return m
				}
			}
		case <-timeout:
			t.Fatalf("no %v in 10 s", types)
		}
	}
}

func TestWelcome(t *testing.T) {
	s := startServer(t, nil)
	_, w := dial(t, s.addr, "  alice ", "")
	if w.You != "alice" || w.Role != RoleViewer || w.Stream == nil || w.Stream.RTSPPath != "/live" || len(w.Present) != 1 {
		t.Fatalf("welcome %+v", w)
	}
}

// TestWelcomeStreamNames: the welcome's stream keeps the JSON names
// viewers of protocol version 1 read.
func TestWelcomeStreamNames(t *testing.T) {
	line := Encode(Msg{Type: TypeWelcome, Stream: &netio.Stream{Name: "n", RTSPPort: 1, RTSPPath: "/p",
		Width: 2, Height: 3, FPS: 4, Instance: "i"}})
	var w struct {
		Stream map[string]any `json:"stream"`
	}
	if err := json.Unmarshal(line, &w); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"name": "n", "rtsp_port": 1.0, "rtsp_path": "/p", "width": 2.0, "height": 3.0, "fps": 4.0, "instance": "i"}
	if !maps.Equal(w.Stream, want) {
		t.Fatalf("stream on the wire %v, want %v", w.Stream, want)
	}
}

// TestManyClients: 200 clients each send messages; every client receives
// every message exactly once, in the same order.
func TestManyClients(t *testing.T) {
	// All from one address: this test is about fan-out, not shares.
	s := startServer(t, func(s *Server) { s.MaxPerAddress = DefaultMaxClients })
	const n, each = 200, 3
	clients := make([]*Client, n)
	for i := range clients {
		clients[i], _ = dial(t, s.addr, fmt.Sprintf("user%d", i), "")
	}
	var wg sync.WaitGroup
	got := make([][]uint64, n)
	for i, c := range clients {
		wg.Go(func() {
			for j := range each {
				if _, err := c.Chat(fmt.Sprintf("hello %d from %d", j, i)); err != nil {
					t.Errorf("send: %v", err)
				}
			}
			seen := map[string]bool{}
			timeout := time.After(60 * time.Second)
			for len(got[i]) < n*each {
				select {
				case m := <-c.Events():
					if m.Type != TypeChat {
						continue
					}
					if seen[m.Text] {
						t.Errorf("client %d got %q twice", i, m.Text)
					}
					seen[m.Text] = true
					got[i] = append(got[i], m.ID)
				case <-timeout:
					t.Errorf("client %d got %d of %d messages", i, len(got[i]), n*each)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != len(got[0]) {
			t.Fatalf("client %d got %d messages, client 0 %d", i, len(got[i]), len(got[0]))
		}
		for j := range got[i] {
			if j > 0 && got[i][j] <= got[i][j-1] {
				t.Fatalf("client %d: id %d after %d", i, got[i][j], got[i][j-1])
			}
			if got[i][j] != got[0][j] {
				t.Fatalf("client %d message %d is id %d, client 0 has %d", i, j, got[i][j], got[0][j])
			}
		}
	}
}

func TestHistoryAndReconnect(t *testing.T) {
	s := startServer(t, nil)
	a, _ := dial(t, s.addr, "alice", "")
	var last uint64
	for i := range 5 {
		a.Chat(fmt.Sprintf("m%d", i))
		last = next(t, a, TypeAck).ID
	}
	_, w := dial(t, s.addr, "bob", "")
	if len(w.Messages) != 5 || w.Messages[0].Text != "m0" || w.Messages[4].ID != last {
		t.Fatalf("late joiner's history: %+v", w.Messages)
	}
	a.Chat("m5")
	next(t, a, TypeAck)
	// Reconnecting with since: only what came after.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, w2, err := Dial(ctx, s.addr, Hello{Name: "carol", Since: last})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(w2.Messages) != 1 || w2.Messages[0].Text != "m5" {
		t.Fatalf("since %d gave %+v", last, w2.Messages)
	}
	// Older pages.
	c.History(last, 2)
	h := next(t, c, TypeHistory)
	if len(h.Messages) != 2 || h.Messages[1].ID != last-1 || !h.More {
		t.Fatalf("history page %+v", h)
	}
}

func TestAnnouncements(t *testing.T) {
	var mu sync.Mutex
	var exported [][]store.Announcement // what the Announced hook was given, in order
	s := startServer(t, func(s *Server) {
		s.Announced = func(list []store.Announcement) error {
			mu.Lock()
			defer mu.Unlock()
			exported = append(exported, list)
			return nil
		}
	})
	host, w := dial(t, s.addr, "teacher", s.HostKey)
	if w.Role != RoleHost {
		t.Fatalf("role %q with the host key", w.Role)
	}
	viewer, _ := dial(t, s.addr, "pupil", "")
	host.Announce(store.OpPost, 0, "Exam on Friday")
	id := next(t, host, TypeAck).ID
	if m := next(t, viewer, TypeAnnouncement); m.Text != "Exam on Friday" || m.ID != id {
		t.Fatalf("viewer got %+v", m)
	}
	host.Announce(store.OpEdit, id, "Exam on Monday")
	next(t, host, TypeAck)
	// The export happens before the ack: by now it holds the edit, and the
	// one before it (what announcements.json.backup keeps) the post.
	mu.Lock()
	if n := len(exported); n != 2 || len(exported[1]) != 1 || exported[1][0].Text != "Exam on Monday" ||
		len(exported[0]) != 1 || exported[0][0].Text != "Exam on Friday" {
		t.Fatalf("exported announcements %+v", exported)
	}
	mu.Unlock()
	if m := next(t, viewer, TypeAnnouncement); m.Op != store.OpEdit || m.Target != id || m.Text != "Exam on Monday" {
		t.Fatalf("edit arrived as %+v", m)
	}
	_, w = dial(t, s.addr, "late", "")
	if len(w.Announcements) != 1 || w.Announcements[0].Text != "Exam on Monday" || w.Announcements[0].Edited == "" {
		t.Fatalf("late joiner's announcements %+v", w.Announcements)
	}
	host.Announce(store.OpDelete, id, "")
	next(t, host, TypeAck)
	host.Announce(store.OpDelete, id, "")
	if e := next(t, host, TypeError); e.Code != CodeNotFound {
		t.Fatalf("second delete: %+v", e)
	}
	viewer.Announce(store.OpPost, 0, "I am the teacher now")
	if e := next(t, viewer, TypeError); e.Code != CodeForbidden {
		t.Fatalf("viewer's announcement: %+v", e)
	}
}

func TestHostKeyRefused(t *testing.T) {
	s := startServer(t, nil)
	_, _, err := Dial(context.Background(), s.addr, Hello{Name: "mallory", HostKey: "guess"})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeForbidden {
		t.Fatalf("wrong host key: %v", err)
	}
}

func TestNameTaken(t *testing.T) {
	s := startServer(t, nil)
	dial(t, s.addr, "alice", "")
	_, _, err := Dial(context.Background(), s.addr, Hello{Name: "ALICE"})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeNameTaken || e.Suggestion != "ALICE2" {
		t.Fatalf("duplicate name: %v", err)
	}
}

// raw is a hand-driven connection for protocol abuse.
type raw struct {
	net.Conn
	r *bufio.Reader
}

func rawDial(t *testing.T, addr, name string) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := &raw{nc, bufio.NewReaderSize(nc, 1<<16)}
	if name != "" {
		fmt.Fprintf(nc, `{"type":"hello","v":1,"name":%q}`+"\n", name)
		if m := r.next(t, TypeWelcome, TypeError); m.Type != TypeWelcome {
			t.Fatalf("hello: %+v", m)
		}
	}
	return r
}

// next reads until the server sends a message of one of types.
func (r *raw) next(t testing.TB, types ...string) Msg {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := r.r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("waiting for %v: %v", types, err)
		}
		m, perr := Decode(line[:len(line)-1])
		if perr != nil {
			t.Fatalf("server sent %q: %v", line, perr)
		}
		for _, ty := range types {
			if m.Type == ty {
				return m
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	s := startServer(t, nil)
	witness, _ := dial(t, s.addr, "witness", "")
	for _, tc := range []struct {
		name  string
		lines []string
		code  string
	}{
		{"invalid JSON", []string{`{"type":"chat",`}, CodeBadJSON},
		{"not an object", []string{`[1,2]`}, CodeBadJSON},
		{"no type", []string{`{"text":"x"}`}, CodeBadJSON},
		{"unknown type", []string{`{"type":"shout","text":"x"}`}, CodeUnknownType},
		{"oversize line", []string{`{"type":"chat","text":"` + strings.Repeat("a", MaxLine) + `"}`}, CodeTooLong},
		{"oversize text", []string{`{"type":"chat","text":"` + strings.Repeat("a", MaxText+1) + `"}`}, CodeTooLong},
		{"invalid UTF-8", []string{"{\"type\":\"chat\",\"text\":\"\xff\xfe\"}"}, CodeBadUTF8},
		{"escape sequence", []string{`{"type":"chat","text":"\u001b[2J\u001b[31mgotcha"}`}, CodeBadText},
		{"C1 control", []string{`{"type":"chat","text":"a\u009bb"}`}, CodeBadText},
		{"bidi override", []string{`{"type":"chat","text":"abc\u202etxt.exe"}`}, CodeBadText},
		{"empty text", []string{`{"type":"chat","text":"   "}`}, CodeBadText},
		{"viewer announcement", []string{`{"type":"announce","op":"post","text":"x"}`}, CodeForbidden},
		{"second hello", []string{`{"type":"hello","v":1,"name":"again"}`}, CodeBadRequest},
		{"flood", func() []string {
			var l []string
			for i := range 40 {
				l = append(l, fmt.Sprintf(`{"type":"chat","text":"flood %d"}`, i))
			}
			return l
		}(), CodeRateLimited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := s.Store.History(0, 1000)
			r := rawDial(t, s.addr, "abuser")
			for _, l := range tc.lines {
				fmt.Fprintln(r, l)
			}
			if e := r.next(t, TypeError); e.Code != tc.code {
				t.Fatalf("error %+v, want code %s", e, tc.code)
			}
			r.Close()
			if tc.code != CodeRateLimited {
				// Nothing stored: the witness's own message gets the next id.
				witness.Chat("still here")
				ack := next(t, witness, TypeAck)
				after, _ := s.Store.History(0, 1000)
				if len(after) != len(before)+1 || after[len(after)-1].ID != ack.ID {
					t.Fatalf("store went from %d to %d records", len(before), len(after))
				}
			}
			// The service carries on for everyone else.
			witness.Who()
			next(t, witness, TypeWho)
			// Let "abuser" leave before the next case, and give the witness
			// back the tokens it spent (two messages at one per 100 ms), so
			// that its own rate limit never trips however fast the cases run.
			time.Sleep(250 * time.Millisecond)
		})
	}
	t.Run("before hello", func(t *testing.T) {
		r := rawDial(t, s.addr, "")
		fmt.Fprintln(r, `{"type":"chat","text":"hi"}`)
		if e := r.next(t, TypeError); e.Code != CodeBadRequest {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("other version", func(t *testing.T) {
		r := rawDial(t, s.addr, "")
		fmt.Fprintln(r, `{"type":"hello","v":99,"name":"future"}`)
		if e := r.next(t, TypeError); e.Code != CodeVersion {
			t.Fatalf("%+v", e)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		for _, name := range []string{"", strings.Repeat("n", 33), "a\u001bb"} {
			_, _, err := Dial(context.Background(), s.addr, Hello{Name: name})
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeBadName {
				t.Fatalf("name %q: %v", name, err)
			}
		}
	})
}

// TestSlowClientCutOff: a client that stops reading is disconnected while
// the others keep getting every message.
func TestSlowClientCutOff(t *testing.T) {
	s := startServer(t, func(s *Server) { s.Queue = 2 * commitBatch })
	slow := rawDial(t, s.addr, "slow")
	// It never reads again, and takes little into its socket.
	slow.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	reader, _ := dial(t, s.addr, "reader", "")
	big := strings.Repeat("x", MaxText-16)
	const senders, each = 30, 20
	var wg sync.WaitGroup
	for i := range senders {
		c, _ := dial(t, s.addr, fmt.Sprintf("sender%d", i), "")
		wg.Go(func() {
			for j := range each {
				c.Chat(fmt.Sprintf("%d-%d %s", i, j, big))
			}
		})
	}
	wg.Wait()
	got, left := 0, false
	timeout := time.After(30 * time.Second)
	for got < senders*each || !left {
		select {
		case m, ok := <-reader.Events():
			if !ok {
				t.Fatalf("reader cut off: %v", reader.Err())
			}
			switch {
			case m.Type == TypeChat:
				got++
			case m.Type == TypePresence && m.Event == "leave" && m.Name == "slow":
				left = true
			}
		case <-timeout:
			t.Fatalf("reader got %d of %d messages; slow client cut off: %v", got, senders*each, left)
		}
	}
}

// TestDeadPeer: a client that goes silent (no pings) is dropped within
// DeadAfter.
func TestDeadPeer(t *testing.T) {
	s := startServer(t, nil)
	watcher, _ := dial(t, s.addr, "watcher", "")
	rawDial(t, s.addr, "ghost")
	start := time.Now()
	timeout := time.After(DeadAfter + 2*PingEvery)
	for left := false; !left; {
		select {
		case m := <-watcher.Events():
			left = m.Type == TypePresence && m.Event == "leave" && m.Name == "ghost"
		case <-timeout:
			t.Fatalf("silent peer still here after %v", time.Since(start))
		}
	}
	if el := time.Since(start); el > DeadAfter+PingEvery {
		t.Fatalf("dead peer dropped after %v", el)
	}
}

// TestKill9 kills the server in the middle of a burst and checks that every
// acknowledged message is in the store afterwards.
func TestKill9(t *testing.T) {
	dir := t.TempDir()
	addr, cmd := startChild(t, dir)
	const writers = 8
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	for i := range writers {
		c, _ := dial(t, addr, fmt.Sprintf("w%d", i), "")
		wg.Go(func() {
			sent := map[string]string{}
			for j := range 500 {
				text := fmt.Sprintf("w%d-%d", i, j)
				ref, err := c.Chat(text)
				if err != nil {
					return
				}
				sent[ref] = text
			wait:
				for {
					m, ok := <-c.Events()
					switch {
					case !ok:
						return
					case m.Type == TypeAck:
						mu.Lock()
						acked[m.ID] = sent[m.Ref]
						mu.Unlock()
						break wait
					case m.Type == TypeError && m.Code == CodeRateLimited:
						time.Sleep(100 * time.Millisecond)
						break wait
					}
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d messages acknowledged before the kill", len(acked))
	}
	st, err := store.Open(filepath.Join(dir, "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.History(0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	have := map[uint64]string{}
	for _, r := range recs {
		have[r.ID] = r.Text
	}
	for id, text := range acked {
		if have[id] != text {
			t.Errorf("acknowledged message %d %q lost (store has %q)", id, text, have[id])
		}
	}
	t.Logf("%d acknowledged, %d stored, all acknowledged ones present", len(acked), len(recs))
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"type":"chat","text":"hi"}`, `{"type":"hello","v":1,"name":"a"}`, `[]`, "\xff", `{"type":"x"} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Decode(line)
		if err != nil {
			return
		}
		again, err2 := Decode(Encode(m)[:len(Encode(m))-1])
		if err2 != nil || again.Type != m.Type || again.Text != m.Text {
			t.Fatalf("%q decodes to %+v, which re-encodes to something else: %v", line, m, err2)
		}
	})
}
