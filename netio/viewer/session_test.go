package viewer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// These tests play the real lsbroadcast, built once per run, on loopback
// with discovery off.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func lsbroadcastBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "viewer-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lsbroadcast")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/lsbroadcast/lsbroadcast/cmd/lsbroadcast").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build lsbroadcast: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// broadcaster is lsbroadcast's test pattern on loopback; restart keeps its
// ports and state (so its chat history).
type broadcaster struct {
	t                           *testing.T
	rtspPort, rtpPort, chatPort int
	stateDir                    string
	cmd                         *exec.Cmd
	done                        chan struct{}
}

func startBroadcaster(t *testing.T) *broadcaster {
	b := &broadcaster{t: t, rtspPort: freePort(t), rtpPort: 20000 + 2*rand.IntN(10000), chatPort: freePort(t), stateDir: t.TempDir()}
	b.start()
	t.Cleanup(b.stop)
	return b
}

func (b *broadcaster) url() string { return "rtsp://127.0.0.1:" + strconv.Itoa(b.rtspPort) + "/live" }

func (b *broadcaster) chatAddr() string { return "127.0.0.1:" + strconv.Itoa(b.chatPort) }

func (b *broadcaster) start() {
	b.t.Helper()
	b.cmd = exec.Command(lsbroadcastBin(b.t), "--source", "pattern", "--size", "320x240", "--fps", "30",
		"--listen", "127.0.0.1", "--mdns", "off", "--rtsp-port", strconv.Itoa(b.rtspPort),
		"--rtp-port", strconv.Itoa(b.rtpPort), "--chat-port", strconv.Itoa(b.chatPort), "--state-dir", b.stateDir)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.done = make(chan struct{})
	go func() { b.cmd.Wait(); close(b.done) }()
	for _, port := range []int{b.rtspPort, b.chatPort} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				b.t.Fatalf("lsbroadcast: nothing on port %d after 10 s", port)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// stop ends lsbroadcast: SIGTERM, then kill after 5 s.
func (b *broadcaster) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	b.cmd.Process.Signal(os.Interrupt)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
}

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
	b := startBroadcaster(t)
	w := watch(t, HostStream("127.0.0.1", b.chatPort), "probe")
	w.until(t, 15*time.Second, "30 frames", func() bool { return w.frames >= 30 })
	st := w.s.Stats()
	if got := w.s.Stream(); got.URL != b.url() || got.GuessedURL {
		t.Errorf("stream %+v: want the welcome's %s", got, b.url())
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
	b := startBroadcaster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	say(t, ctx, b.chatAddr(), "one", "two")
	st, err := URLStream(b.url())
	if err != nil {
		t.Fatal(err)
	}
	st.Kind, st.Chat, st.Proto = KindLsview, b.chatAddr(), chat.Version // as discovery lists it
	w := watch(t, st, "viewer")
	w.until(t, 15*time.Second, "history and video", func() bool { return w.seen["two"] == 1 && w.frames > 0 })

	b.stop()
	w.until(t, 15*time.Second, "reconnecting", func() bool { return w.s.State() == Reconnecting })
	before := w.s.Stats().Frames
	b.start()
	say(t, ctx, b.chatAddr(), "three")
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
	st, err := URLStream("rtsp://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/live")
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
