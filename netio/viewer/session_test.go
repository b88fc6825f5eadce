package viewer

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// These tests play the real lsbroadcast, built once per run, on loopback
// with discovery off.

func TestMain(m *testing.M) { testenv.Main(m, nil) }

// say posts texts as another chat client and waits for their acks.
func say(t *testing.T, ctx context.Context, addr string, texts ...string) {
	t.Helper()
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

// watcher runs a session and reads what it delivers, as a viewer would.
type watcher struct {
	s      *Session
	cancel context.CancelFunc
	runErr chan error

	mu       sync.Mutex
	frames   int
	seen     map[string]int // people's messages by text
	statuses []string
	readers  sync.WaitGroup
}

func watch(t *testing.T, st Stream, name string) *watcher {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	w := &watcher{s: NewSession(Config{Stream: st, Hello: chat.Hello{Name: name}, Transport: rtsp.TransportTCP, Logger: quietLog()}),
		cancel: cancel, runErr: make(chan error, 1), seen: map[string]int{}}
	go func() { w.runErr <- w.s.Run(ctx) }()
	w.readers.Add(2)
	go func() {
		defer w.readers.Done()
		for range w.s.Frames() {
			w.mu.Lock()
			w.frames++
			w.mu.Unlock()
		}
	}()
	go func() {
		defer w.readers.Done()
		for u := range w.s.Updates() {
			w.mu.Lock()
			for _, l := range u.Lines {
				if !l.Note {
					w.seen[l.Text]++
				}
			}
			if u.Status != "" {
				w.statuses = append(w.statuses, u.Status)
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// until polls cond (under the watcher's lock) for at most d.
func (w *watcher) until(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		w.mu.Lock()
		ok := cond()
		w.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Fatalf("%s: not within %v; frames %d, seen %v, statuses %q, stats %+v", what, d, w.frames, w.seen, w.statuses, w.s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the session and checks that Run and the readers end with it.
func (w *watcher) stop(t *testing.T) {
	w.cancel()
	select {
	case err := <-w.runErr:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		w.runErr <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	w.readers.Wait() // Frames and Updates were closed
}

// TestSessionOneAddressIsEnough: given only the chat address, the session
// learns the RTSP URL and the name from the welcome, plays, and joins.
func TestSessionOneAddressIsEnough(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 30, nil)
	w := watch(t, HostStream("127.0.0.1", b.ChatPort), "probe")
	w.until(t, 15*time.Second, "30 frames", func() bool { return w.frames >= 30 })
	st := w.s.Stats()
	if got := w.s.Stream(); got.URL != b.URL() || got.GuessedURL {
		t.Errorf("stream %+v: want the welcome's %s", got, b.URL())
	}
	if st.State != Playing || st.Transport != "TCP" || st.Frames < 30 || st.Lost != 0 || !strings.Contains(st.Chat, "as probe") {
		t.Errorf("stats %+v", st)
	}
	if !w.s.Send("hello from the session") {
		t.Fatal("Send refused a line")
	}
	w.until(t, 10*time.Second, "own line echoed", func() bool { return w.seen["hello from the session"] == 1 })
	if st := w.s.Stats(); st.ChatMessages != 1 {
		t.Errorf("chat messages %d, want 1", st.ChatMessages)
	}
}

// TestSessionReconnectsShowingNothingTwice: the broadcaster restarts on the
// same ports and store; video and chat come back by themselves and each
// message reaches the reader exactly once.
func TestSessionReconnectsShowingNothingTwice(t *testing.T) {
	b := testenv.StartBroadcaster(t, "320x240", 30, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	say(t, ctx, b.ChatAddr(), "one", "two")
	st, err := URLStream(b.URL())
	if err != nil {
		t.Fatal(err)
	}
	st.Kind, st.Chat, st.Proto = KindLsview, b.ChatAddr(), chat.Version // as discovery lists it
	w := watch(t, st, "viewer")
	w.until(t, 15*time.Second, "history and video", func() bool { return w.seen["two"] == 1 && w.frames > 0 })

	b.Stop()
	w.until(t, 15*time.Second, "reconnecting", func() bool { return w.s.State() == Reconnecting })
	before := w.s.Stats().Frames
	b = testenv.StartBroadcaster(t, "320x240", 30, b)
	say(t, ctx, b.ChatAddr(), "three")
	w.until(t, 20*time.Second, "video and chat back", func() bool {
		return w.seen["three"] == 1 && w.s.State() == Playing && w.s.Stats().Frames > before+30
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, text := range []string{"one", "two", "three"} {
		if w.seen[text] != 1 {
			t.Errorf("%q delivered %d times", text, w.seen[text])
		}
	}
	reconnecting := false
	for _, st := range w.statuses {
		if st == "chat: reconnecting…" {
			reconnecting = true
		}
	}
	if !reconnecting {
		t.Errorf("statuses %q: never said it was reconnecting", w.statuses)
	}
}

// TestSessionNoVideo: a first connection that fails ends Run with
// ErrNoVideo, and closes what it delivers.
func TestSessionNoVideo(t *testing.T) {
	st, err := URLStream("rtsp://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) + "/live")
	if err != nil {
		t.Fatal(err)
	}
	s := NewSession(Config{Stream: st, Logger: quietLog()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = s.Run(ctx)
	if !errors.Is(err, ErrNoVideo) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Run: %v; want ErrNoVideo, connection refused", err)
	}
	if _, ok := <-s.Frames(); ok {
		t.Error("Frames still open")
	}
	if _, ok := <-s.Updates(); ok {
		t.Error("Updates still open")
	}
}
