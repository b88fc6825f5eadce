//go:build vmtest

package vm

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

var hostKeyRe = regexp.MustCompile(`\b[0-9a-f]{48}\b`)

// luma follows the mean luma and size of the frames a reader decodes.
type luma struct {
	mu    sync.Mutex
	mean  float64
	size  string
	count int
	at    []time.Time // when each frame arrived
	means []float64   // and its mean luma
}

func (l *luma) add(f rtsp.Frame) {
	img, err := jpeg.Decode(bytes.NewReader(f.JPEG))
	if err != nil {
		return
	}
	y, ok := img.(*image.YCbCr)
	if !ok {
		return
	}
	var sum, n int
	for row := 0; row < y.Rect.Dy(); row += 4 {
		for _, v := range y.Y[row*y.YStride : row*y.YStride+y.Rect.Dx()] {
			sum += int(v)
			n++
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mean, l.size = float64(sum)/float64(n), fmt.Sprintf("%dx%d", y.Rect.Dx(), y.Rect.Dy())
	l.count++
	l.at, l.means = append(l.at, f.Received), append(l.means, l.mean)
}

// firstAbove is when the first frame after since with a mean luma above
// level arrived, or zero.
func (l *luma) firstAbove(since time.Time, level float64) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, at := range l.at {
		if at.After(since) && l.means[i] > level {
			return at
		}
	}
	return time.Time{}
}

// settle waits for frames decoded after now and returns their mean luma.
func (l *luma) settle(t *testing.T) float64 {
	t.Helper()
	time.Sleep(2 * time.Second) // frames in flight were made before the change
	l.mu.Lock()
	base := l.count
	l.mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		l.mu.Lock()
		n, mean := l.count, l.mean
		l.mu.Unlock()
		if n >= base+3 {
			return mean
		}
	}
	t.Fatalf("no frames within 30 s")
	return 0
}

// hostChat is the host's chat client and what it received.
type hostChat struct {
	c    *chat.Client
	mu   sync.Mutex
	msgs []chat.Msg
}

func joinChat(t *testing.T, m *machine, h chat.Hello) *hostChat {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := chat.Dial(ctx, fmt.Sprintf("127.0.0.1:%d", m.chatPort), h)
	if err != nil {
		t.Fatalf("chat %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	hc := &hostChat{c: c}
	go func() {
		for msg := range c.Events() {
			hc.mu.Lock()
			hc.msgs = append(hc.msgs, msg)
			hc.mu.Unlock()
		}
	}()
	return hc
}

// answer waits for the ack, error or list that answers ref.
func (h *hostChat) answer(t *testing.T, ref string) chat.Msg {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		h.mu.Lock()
		for _, msg := range h.msgs {
			if msg.Ref == ref {
				h.mu.Unlock()
				return msg
			}
		}
		h.mu.Unlock()
	}
	t.Fatalf("no answer to %s", ref)
	return chat.Msg{}
}

func (h *hostChat) list(t *testing.T) map[string]chat.Control {
	t.Helper()
	ref, _ := h.c.Controls()
	out := map[string]chat.Control{}
	for _, c := range h.answer(t, ref).Controls {
		out[c.Key] = c
	}
	return out
}

func (h *hostChat) set(t *testing.T, key string, v int64) chat.Msg {
	t.Helper()
	ref, _ := h.c.SetControl(key, v)
	return h.answer(t, ref)
}

// testSettings: the host tunes vivid from the chat. Brightness changes the
// luma a reader decodes; a menu and a boolean round-trip; a value out of
// range and a viewer's set are refused; the stored brightness is back
// after vivid is removed and loaded again; a size change reaches an
// ffprobe reader that stays connected.
func testSettings(t *testing.T, m *machine, res *results) {
	at := m.mark()
	pid := m.start("lsbroadcast --source v4l2:/dev/video0 --size 640x480 --fps 15 --mdns off --listen 0.0.0.0 --state-dir /tmp/lsb-set")
	defer m.sh(fmt.Sprintf("kill %d; sleep 1", pid), 30*time.Second)
	// The host key is made once every service listens.
	if _, err := m.since(at, "msg=broadcasting", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	out, _ := m.sh("cat /tmp/lsb-set/host-key", 30*time.Second)
	key := hostKeyRe.FindString(strings.Join(out, "\n"))
	if key == "" {
		t.Fatalf("no host key in %q", out)
	}
	var host *hostChat
	for deadline := time.Now().Add(60 * time.Second); host == nil; time.Sleep(time.Second) {
		if err := testenv.DialWait(fmt.Sprintf("127.0.0.1:%d", m.chatPort), time.Second); err == nil || time.Now().After(deadline) {
			host = joinChat(t, m, chat.Hello{Name: "host", HostKey: key})
		}
	}
	l := &luma{}
	stop := play(t, m, l.add)
	defer func() { stop() }()

	ctl := host.list(t)
	var keys []string
	for k, c := range ctl {
		keys = append(keys, k+":"+c.Kind)
	}
	res.add(t, "%s vivid controls over the chat: %d (%s)", m.arch, len(ctl), strings.Join(keys, " "))
	for _, k := range []string{"size", "fps", "quality", "brightness", "contrast", "boolean", "menu"} {
		if _, ok := ctl[k]; !ok {
			t.Fatalf("no %q among %v", k, keys)
		}
	}

	if msg := host.set(t, "brightness", 30); msg.Type != chat.TypeAck {
		t.Fatalf("brightness 30: %+v", msg)
	}
	dark := l.settle(t)
	setAt := time.Now()
	if msg := host.set(t, "brightness", 220); msg.Type != chat.TypeAck {
		t.Fatalf("brightness 220: %+v", msg)
	}
	bright := l.settle(t)
	shown := l.firstAbove(setAt, (dark+bright)/2)
	res.add(t, "%s brightness 30 → 220: mean luma %.1f → %.1f; first brighter frame at the reader %.0f ms after the set (15 fps, TCG)",
		m.arch, dark, bright, float64(shown.Sub(setAt).Microseconds())/1000)
	if bright < dark+20 {
		t.Errorf("mean luma %.1f at brightness 30, %.1f at 220", dark, bright)
	}

	menu := ctl["menu"]
	if len(menu.Menu) < 2 {
		t.Fatalf("menu control with %d items", len(menu.Menu))
	}
	other := menu.Menu[len(menu.Menu)-1].Value
	if other == menu.Value {
		other = menu.Menu[0].Value
	}
	for k, v := range map[string]int64{"menu": other, "boolean": 1 - ctl["boolean"].Value} {
		if msg := host.set(t, k, v); msg.Type != chat.TypeAck {
			t.Errorf("set %s %d: %+v", k, v, msg)
		} else if got := host.list(t)[k].Value; got != v {
			t.Errorf("%s set to %d reads %d", k, v, got)
		}
	}
	for _, tc := range []struct {
		key  string
		v    int64
		code string
	}{{"brightness", 1000, chat.CodeBadValue}, {"menu", 99, chat.CodeBadValue}, {"no_such_control", 1, chat.CodeNotFound}} {
		if msg := host.set(t, tc.key, tc.v); msg.Code != tc.code || msg.Message == "" {
			t.Errorf("set %s %d: %+v, want %s with a message", tc.key, tc.v, msg, tc.code)
		} else {
			res.add(t, "%s set %s %d refused: %s: %s", m.arch, tc.key, tc.v, msg.Code, msg.Message)
		}
	}
	viewer := joinChat(t, m, chat.Hello{Name: "pupil"})
	if msg := viewer.set(t, "brightness", 128); msg.Code != chat.CodeForbidden {
		t.Errorf("a viewer's set: %+v", msg)
	}

	// Unplug (the device goes, lsbroadcast lets go of it), remove and
	// load the driver: a new vivid at its defaults; the stored
	// brightness comes back with it.
	at = m.mark()
	m.sh("echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind; sleep 2; rmmod vivid; grep vivid /etc/modules.load | while read -r ko args; do insmod $ko $args; done", 60*time.Second)
	if _, err := m.since(at, "stored camera settings applied", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	got := host.list(t)["brightness"].Value
	if got != 220 {
		t.Errorf("brightness after reloading vivid: %d, want the stored 220", got)
	}
	again := l.settle(t)
	if again < bright-10 || again > bright+10 {
		t.Errorf("mean luma after reloading vivid %.1f, before %.1f", again, bright)
	}
	res.add(t, "%s rmmod vivid, insmod vivid: brightness %d again (stored), mean luma %.1f", m.arch, got, again)

	// A size change with an ffprobe reader connected.
	probe := testenv.Start(t, exec.Command("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
		"-show_entries", "frame=width,height", "-of", "csv=p=0", fmt.Sprintf("rtsp://127.0.0.1:%d/live", m.port)))
	waitStdout(t, probe, "640,480", 60*time.Second)
	start := time.Now()
	if msg := host.set(t, "size", 1280<<16|720); msg.Type != chat.TypeAck {
		t.Fatalf("size 1280x720: %+v", msg)
	}
	waitStdout(t, probe, "1280,720", 60*time.Second)
	res.add(t, "%s size 640x480 → 1280x720: first new frame at ffprobe after %.2f s (TCG), ffprobe still connected", m.arch, time.Since(start).Seconds())
	select {
	case <-probe.Done():
		t.Errorf("ffprobe left across the size change: %v", probe.Err())
	default:
	}
}

// waitStdout waits until p has written s to its standard output.
func waitStdout(t *testing.T, p *testenv.Proc, s string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); !strings.Contains(p.Stdout.String(), s); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s wrote no %q in %v; stderr:\n%s", p.Cmd.Args[0], s, d, p.Stderr.String())
		}
	}
}
