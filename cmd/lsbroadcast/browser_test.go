package main

// The web viewer in real browsers, headless Chromium (DevTools protocol,
// through chromedp) and Firefox ESR (WebDriver BiDi), against the real
// lsbroadcast on loopback: the video advances, chat goes both ways with a
// TCP chat client, announcements, what a viewer may not do, hostile text,
// and a foreign Origin. The browsers are testenv's; their screenshots go
// to the web artifacts (see testenv.ArtifactDir) for a person to look at.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/device"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// Text a person types: capitals, accents, CJK and emoji (a skin tone
// modifier too), and right-to-left script.
const (
	pageText = "Grüße, Zoë! Ça va? 你好世界 こんにちは 🎉👍🏽"
	tcpText  = "Hi from the terminal: مرحبا بالجميع 😀 Ünïcödé"
)

// webServer is an lsbroadcast with its web viewer on.
type webServer struct {
	URL      string // the page, http://127.0.0.1:PORT/
	Addr     string // 127.0.0.1:PORT
	ChatAddr string // the TCP chat
	HostKey  string
	b        *broadcaster
}

func startWeb(t testing.TB, size string) *webServer {
	t.Helper()
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", size, "--fps", "30", "--name", "Physics 2B")
	addr := strings.TrimPrefix(b.HTTPBase, "http://")
	testenv.WaitPort(t, addr, 10*time.Second)
	key, err := os.ReadFile(device.FilesIn(b.StateDir).HostKey)
	if err != nil {
		t.Fatal(err)
	}
	return &webServer{URL: "http://" + addr + "/", Addr: addr, ChatAddr: b.ChatAddr, HostKey: strings.TrimSpace(string(key)), b: b}
}

// restartWeb starts a broadcaster on the web and chat ports of one that
// stopped, as after a restart of the service.
func restartWeb(t *testing.T, old *webServer) *webServer {
	t.Helper()
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	b := startBroadcaster(t, "127.0.0.1", nil, "--source", "pattern", "--size", "320x240", "--fps", "30",
		"--http-port", port(old.Addr), "--chat-port", port(old.ChatAddr))
	testenv.WaitPort(t, old.Addr, 10*time.Second)
	return &webServer{URL: old.URL, Addr: old.Addr, ChatAddr: old.ChatAddr, b: b}
}

// patternSeq decodes a PNG data URL of the canvas and reads the test
// pattern's frame number from it.
func patternSeq(t testing.TB, dataURL string) (uint32, bool) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(dataURL, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("canvas snapshot is not base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("canvas snapshot is not a PNG: %v", err)
	}
	r := img.Bounds()
	gray := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(gray, gray.Bounds(), img, r.Min, draw.Src)
	seq, _, ok := pattern.Read(gray.Pix, r.Dx(), r.Dy())
	return seq, ok
}

const canvasPNG = `document.getElementById('video').toDataURL('image/png')`

// chatEvents collects what a TCP chat client receives, so a test can wait
// for one message among others.
type chatEvents struct {
	mu   sync.Mutex
	msgs []chat.Msg
	c    *chat.Client
}

func dialChat(t *testing.T, addr string, h chat.Hello) (*chatEvents, *chat.Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, w, err := chat.Dial(ctx, addr, h)
	if err != nil {
		t.Fatalf("chat client %q: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	e := &chatEvents{c: c}
	go func() {
		for m := range c.Events() {
			e.mu.Lock()
			e.msgs = append(e.msgs, m)
			e.mu.Unlock()
		}
	}()
	return e, w
}

// wait returns the first message ok accepts, failing after d.
func (e *chatEvents) wait(t *testing.T, d time.Duration, what string, ok func(chat.Msg) bool) chat.Msg {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for _, m := range e.msgs {
			if ok(m) {
				e.mu.Unlock()
				return m
			}
		}
		e.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t.Fatalf("chat client: no %s within %v; got %+v", what, d, e.msgs)
	return chat.Msg{}
}

// shown is a JavaScript expression: an element matching sel has exactly
// the text.
func shown(sel, text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).some((e) => e.textContent === %s)`, testenv.JSString(sel), testenv.JSString(text))
}

func TestWebViewerInChromium(t *testing.T) {
	srv := startWeb(t, "640x360")
	ctx, alerts := testenv.Chromium(t)
	// From the first byte of the page on: what the Content-Security-Policy
	// blocked (an inline script or style would be) and uncaught errors.
	testenv.OnNewDocument(t, ctx, `
		window.__problems = [];
		document.addEventListener('securitypolicyviolation', (e) => window.__problems.push('CSP ' + e.violatedDirective + ' ' + e.blockedURI));
		window.addEventListener('error', (e) => window.__problems.push('error ' + e.message));
		window.addEventListener('unhandledrejection', (e) => window.__problems.push('rejection ' + e.reason));`)
	testenv.Do(t, ctx, chromedp.Navigate(srv.URL))
	t.Cleanup(func() {
		if p := testenv.Eval[[]string](t, ctx, `window.__problems`); len(p) != 0 {
			t.Errorf("the page had problems: %q", p)
		}
	})

	t.Run("video advances", func(t *testing.T) {
		testenv.WaitTrue(t, ctx, 15*time.Second, `Number(document.body.dataset.frames) >= 5`)
		first, ok := patternSeq(t, testenv.Eval[string](t, ctx, canvasPNG))
		if !ok {
			t.Fatal("the canvas does not hold the test pattern's frame number")
		}
		seq1 := testenv.Eval[string](t, ctx, `document.body.dataset.lastSeq`)
		time.Sleep(time.Second)
		second, ok := patternSeq(t, testenv.Eval[string](t, ctx, canvasPNG))
		if !ok || second <= first {
			t.Fatalf("pattern frame %d then %d (ok %v): the video does not advance", first, second, ok)
		}
		if seq2 := testenv.Eval[string](t, ctx, `document.body.dataset.lastSeq`); seq2 == seq1 {
			t.Errorf("dataset.lastSeq stays %s", seq1)
		}
		if w := testenv.Eval[int](t, ctx, `document.getElementById('video').width`); w != 640 {
			t.Errorf("canvas %d pixels wide, want the frame's 640", w)
		}
		t.Logf("pattern frames %d -> %d in 1 s; %s drawn", first, second, testenv.Eval[string](t, ctx, `document.body.dataset.frames`))
	})

	tcp, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Kofi (lsview)"})

	t.Run("chat both ways", func(t *testing.T) {
		// First visit: the page asks for a name. One already here is
		// refused, and the page says so and offers another.
		testenv.Do(t, ctx, chromedp.WaitVisible("#name-input"),
			chromedp.SendKeys("#name-input", "kofi (LSVIEW)"), chromedp.KeyEvent("\r"))
		testenv.WaitTrue(t, ctx, 10*time.Second, `!document.getElementById('name-dialog').hidden && document.getElementById('name-error').textContent.includes('already')`)
		if v := testenv.Eval[string](t, ctx, `document.getElementById('name-input').value`); v == "" || strings.EqualFold(v, "Kofi (lsview)") {
			t.Errorf("after name_taken the page offers %q", v)
		}
		testenv.Eval[bool](t, ctx, `(document.getElementById('name-input').value = '', true)`)
		testenv.Do(t, ctx, chromedp.SendKeys("#name-input", "Zoë Ångström"), chromedp.KeyEvent("\r"))
		testenv.WaitTrue(t, ctx, 10*time.Second, `document.body.dataset.chat === 'live'`)
		if name := testenv.Eval[string](t, ctx, `localStorage.getItem('lsbroadcast.name')`); name != "Zoë Ångström" {
			t.Errorf("name kept as %q", name)
		}
		testenv.WaitTrue(t, ctx, 5*time.Second, shown("#presence-list li", "Kofi (lsview)"))

		testenv.Do(t, ctx, chromedp.SendKeys("#text", pageText), chromedp.KeyEvent("\r"))
		tcp.wait(t, 10*time.Second, "chat from the page", func(m chat.Msg) bool {
			return m.Type == chat.TypeChat && m.Text == pageText && m.From == "Zoë Ångström"
		})
		// Acknowledged: no longer "sending…".
		testenv.WaitTrue(t, ctx, 5*time.Second, shown("#messages li:not(.pending):not(.failed) .text", pageText))
		if v := testenv.Eval[string](t, ctx, `document.getElementById('text').value`); v != "" {
			t.Errorf("input still holds %q after sending", v)
		}

		if _, err := tcp.c.Chat(tcpText); err != nil {
			t.Fatal(err)
		}
		testenv.WaitTrue(t, ctx, 10*time.Second, shown("#messages li .text", tcpText))
		testenv.WaitTrue(t, ctx, time.Second, shown("#messages li .from", "Kofi (lsview)"))
	})

	t.Run("announcements", func(t *testing.T) {
		host, w := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Ms Rivera", HostKey: srv.HostKey})
		if w.Role != chat.RoleHost {
			t.Fatalf("joined as %q, want host", w.Role)
		}
		const ann = "Test on Friday: bring a calculator 🧮"
		if _, err := host.c.Announce("post", 0, ann); err != nil {
			t.Fatal(err)
		}
		testenv.WaitTrue(t, ctx, 10*time.Second, `!document.getElementById('banner').hidden && `+shown("#banner .text", ann))
		if _, err := host.c.Chat("Homework is on the site"); err != nil {
			t.Fatal(err)
		}
		testenv.WaitTrue(t, ctx, 10*time.Second, `Array.from(document.querySelectorAll('#messages li.host')).some((li) => li.querySelector('.badge') && li.textContent.includes('Homework is on the site'))`)
	})

	t.Run("a viewer cannot announce", func(t *testing.T) {
		if !testenv.Eval[bool](t, ctx, `document.getElementById('host-tools').hidden && document.querySelectorAll('#banner .tools').length === 0`) {
			t.Error("a viewer sees the host tools")
		}
		// Past the page's buttons, from script in the page itself: the
		// server refuses.
		code := testenv.Eval[string](t, ctx, `new Promise((resolve) => {
			const ws = new WebSocket('ws://' + location.host + '/ws/chat');
			setTimeout(() => resolve('timeout'), 8000);
			ws.onopen = () => ws.send(JSON.stringify({type: 'hello', v: 1, name: 'Sneaky'}));
			ws.onmessage = (ev) => {
				for (const line of ev.data.split('\n')) {
					if (!line) continue;
					const m = JSON.parse(line);
					if (m.type === 'welcome') ws.send(JSON.stringify({type: 'announce', op: 'post', text: 'I am the host now', ref: 'x'}));
					if (m.type === 'error' || m.type === 'ack') { resolve(m.type === 'ack' ? 'ack' : m.code); ws.close(); }
				}
			};
		})`)
		if code != chat.CodeForbidden {
			t.Fatalf("a viewer's announcement got %q, want %q", code, chat.CodeForbidden)
		}
		time.Sleep(300 * time.Millisecond)
		if testenv.Eval[bool](t, ctx, shown("#banner .text", "I am the host now")) {
			t.Fatal("the viewer's announcement is in the banner")
		}
	})

	t.Run("host mode in the page", func(t *testing.T) {
		testenv.Do(t, ctx, chromedp.Click("#host-btn"), chromedp.WaitVisible("#key-input"),
			chromedp.SendKeys("#key-input", srv.HostKey), chromedp.KeyEvent("\r"))
		testenv.WaitTrue(t, ctx, 10*time.Second, `document.body.dataset.role === 'host' && !document.getElementById('host-tools').hidden`)
		if strings.Contains(testenv.Eval[string](t, ctx, `location.href`), srv.HostKey) {
			t.Error("the host key is in the URL")
		}
		const ann = "Lab moved to room 4 ➡️"
		testenv.Do(t, ctx, chromedp.SendKeys("#announce-text", ann), chromedp.Click("#announce-send"))
		got := tcp.wait(t, 10*time.Second, "announcement from the page", func(m chat.Msg) bool {
			return m.Type == chat.TypeAnnouncement && m.Op == "post" && m.Text == ann
		})
		if got.From != "Zoë Ångström" {
			t.Errorf("announcement from %q", got.From)
		}
		testenv.WaitTrue(t, ctx, 5*time.Second, shown("#banner .text", ann))
		// Delete takes two taps.
		sel := fmt.Sprintf(`#banner .announcement[data-id="%d"] .tools button:last-child`, got.ID)
		testenv.Do(t, ctx, chromedp.Click(sel), chromedp.Click(sel))
		tcp.wait(t, 10*time.Second, "deletion from the page", func(m chat.Msg) bool {
			return m.Type == chat.TypeAnnouncement && m.Op == "delete" && m.Target == got.ID
		})
		testenv.WaitTrue(t, ctx, 5*time.Second, `!`+shown("#banner .text", ann))

		testenv.Do(t, ctx, chromedp.SendKeys("#text", "Quiet please"), chromedp.KeyEvent("\r"))
		m := tcp.wait(t, 10*time.Second, "the host's chat", func(m chat.Msg) bool { return m.Type == chat.TypeChat && m.Text == "Quiet please" })
		if m.Role != chat.RoleHost {
			t.Errorf("the page's host message has role %q", m.Role)
		}
	})

	t.Run("hostile text stays text", func(t *testing.T) {
		evil, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: `<img src=x onerror=alert(1)>`})
		texts := []string{
			`<script>window.pwned = 2; alert(2)</script>`,
			`<img src=x onerror="window.pwned = 3; alert(3)">`,
			`</li><li><b>bold?</b> &lt;not an entity&gt;`,
		}
		for _, s := range texts {
			if _, err := evil.c.Chat(s); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range texts {
			testenv.WaitTrue(t, ctx, 10*time.Second, shown("#messages li .text", s))
		}
		testenv.WaitTrue(t, ctx, time.Second, shown("#messages li .from", `<img src=x onerror=alert(1)>`))
		testenv.WaitTrue(t, ctx, time.Second, shown("#presence-list li", `<img src=x onerror=alert(1)>`))

		// A right-to-left override typed in the page: the server refuses it
		// (bad_text), the page says so beside the message, and shows the
		// controls as codes rather than obeying them.
		override := "abc \u202Egnp.exe\u202C def"
		const overrideShown = "abc [U+202E]gnp.exe[U+202C] def"
		// No keyboard has the override as a key: it comes pasted.
		testenv.Eval[bool](t, ctx, `(document.getElementById('text').value = `+testenv.JSString(override)+`, true)`)
		testenv.Do(t, ctx, chromedp.Focus("#text"), chromedp.KeyEvent("\r"))
		testenv.WaitTrue(t, ctx, 10*time.Second, `Array.from(document.querySelectorAll('#messages li.failed')).some((li) => li.querySelector('.text').textContent === `+testenv.JSString(overrideShown)+` && li.querySelector('.status').textContent.includes('not sent'))`)
		if n := testenv.Eval[int](t, ctx, `document.querySelectorAll('#app img, #app script, #app b, #messages li li').length`); n != 0 {
			t.Errorf("%d elements made from chat text", n)
		}
		if testenv.Eval[bool](t, ctx, `window.pwned !== undefined`) {
			t.Error("script from chat text ran")
		}
		if a := alerts(); len(a) != 0 {
			t.Errorf("alerts opened: %q", a)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		testenv.Screenshot(t, ctx, "chromium-1280x800.png", 1280, 800)
		testenv.Screenshot(t, ctx, "chromium-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		// The phone layout: video above the chat, the input on screen.
		if !testenv.Eval[bool](t, ctx, `(() => {
			const v = document.getElementById('video-pane').getBoundingClientRect();
			const c = document.getElementById('chat-pane').getBoundingClientRect();
			const i = document.getElementById('text').getBoundingClientRect();
			return v.bottom <= c.top + 1 && i.bottom <= innerHeight && i.height >= 44;
		})()`) {
			t.Error("portrait: video not above chat, or the input off screen or small")
		}
		testenv.Screenshot(t, ctx, "chromium-844x390.png", 844, 390, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateLandscape)
		if !testenv.Eval[bool](t, ctx, `(() => {
			const v = document.getElementById('video-pane').getBoundingClientRect();
			const c = document.getElementById('chat-pane').getBoundingClientRect();
			return v.right <= c.left + 1;
		})()`) {
			t.Error("landscape: video and chat not side by side")
		}
	})
}

// BenchmarkWebFrameToDrawn: from the frame's capture to drawn on the
// page's canvas in headless Chromium, 1280×720 at 30 fps on loopback (both
// clocks are this machine's). The page reports every frame it draws.
func BenchmarkWebFrameToDrawn(b *testing.B) {
	srv := startWeb(b, "1280x720")
	ctx, _ := testenv.Chromium(b)
	testenv.OnNewDocument(b, ctx, `
		window.__latency = [];
		document.addEventListener('lsbroadcast:frame', (e) => window.__latency.push(e.detail.latency));`)
	testenv.Do(b, ctx, chromedp.Navigate(srv.URL))
	time.Sleep(2 * time.Second) // the first frames, the decoder warming up
	testenv.Eval[bool](b, ctx, `(window.__latency = [], true)`)
	for b.Loop() {
		time.Sleep(100 * time.Millisecond)
	}
	lat := testenv.Eval[[]float64](b, ctx, `window.__latency`)
	if len(lat) == 0 {
		b.Fatal("no frames drawn")
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "p50-ms")
	b.ReportMetric(lat[len(lat)*99/100], "p99-ms")
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "drawn-fps")
}

// TestWebViewerReconnects: the broadcaster goes away (a restart, the Pi's
// power) and comes back; the page carries on by itself, video and chat.
func TestWebViewerReconnects(t *testing.T) {
	srv := startWeb(t, "320x240")
	ctx, alerts := testenv.Chromium(t)
	testenv.Do(t, ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible("#name-input"),
		chromedp.SendKeys("#name-input", "Rémi"), chromedp.KeyEvent("\r"))
	testenv.WaitTrue(t, ctx, 15*time.Second, `document.body.dataset.chat === 'live' && Number(document.body.dataset.frames) >= 5`)

	srv.b.Stop()
	testenv.WaitTrue(t, ctx, 10*time.Second, `document.body.dataset.chat === 'offline' && document.getElementById('video-state').dataset.state === 'offline'`)
	before := testenv.Eval[int](t, ctx, `Number(document.body.dataset.frames)`)

	again := restartWeb(t, srv)
	// The backoff is at most 10 s (with jitter) between attempts.
	testenv.WaitTrue(t, ctx, 25*time.Second, fmt.Sprintf(`document.body.dataset.chat === 'live' && Number(document.body.dataset.frames) >= %d`, before+5))
	tcp, _ := dialChat(t, again.ChatAddr, chat.Hello{Name: "Kofi"})
	testenv.Do(t, ctx, chromedp.SendKeys("#text", "Back again"), chromedp.KeyEvent("\r"))
	tcp.wait(t, 10*time.Second, "chat after the restart", func(m chat.Msg) bool {
		return m.Type == chat.TypeChat && m.Text == "Back again" && m.From == "Rémi"
	})
	if a := alerts(); len(a) != 0 {
		t.Errorf("alerts: %q", a)
	}
}

// TestWebSocketForeignOrigin: a page of another site open in a viewer's
// browser must not reach the chat or the video.
func TestWebSocketForeignOrigin(t *testing.T) {
	srv := startWeb(t, "640x360")
	for _, path := range []string{"/ws/chat", "/ws/video"} {
		for _, origin := range []string{"http://evil.example", "http://127.0.0.1.evil.example", "null"} {
			status, err := wsHandshake(srv.Addr, path, origin)
			if err != nil {
				t.Fatal(err)
			}
			if status == http.StatusSwitchingProtocols {
				t.Errorf("%s with Origin %s: accepted", path, origin)
			}
		}
		// The page's own origin is let in (else the refusals above prove
		// nothing).
		if status, err := wsHandshake(srv.Addr, path, "http://"+srv.Addr); err != nil || status != http.StatusSwitchingProtocols {
			t.Errorf("%s with the page's own Origin: %d %v", path, status, err)
		}
	}
}

// wsHandshake sends a WebSocket upgrade with the given Origin and returns
// the status of the answer.
func wsHandshake(addr, path, origin string) (int, error) {
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", origin)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestWebViewerInFirefox(t *testing.T) {
	srv := startWeb(t, "640x360")
	ff := testenv.Firefox(t)
	ff.SetViewport(1280, 800)
	ff.Navigate(srv.URL)

	t.Run("video advances", func(t *testing.T) {
		ff.T = t
		ff.WaitTrue(15*time.Second, `Number(document.body.dataset.frames) >= 5`)
		var snap string
		ff.Eval(canvasPNG, &snap)
		first, ok := patternSeq(t, snap)
		if !ok {
			t.Fatal("the canvas does not hold the test pattern's frame number")
		}
		time.Sleep(time.Second)
		ff.Eval(canvasPNG, &snap)
		second, ok := patternSeq(t, snap)
		if !ok || second <= first {
			t.Fatalf("pattern frame %d then %d (ok %v): the video does not advance", first, second, ok)
		}
		t.Logf("pattern frames %d -> %d in 1 s", first, second)
	})

	tcp, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Kofi (lsview)"})
	host, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Ms Rivera", HostKey: srv.HostKey})

	t.Run("chat and announcements", func(t *testing.T) {
		ff.T = t
		ff.WaitTrue(10*time.Second, `!document.getElementById('name-dialog').hidden`)
		ff.TypeInto("#name-input", "Fennec 🦊")
		ff.WaitTrue(10*time.Second, `document.body.dataset.chat === 'live'`)
		ff.TypeInto("#text", pageText)
		tcp.wait(t, 10*time.Second, "chat from Firefox", func(m chat.Msg) bool {
			return m.Type == chat.TypeChat && m.Text == pageText && m.From == "Fennec 🦊"
		})
		if _, err := tcp.c.Chat(tcpText); err != nil {
			t.Fatal(err)
		}
		ff.WaitTrue(10*time.Second, shown("#messages li .text", tcpText))
		const ann = "Firefox sees this banner 📌"
		if _, err := host.c.Announce("post", 0, ann); err != nil {
			t.Fatal(err)
		}
		ff.WaitTrue(10*time.Second, shown("#banner .text", ann))
		if _, err := tcp.c.Chat(`<img src=x onerror="window.pwned = 1">`); err != nil {
			t.Fatal(err)
		}
		ff.WaitTrue(10*time.Second, shown("#messages li .text", `<img src=x onerror="window.pwned = 1">`))
		var bad bool
		ff.Eval(`document.querySelectorAll('#app img').length > 0 || window.pwned !== undefined`, &bad)
		if bad {
			t.Error("chat text became markup in Firefox")
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		ff.T = t
		ff.Screenshot("firefox-1280x800.png", 1280, 800)
		ff.Screenshot("firefox-390x844.png", 390, 844)
	})
}
