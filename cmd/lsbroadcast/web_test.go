package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// TestWebViewer: the real lsbroadcast serves the page's video and bridges
// its chat to the TCP chat; /state counts both kinds of viewer.
func TestWebViewer(t *testing.T) {
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "320x240", "--fps", "30", "--name", "Web cam")
	if want := "page=" + b.HTTPBase + "/"; !strings.Contains(b.Stderr.String(), want) {
		t.Errorf("the broadcasting line lacks %s:\n%s", want, b.Stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws := "ws" + strings.TrimPrefix(b.HTTPBase, "http")

	video, _, err := websocket.Dial(ctx, ws+"/ws/video", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer video.CloseNow()
	video.SetReadLimit(1 << 20)
	var frames [][]byte
	for len(frames) < 20 {
		typ, msg, err := video.Read(ctx)
		if err != nil || typ != websocket.MessageBinary || len(msg) < 16 {
			t.Fatalf("video: %v %v %d bytes", err, typ, len(msg))
		}
		img, err := jpeg.Decode(bytes.NewReader(msg[16:]))
		if err != nil {
			t.Fatal(err)
		}
		y := img.(*image.YCbCr)
		gray := make([]byte, 320*240)
		for row := range 240 {
			copy(gray[row*320:], y.Y[row*y.YStride:row*y.YStride+320])
		}
		frames = append(frames, gray)
	}
	checkCounter(t, frames, 320, 240)

	tcp, _, err := chat.Dial(ctx, b.ChatAddr, chat.Hello{Name: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	page, _, err := websocket.Dial(ctx, ws+"/ws/chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer page.CloseNow()
	page.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","v":1,"name":"phone"}`))
	_, welcome, err := page.Read(ctx)
	if err != nil || !bytes.Contains(welcome, []byte(`"http_port":`+strings.TrimPrefix(b.HTTPBase[strings.LastIndex(b.HTTPBase, ":"):], ":"))) {
		t.Fatalf("welcome %s: %v", welcome, err)
	}
	page.Write(ctx, websocket.MessageText, []byte(`{"type":"chat","text":"from the phone","ref":"1"}`))
	for got := false; !got; {
		select {
		case m := <-tcp.Events():
			got = m.Type == chat.TypeChat && m.From == "phone" && m.Text == "from the phone"
		case <-ctx.Done():
			t.Fatal("the TCP client did not get the page's message")
		}
	}

	resp, err := http.Get(b.HTTPBase + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Name, Source  string
		Width, Height int
		FPS           int
		Live          bool
		Frames        uint64
		Readers       struct{ RTSP, Web int }
		ChatClients   int    `json:"chat_clients"`
		HTTPURL       string `json:"http_url"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Name != "Web cam" || st.Source != "Test pattern" || st.Width != 320 || st.Height != 240 || st.FPS != 30 ||
		!st.Live || st.Frames == 0 || st.Readers.Web != 1 || st.ChatClients != 2 || st.HTTPURL != b.HTTPBase+"/" {
		t.Errorf("/state: %+v", st)
	}
}

func TestHTTPPortFlag(t *testing.T) {
	for _, tc := range []struct{ value, want string }{{"0", "invalid http-port"}, {"web", "invalid http-port"}, {"70000", "invalid http-port"}} {
		cmd := exec.Command(lsbroadcast(t), "--state-dir", t.TempDir(), "--mdns", "off", "--listen", "127.0.0.1", "--http-port", tc.value)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("--http-port %s: exit %d, %q; want 2 and %q", tc.value, code, stderr.String(), tc.want)
		}
	}
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "320x240", "--http-port", "off")
	if strings.Contains(b.Stderr.String(), "page=") {
		t.Errorf("--http-port off still names a page:\n%s", b.Stderr.String())
	}
	if resp, err := http.Get(b.HTTPBase + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("--http-port off: %s answers", b.HTTPBase)
	}
}
