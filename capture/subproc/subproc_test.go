package subproc

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

const childEnv = "LSB_SUBPROC_CHILD"

func TestMain(m *testing.M) { testenv.Main(m, testenv.Children{childEnv: child}) }

// child plays a helper: "frames" writes a Hello and three frames then
// fails; "fail" fails before its Hello.
func child(mode string) int {
	if mode == "fail" {
		os.Stderr.WriteString("opencv chatter\ncamera 7: no such device\n")
		return 2
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
