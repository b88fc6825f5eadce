package viewer

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// fakeCamera offers one setting, fps 1..60.
type fakeCamera struct {
	mu  sync.Mutex
	fps int64
}

func (c *fakeCamera) Controls() ([]chat.Control, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []chat.Control{{Key: "fps", Name: "Frame rate", Kind: "int", Min: 1, Max: 60, Step: 1, Default: 30, Value: c.fps}}, nil
}

func (c *fakeCamera) SetControl(key string, v int64) error {
	if key != "fps" {
		return &chat.Error{Code: chat.CodeNotFound, Message: "no setting " + key}
	}
	if v < 1 || v > 60 {
		return &chat.Error{Code: chat.CodeBadValue, Message: fmt.Sprintf("fps %d: want 1 to 60", v)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fps = v
	return nil
}

func (c *fakeCamera) ResetControl(string) error { return c.SetControl("fps", 30) }

func cameraChat(t *testing.T, key string) string {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	s := &chat.Server{Addr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), Store: st, HostKey: key, Logger: quietLog(),
		Camera: &fakeCamera{fps: 30}, Info: func() netio.Stream { return netio.Stream{Name: "settings test"} }}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return s.ListenAddr().String()
}

func fpsIs(v int64, by string) func([]ChatUpdate) bool {
	return func(ups []ChatUpdate) bool {
		for _, u := range ups {
			for _, c := range u.Controls {
				if c.Key == "fps" && c.Value == v && u.ControlsBy == by {
					return true
				}
			}
		}
		return false
	}
}

func result(code string) func([]ChatUpdate) bool {
	return func(ups []ChatUpdate) bool {
		for _, u := range ups {
			if r := u.Control; r != nil && r.Op == chat.OpSet && (r.Err == nil && code == "" || r.Err != nil && r.Err.Code == code) {
				return true
			}
		}
		return false
	}
}

// TestSessionControls: the list is read after joining; the host's set is
// answered and every session hears the change; a bad value comes back
// with the server's message; a viewer's set is refused before sending.
func TestSessionControls(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	addr := cameraChat(t, key)
	host := runChat(t, addr, chat.Hello{Name: "boss", HostKey: key})
	viewer := runChat(t, addr, chat.Hello{Name: "pupil"})
	host.until(t, 5*time.Second, "the host's list", fpsIs(30, ""))
	viewer.until(t, 5*time.Second, "the viewer's list", fpsIs(30, ""))

	if err := viewer.s.ctl.ask(controlReq{op: chat.OpSet, key: "fps", value: 10}); !errors.Is(err, ErrNotHost) {
		t.Fatalf("a viewer's set: %v, want ErrNotHost", err)
	}
	if err := host.s.ctl.ask(controlReq{op: chat.OpSet, key: "fps", value: 15}); err != nil {
		t.Fatal(err)
	}
	host.until(t, 5*time.Second, "the ack", result(""))
	host.until(t, 5*time.Second, "the host's change event", fpsIs(15, "boss"))
	viewer.until(t, 5*time.Second, "the viewer's change event", fpsIs(15, "boss"))
	if got := viewer.s.ctl.current(); len(got) != 1 || got[0].Value != 15 {
		t.Errorf("viewer's current list %+v", got)
	}

	if err := host.s.ctl.ask(controlReq{op: chat.OpSet, key: "fps", value: 999}); err != nil {
		t.Fatal(err)
	}
	host.until(t, 5*time.Second, "bad_value", result(chat.CodeBadValue))
	host.mu.Lock()
	for _, u := range host.ups {
		if r := u.Control; r != nil && r.Err != nil && r.Err.Message != "fps 999: want 1 to 60" {
			t.Errorf("error %+v: the server's message is lost", r.Err)
		}
	}
	host.mu.Unlock()
}

// TestControlsAskRefusesBeforeSending: nothing is queued before a join,
// to a protocol 1 server, or for a viewer.
func TestControlsAskRefusesBeforeSending(t *testing.T) {
	c := newControls()
	set := controlReq{op: chat.OpSet, key: "fps", value: 10}
	if err := c.ask(set); !errors.Is(err, ErrNotJoined) {
		t.Errorf("before joining: %v", err)
	}
	c.join(&chat.Msg{V: 1}, chat.RoleHost)
	if err := c.ask(set); !errors.Is(err, ErrNoSettings) {
		t.Errorf("protocol 1: %v", err)
	}
	c.join(&chat.Msg{V: chat.ControlsVersion}, chat.RoleViewer)
	if err := c.ask(set); !errors.Is(err, ErrNotHost) {
		t.Errorf("viewer: %v", err)
	}
	if n := len(c.reqs); n != 0 {
		t.Fatalf("%d requests queued", n)
	}
	c.join(&chat.Msg{V: chat.ControlsVersion}, chat.RoleHost)
	for range controlsQueued {
		if err := c.ask(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ask(set); !errors.Is(err, ErrTooManyWaited) {
		t.Errorf("queue full: %v", err)
	}
}
