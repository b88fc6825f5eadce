package viewer

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// instanceOf is a broadcaster's instance id, from its chat's welcome.
func instanceOf(t *testing.T, b *testenv.Broadcaster) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, w, err := chat.Dial(ctx, b.ChatAddr(), chat.Hello{Name: "census"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if w.Stream == nil || w.Stream.Instance == "" {
		t.Fatalf("welcome of %s names no instance", b.ChatAddr())
	}
	return w.Stream.Instance
}

// silentPort accepts connections and never says a word.
func silentPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestResolveTargets: every address of a broadcaster (its chat port, its
// RTSP port, its rtsp:// URL, the bare host) reaches that broadcaster with
// its chat, told apart from a second one on the same host by instance id;
// any other port fails with a line that names it.
func TestResolveTargets(t *testing.T) {
	a := testenv.StartBroadcaster(t, "320x240", 15, nil)
	b := testenv.StartBroadcaster(t, "320x240", 15, nil)
	idA, idB := instanceOf(t, a), instanceOf(t, b)
	if idA == idB {
		t.Fatalf("two broadcasters, one instance id %s", idA)
	}
	const host = "127.0.0.1"
	port := func(n int) string { return strconv.Itoa(n) }
	free, silent := testenv.FreePort(t), silentPort(t)
	bg := context.Background()
	cases := []struct {
		name    string
		resolve func(ctx context.Context) (Stream, error)
		want    *testenv.Broadcaster // nil: an error
		wantID  string
		errHas  []string
	}{
		{"A chat port", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, a.ChatPort) }, a, idA, nil},
		{"A RTSP port", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, a.RTSPPort) }, a, idA, nil},
		{"A rtsp:// URL", func(ctx context.Context) (Stream, error) { return ResolveURL(ctx, a.URL()) }, a, idA, nil},
		{"B chat port", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, b.ChatPort) }, b, idB, nil},
		{"B RTSP port", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, b.RTSPPort) }, b, idB, nil},
		{"B rtsp:// URL", func(ctx context.Context) (Stream, error) { return ResolveURL(ctx, b.URL()) }, b, idB, nil},
		{"B RTSP port, another path", func(ctx context.Context) (Stream, error) {
			return ResolveURL(ctx, "rtsp://"+host+":"+port(b.RTSPPort)+"/elsewhere")
		}, b, idB, nil},
		// A bare host asks the chat's default port, then RTSP's: here
		// stand-ins for 4000 and 8554, which this test can't own.
		{"bare host, chat port answers", func(ctx context.Context) (Stream, error) { return resolveBare(ctx, host, a.ChatPort, b.RTSPPort) }, a, idA, nil},
		{"bare host, RTSP port answers", func(ctx context.Context) (Stream, error) { return resolveBare(ctx, host, free, b.RTSPPort) }, b, idB, nil},
		{"bare host, nothing", func(ctx context.Context) (Stream, error) { return resolveBare(ctx, host, free, free) }, nil, "",
			[]string{host + ":" + port(free), "connection refused", "no lsbroadcast on the default ports"}},
		{"nothing listens", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, free) }, nil, "",
			[]string{host + ":" + port(free) + " (port " + port(free) + ")", "connection refused"}},
		{"port 1", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, 1) }, nil, "",
			[]string{host + ":1 (port 1)"}},
		{"silent port", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, silent) }, nil, "",
			[]string{"(port " + port(silent) + ")", "no answer"}},
		{"web port (HTTP)", func(ctx context.Context) (Stream, error) { return ResolveHost(ctx, host, a.HTTPPort) }, nil, "",
			[]string{"(port " + port(a.HTTPPort) + ")", "answers neither chat nor RTSP", "HTTP/1.1 400"}},
		{"rtsp:// URL, nothing listens", func(ctx context.Context) (Stream, error) {
			return ResolveURL(ctx, "rtsp://"+host+":"+port(free)+"/live")
		}, nil, "", []string{"(port " + port(free) + ")", "connection refused"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			defer cancel()
			start := time.Now()
			st, err := tc.resolve(ctx)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("resolved to %+v; want an error", st)
				}
				msg := err.Error()
				for _, s := range tc.errHas {
					if !strings.Contains(msg, s) {
						t.Errorf("error %q lacks %q", msg, s)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("error %q is more than one line", msg)
				}
				if d := time.Since(start); d > 3*probeWait {
					t.Errorf("took %v", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.Kind != KindLsview || st.Chat != tc.want.ChatAddr() {
				t.Fatalf("resolved to %+v; want the chat at %s", st, tc.want.ChatAddr())
			}
			w := watch(t, st, "viewer")
			w.until(t, 15*time.Second, "frames and chat", func() bool {
				return w.frames >= 5 && strings.Contains(w.s.Stats().Chat, "as viewer")
			})
			got := w.s.Stream()
			if got.Instance != tc.wantID || got.URL != tc.want.URL() {
				t.Errorf("playing %s of instance %s; want %s of %s", got.URL, got.Instance, tc.want.URL(), tc.wantID)
			}
		})
	}
}

// TestRefusedJoinPlaysOnlyItsOwnVideo: when the chat gives no welcome (the
// name is taken), the session plays the guessed RTSP address only if that
// server names this chat; another broadcaster's video is an error, never
// a fallback.
func TestRefusedJoinPlaysOnlyItsOwnVideo(t *testing.T) {
	a := testenv.StartBroadcaster(t, "320x240", 15, nil)
	b := testenv.StartBroadcaster(t, "320x240", 15, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, br := range []*testenv.Broadcaster{a, b} {
		c, _, err := chat.Dial(ctx, br.ChatAddr(), chat.Hello{Name: "taken"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}

	own, err := ResolveHost(ctx, "127.0.0.1", a.RTSPPort)
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, own, "taken")
	w.until(t, 15*time.Second, "its own video", func() bool { return w.frames >= 5 })
	if got := w.s.Stream().URL; got != a.URL() {
		t.Errorf("playing %s, want %s", got, a.URL())
	}

	wrong := HostStream("127.0.0.1", b.ChatPort)
	wrong.URL = a.URL() // as a default guess that lands on a's camera
	s := NewSession(Config{Stream: wrong, Hello: chat.Hello{Name: "taken"}, Logger: quietLog()})
	err = s.Run(ctx)
	if !errors.Is(err, ErrNoVideo) || !strings.Contains(err.Error(), "not this broadcaster's") {
		t.Fatalf("Run: %v; want ErrNoVideo: not this broadcaster's", err)
	}
	if _, ok := <-s.Frames(); ok {
		t.Error("Frames still open")
	}
	if _, ok := <-s.Updates(); ok {
		t.Error("Updates still open")
	}
}
