package chat

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeCamera stands in for the broadcaster: the chat's part is who may
// read and change settings and who hears of a change, not the camera.
type fakeCamera struct {
	mu   sync.Mutex
	list []Control
}

func newFakeCamera() *fakeCamera {
	return &fakeCamera{list: []Control{
		{Key: "brightness", Name: "Brightness", Kind: "int", Min: 0, Max: 255, Step: 1, Default: 128, Value: 128},
		{Key: "fps", Name: "Frame rate", Kind: "int", Min: 1, Max: 60, Step: 1, Default: 30, Value: 30},
	}}
}

func (f *fakeCamera) Controls() ([]Control, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list), nil
}

func (f *fakeCamera) SetControl(key string, v int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		if f.list[i].Key == key {
			if v < f.list[i].Min || v > f.list[i].Max {
				return &Error{Code: CodeBadValue, Message: fmt.Sprintf("%s: %d is outside %d to %d", key, v, f.list[i].Min, f.list[i].Max)}
			}
			f.list[i].Value = v
			return nil
		}
	}
	return &Error{Code: CodeNotFound, Message: "no setting " + key}
}

func (f *fakeCamera) ResetControl(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.list {
		if key == "" || f.list[i].Key == key {
			f.list[i].Value = f.list[i].Default
		}
	}
	return nil
}

func valueOf(list []Control, key string) int64 {
	for _, c := range list {
		if c.Key == key {
			return c.Value
		}
	}
	return -1
}

// TestControls: anyone reads the settings, only the host changes them,
// and every client of version 2 hears of each change; a client of version 1
// is never sent the new message type.
func TestControls(t *testing.T) {
	s := startServer(t, func(s *Server) { s.Camera = newFakeCamera() })
	host, _ := dial(t, s.addr, "teacher", s.HostKey)
	viewer, _ := dial(t, s.addr, "pupil", "")
	old := rawDial(t, s.addr, "old") // says hello with version 1

	ref, _ := viewer.Controls()
	if m := next(t, viewer, TypeControls); m.Ref != ref || valueOf(m.Controls, "brightness") != 128 {
		t.Fatalf("list: %+v", m)
	}
	ref, _ = viewer.SetControl("brightness", 10)
	if m := next(t, viewer, TypeError); m.Ref != ref || m.Code != CodeForbidden {
		t.Fatalf("viewer's set: %+v", m)
	}
	ref, _ = host.SetControl("brightness", 200)
	if m := next(t, host, TypeAck, TypeError); m.Type != TypeAck || m.Ref != ref {
		t.Fatalf("host's set: %+v", m)
	}
	for _, c := range []*Client{host, viewer} {
		m := next(t, c, TypeControls)
		if m.Event != "changed" || m.From != "teacher" || m.ControlKey != "brightness" || valueOf(m.Controls, "brightness") != 200 {
			t.Fatalf("change event: %+v", m)
		}
	}
	// The old client's next line is the answer to its who, not a
	// controls event it would not know.
	fmt.Fprintf(old, `{"type":"who","ref":"w"}`+"\n")
	if m := old.next(t, TypeWho, TypeControls); m.Type != TypeWho {
		t.Fatalf("a version 1 client was sent %+v", m)
	}

	for _, tc := range []struct {
		key  string
		v    int64
		code string
	}{
		{"nonesuch", 1, CodeNotFound},
		{"brightness", 256, CodeBadValue},
		{"brightness", -1, CodeBadValue},
	} {
		ref, _ := host.SetControl(tc.key, tc.v)
		if m := next(t, host, TypeError, TypeAck); m.Code != tc.code || m.Ref != ref || m.Message == "" {
			t.Errorf("set %s=%d: %+v, want %s", tc.key, tc.v, m, tc.code)
		}
	}
	ref, _ = host.ResetControl("")
	if m := next(t, host, TypeAck, TypeError); m.Type != TypeAck || m.Ref != ref {
		t.Fatalf("reset: %+v", m)
	}
	if m := next(t, viewer, TypeControls); valueOf(m.Controls, "brightness") != 128 || m.ControlKey != "" {
		t.Fatalf("after reset: %+v", m)
	}
}

// TestControlsBadRequests: requests the protocol can't take, and a server
// with no settings, answer with a code; a flood of sets is rate limited.
func TestControlsBadRequests(t *testing.T) {
	s := startServer(t, nil)
	host, _ := dial(t, s.addr, "teacher", s.HostKey)
	ref, _ := host.Controls()
	if m := next(t, host, TypeError, TypeControls); m.Code != CodeUnsupported || m.Ref != ref {
		t.Fatalf("no camera: %+v", m)
	}

	s2 := startServer(t, func(s *Server) { s.Camera = newFakeCamera() })
	r := rawDial(t, s2.addr, "")
	r.hello(t, fmt.Sprintf(`{"type":"hello","v":2,"name":"teacher","role":"host","key":%q}`, s2.HostKey))
	for _, line := range []string{
		`{"type":"control","ref":"a","control":"brightness"}`,
		`{"type":"control","ref":"b","op":"explode","control":"brightness","value":1}`,
		`{"type":"control","ref":"c","value":1}`,
		`{"type":"control","ref":"d","control":"brightness","value":"high"}`,
	} {
		fmt.Fprintln(r, line)
		if m := r.next(t, TypeError, TypeAck); m.Type != TypeError {
			t.Errorf("%s: %+v", line, m)
		}
	}
	limited := 0
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		fmt.Fprintf(r, `{"type":"control","ref":"f%d","control":"brightness","value":%d}`+"\n", i, i)
	}
	for i := 0; i < 40; i++ {
		if m := r.next(t, TypeError, TypeAck); m.Code == CodeRateLimited {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("40 sets at once: none rate limited")
	}
}
