package subproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

const childEnv = "LSB_SUBPROC_CHILD"

func TestMain(m *testing.M) { testenv.Main(m, testenv.Children{childEnv: child}) }

// child plays a helper: "frames" writes a Hello and three frames then
// fails; "fail" fails before its Hello; "controls" answers control
// requests with a frame after each reply, until its input ends.
func child(mode string) int {
	if mode == "fail" {
		os.Stderr.WriteString("opencv chatter\ncamera 7: no such device\n")
		return 2
	}
	if mode == "controls" {
		return controlsChild()
	}
	hello, _ := json.Marshal(Hello{Name: "fake", Width: 16, Height: 8})
	os.Stdout.Write(append(hello, '\n'))
	for i := range 3 {
		f := capture.Frame{JPEG: []byte{0xff, 0xd8, byte(i)}, Seq: uint64(i), Captured: time.Unix(0, int64(i)), Width: 16, Height: 8}
		h := Header(f)
		os.Stdout.Write(h[:])
		os.Stdout.Write(f.JPEG)
	}
	os.Stderr.WriteString("capture stopped delivering frames\n")
	return 1
}

func childArgv(t *testing.T, mode string) []string {
	t.Setenv(childEnv, mode)
	return []string{os.Args[0]}
}

func TestFramesThenFailure(t *testing.T) {
	s, err := Start(childArgv(t, "frames"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "fake" || s.Size() != (capture.Size{W: 16, H: 8}) {
		t.Fatalf("hello: %q %v", s.Name(), s.Size())
	}
	var got []uint64
	err = s.Run(context.Background(), func(f capture.Frame) { got = append(got, f.Seq) })
	if len(got) != 3 || got[2] != 2 {
		t.Fatalf("frames %v, want 0 1 2", got)
	}
	if err == nil || !strings.Contains(err.Error(), "stopped delivering") {
		t.Fatalf("Run error %v, want the child's last line", err)
	}
}

func TestStartFailure(t *testing.T) {
	_, err := Start(childArgv(t, "fail"))
	if err == nil || err.Error() != "camera 7: no such device" {
		t.Fatalf("error %v, want the child's last line", err)
	}
	if _, err := Start([]string{"/nonexistent/helper"}); err == nil {
		t.Fatal("a missing helper started")
	}
}

func TestReadFrameRejects(t *testing.T) {
	good := Header(capture.Frame{JPEG: []byte{1, 2}, Width: 8, Height: 8})
	for name, raw := range map[string][]byte{
		"bad magic":   append([]byte("XXXX"), good[4:]...),
		"zero length": func() []byte { h := good; h[4], h[5], h[6], h[7] = 0, 0, 0, 0; return h[:] }(),
		"huge length": func() []byte { h := good; h[4] = 0x7f; return h[:] }(),
		"huge size":   func() []byte { h := good; h[24] = 1; return h[:] }(),
		"truncated":   good[:10],
		"short body":  append(good[:], 1),
	} {
		if _, err := ReadFrame(bytes.NewReader(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	f, err := ReadFrame(bytes.NewReader(append(good[:], 1, 2)))
	if err != nil || !bytes.Equal(f.JPEG, []byte{1, 2}) {
		t.Fatalf("good frame: %v %v", f, err)
	}
}

func FuzzReadFrame(f *testing.F) {
	h := Header(capture.Frame{JPEG: []byte{1}, Width: 8, Height: 8})
	f.Add(append(h[:], 1))
	f.Add([]byte("LSBF"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := ReadFrame(bytes.NewReader(raw))
		if err == nil && (len(fr.JPEG) == 0 || len(fr.JPEG) > MaxFrame) {
			t.Fatalf("accepted a frame of %d bytes", len(fr.JPEG))
		}
	})
}

// fakeCamera is a Controller with a brightness and a switch.
type fakeCamera struct {
	mu       sync.Mutex
	controls []capture.Control
}

func (f *fakeCamera) Controls() ([]capture.Control, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]capture.Control(nil), f.controls...), nil
}

func (f *fakeCamera) SetControl(key string, v int64) (capture.Control, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.controls {
		if c.Key == key {
			if err := c.Check(v); err != nil {
				return capture.Control{}, err
			}
			f.controls[i].Value = v
			return f.controls[i], nil
		}
	}
	return capture.Control{}, fmt.Errorf("%q: %w", key, capture.ErrNoControl)
}

func controlsChild() int {
	cam := &fakeCamera{controls: []capture.Control{
		{Key: "brightness", Name: "Brightness", Kind: capture.KindInt, Max: 255, Step: 1, Default: 128, Value: 128},
		{Key: "autofocus", Name: "Focus, Automatic", Kind: capture.KindBool, Max: 1, Step: 1, Default: 1, Value: 1},
	}}
	hello, _ := json.Marshal(Hello{Name: "fake", Width: 16, Height: 8})
	os.Stdout.Write(append(hello, '\n'))
	seq := uint64(0)
	err := Serve(os.Stdin, cam, func(r Reply) error {
		f := capture.Frame{JPEG: []byte{0xff, 0xd8}, Seq: seq, Width: 16, Height: 8}
		seq++
		h := Header(f)
		_, err := os.Stdout.Write(append(append(AppendReply(nil, r), h[:]...), f.JPEG...))
		return err
	})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

// Control requests reach the helper through its standard input and come
// back between its frames; the request's faults keep their meaning.
func TestControlsThroughTheHelper(t *testing.T) {
	s, err := Start(childArgv(t, "controls"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cs, err := s.Controls()
	if err != nil || len(cs) != 2 || cs[0].Key != "brightness" || cs[1].Kind != capture.KindBool {
		t.Fatalf("Controls: %+v, %v", cs, err)
	}
	got, err := s.SetControl("brightness", 200)
	if err != nil || got.Value != 200 {
		t.Fatalf("set brightness 200: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		key   string
		value int64
		is    error
		says  string
	}{
		{"brightness", 256, capture.ErrBadValue, "256 is outside 0..255"},
		{"autofocus", -1, capture.ErrBadValue, "outside 0..1"},
		{"zoom", 1, capture.ErrNoControl, "zoom"},
	} {
		_, err := s.SetControl(tc.key, tc.value)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "fake") {
			t.Errorf("%s = %d: %v, want %v naming the source and saying %q", tc.key, tc.value, err, tc.is, tc.says)
		}
	}
	if cs, _ := s.Controls(); cs[0].Value != 200 {
		t.Errorf("brightness reads %d after refused sets, want 200", cs[0].Value)
	}
	// The frames written between the replies reach Run, oldest first.
	ctx, cancel := context.WithCancel(context.Background())
	var seqs []uint64
	s.Run(ctx, func(f capture.Frame) {
		seqs = append(seqs, f.Seq)
		if len(seqs) == 6 {
			cancel()
		}
	})
	cancel()
	if len(seqs) != 6 || seqs[0] != 0 || seqs[5] != 5 {
		t.Errorf("frames %v, want 0 to 5", seqs)
	}
	s.Close()
	if _, err := s.Controls(); err == nil {
		t.Error("Controls after Close succeeded")
	}
}

func TestReplyRecord(t *testing.T) {
	rep := Reply{ID: 7, Error: "x", Code: "bad_value"}
	b := AppendReply(nil, rep)
	if !bytes.Equal(b[:4], ReplyMagic[:]) {
		t.Fatalf("record starts %q", b[:4])
	}
	got, err := readReply(bytes.NewReader(b))
	if err != nil || got.ID != 7 || got.Code != "bad_value" {
		t.Fatalf("read back %+v, %v", got, err)
	}
	for name, raw := range map[string][]byte{
		"zero length": append(ReplyMagic[:], 0, 0, 0, 0),
		"huge length": append(ReplyMagic[:], 0x7f, 0, 0, 0),
		"short body":  b[:len(b)-1],
		"not json":    append(append(ReplyMagic[:], 0, 0, 0, 2), '{', '['),
	} {
		if _, err := readReply(bytes.NewReader(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestServeAnswersBadLines(t *testing.T) {
	in := strings.NewReader("not json\n{\"id\":3,\"op\":\"zap\"}\n\n{\"id\":4,\"op\":\"list\"}\n")
	var got []Reply
	err := Serve(in, &fakeCamera{}, func(r Reply) error { got = append(got, r); return nil })
	if err != nil || len(got) != 3 {
		t.Fatalf("%v: %+v", err, got)
	}
	if got[0].Error == "" || got[1].ID != 3 || !strings.Contains(got[1].Error, "zap") || got[2].ID != 4 || got[2].Error != "" {
		t.Errorf("replies %+v", got)
	}
	if err := Serve(strings.NewReader(strings.Repeat("x", MaxRequest+1)+"\n"), &fakeCamera{}, func(Reply) error { return nil }); err == nil {
		t.Error("an overlong request line was taken")
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add(AppendReply(nil, Reply{ID: 1, Controls: []capture.Control{{Key: "brightness", Kind: capture.KindInt, Max: 255}}}))
	f.Add(append(ReplyMagic[:], 0, 0, 0, 1, '{'))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := readReply(bytes.NewReader(raw)); err == nil && len(raw) > 8+MaxReply {
			t.Fatalf("accepted a reply of %d bytes", len(raw))
		}
	})
}
