package main

// The web viewer in real browsers, headless Chromium (DevTools protocol,
// through chromedp) and Firefox ESR (WebDriver BiDi), against the real
// lsbroadcast on loopback: the video advances, chat goes both ways with a
// TCP chat client, announcements, what a viewer may not do, hostile text,
// and a foreign Origin. Screenshots go to artifactDir for a person to look
// at.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

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

// webArtifactDir is where the browser tests keep their screenshots:
// $LSBROADCAST_ARTIFACTS, else bin/test-artifacts/web in the repository.
func webArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("LSBROADCAST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "bin", "test-artifacts", "web")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

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

// jsString is s as a JavaScript string literal (JSON is one; Go's encoder
// escapes U+2028 and U+2029, which older JavaScript refuses in a literal).
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
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

// ---- Chromium

// chromium starts a headless Chromium with a fresh profile and returns a
// tab's context, and the messages of every alert() the page opened.
func chromium(t testing.TB) (context.Context, func() []string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Unavailable(t, "chromium not installed (make deps installs it)")
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Timers of a tab nobody looks at are slowed: these tabs are all
		// headless.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		// Anything but loopback goes to a dead proxy: the browser reaches
		// nothing off this machine, whatever it tries.
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
	)
	ctx, cancelT := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelT(); cancelA() })
	var mu sync.Mutex
	var alerts []string
	dialogs := make(chan struct{}, 16)
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			alerts = append(alerts, d.Message)
			mu.Unlock()
			select {
			case dialogs <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		testenv.Unavailable(t, "chromium does not start: %v", err)
	}
	// An open alert stops the page; dismiss it so the test reports it
	// instead of hanging.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-dialogs:
				chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), alerts...)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// waitTrue polls a JavaScript expression until it is true.
func waitTrue(t *testing.T, ctx context.Context, d time.Duration, expr string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok := eval[bool](t, ctx, expr); ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not true after %v: %s", d, expr)
}

// shown is a JavaScript expression: an element matching sel has exactly
// the text.
func shown(sel, text string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll(%s)).some((e) => e.textContent === %s)`, jsString(sel), jsString(text))
}

func screenshot(t *testing.T, ctx context.Context, name string, w, h int64, opts ...chromedp.EmulateViewportOption) {
	t.Helper()
	do(t, ctx, chromedp.EmulateViewport(w, h, opts...), chromedp.Sleep(700*time.Millisecond))
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(webArtifactDir(t), name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", file)
}

func TestWebViewerInChromium(t *testing.T) {
	srv := startWeb(t, "640x360")
	ctx, alerts := chromium(t)
	// From the first byte of the page on: what the Content-Security-Policy
	// blocked (an inline script or style would be) and uncaught errors.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.__problems = [];
		document.addEventListener('securitypolicyviolation', (e) => window.__problems.push('CSP ' + e.violatedDirective + ' ' + e.blockedURI));
		window.addEventListener('error', (e) => window.__problems.push('error ' + e.message));
		window.addEventListener('unhandledrejection', (e) => window.__problems.push('rejection ' + e.reason));`}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(srv.URL))
	t.Cleanup(func() {
		if p := eval[[]string](t, ctx, `window.__problems`); len(p) != 0 {
			t.Errorf("the page had problems: %q", p)
		}
	})

	t.Run("video advances", func(t *testing.T) {
		waitTrue(t, ctx, 15*time.Second, `Number(document.body.dataset.frames) >= 5`)
		first, ok := patternSeq(t, eval[string](t, ctx, canvasPNG))
		if !ok {
			t.Fatal("the canvas does not hold the test pattern's frame number")
		}
		seq1 := eval[string](t, ctx, `document.body.dataset.lastSeq`)
		time.Sleep(time.Second)
		second, ok := patternSeq(t, eval[string](t, ctx, canvasPNG))
		if !ok || second <= first {
			t.Fatalf("pattern frame %d then %d (ok %v): the video does not advance", first, second, ok)
		}
		if seq2 := eval[string](t, ctx, `document.body.dataset.lastSeq`); seq2 == seq1 {
			t.Errorf("dataset.lastSeq stays %s", seq1)
		}
		if w := eval[int](t, ctx, `document.getElementById('video').width`); w != 640 {
			t.Errorf("canvas %d pixels wide, want the frame's 640", w)
		}
		t.Logf("pattern frames %d -> %d in 1 s; %s drawn", first, second, eval[string](t, ctx, `document.body.dataset.frames`))
	})

	tcp, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Kofi (lsview)"})

	t.Run("chat both ways", func(t *testing.T) {
		// First visit: the page asks for a name. One already here is
		// refused, and the page says so and offers another.
		do(t, ctx, chromedp.WaitVisible("#name-input"),
			chromedp.SendKeys("#name-input", "kofi (LSVIEW)"), chromedp.KeyEvent("\r"))
		waitTrue(t, ctx, 10*time.Second, `!document.getElementById('name-dialog').hidden && document.getElementById('name-error').textContent.includes('already')`)
		if v := eval[string](t, ctx, `document.getElementById('name-input').value`); v == "" || strings.EqualFold(v, "Kofi (lsview)") {
			t.Errorf("after name_taken the page offers %q", v)
		}
		eval[bool](t, ctx, `(document.getElementById('name-input').value = '', true)`)
		do(t, ctx, chromedp.SendKeys("#name-input", "Zoë Ångström"), chromedp.KeyEvent("\r"))
		waitTrue(t, ctx, 10*time.Second, `document.body.dataset.chat === 'live'`)
		if name := eval[string](t, ctx, `localStorage.getItem('lsbroadcast.name')`); name != "Zoë Ångström" {
			t.Errorf("name kept as %q", name)
		}
		waitTrue(t, ctx, 5*time.Second, shown("#presence-list li", "Kofi (lsview)"))

		do(t, ctx, chromedp.SendKeys("#text", pageText), chromedp.KeyEvent("\r"))
		tcp.wait(t, 10*time.Second, "chat from the page", func(m chat.Msg) bool {
			return m.Type == chat.TypeChat && m.Text == pageText && m.From == "Zoë Ångström"
		})
		// Acknowledged: no longer "sending…".
		waitTrue(t, ctx, 5*time.Second, shown("#messages li:not(.pending):not(.failed) .text", pageText))
		if v := eval[string](t, ctx, `document.getElementById('text').value`); v != "" {
			t.Errorf("input still holds %q after sending", v)
		}

		if _, err := tcp.c.Chat(tcpText); err != nil {
			t.Fatal(err)
		}
		waitTrue(t, ctx, 10*time.Second, shown("#messages li .text", tcpText))
		waitTrue(t, ctx, time.Second, shown("#messages li .from", "Kofi (lsview)"))
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
		waitTrue(t, ctx, 10*time.Second, `!document.getElementById('banner').hidden && `+shown("#banner .text", ann))
		if _, err := host.c.Chat("Homework is on the site"); err != nil {
			t.Fatal(err)
		}
		waitTrue(t, ctx, 10*time.Second, `Array.from(document.querySelectorAll('#messages li.host')).some((li) => li.querySelector('.badge') && li.textContent.includes('Homework is on the site'))`)
	})

	t.Run("a viewer cannot announce", func(t *testing.T) {
		if !eval[bool](t, ctx, `document.getElementById('host-tools').hidden && document.querySelectorAll('#banner .tools').length === 0`) {
			t.Error("a viewer sees the host tools")
		}
		// Past the page's buttons, from script in the page itself: the
		// server refuses.
		code := eval[string](t, ctx, `new Promise((resolve) => {
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
		if eval[bool](t, ctx, shown("#banner .text", "I am the host now")) {
			t.Fatal("the viewer's announcement is in the banner")
		}
	})

	t.Run("host mode in the page", func(t *testing.T) {
		do(t, ctx, chromedp.Click("#host-btn"), chromedp.WaitVisible("#key-input"),
			chromedp.SendKeys("#key-input", srv.HostKey), chromedp.KeyEvent("\r"))
		waitTrue(t, ctx, 10*time.Second, `document.body.dataset.role === 'host' && !document.getElementById('host-tools').hidden`)
		if strings.Contains(eval[string](t, ctx, `location.href`), srv.HostKey) {
			t.Error("the host key is in the URL")
		}
		const ann = "Lab moved to room 4 ➡️"
		do(t, ctx, chromedp.SendKeys("#announce-text", ann), chromedp.Click("#announce-send"))
		got := tcp.wait(t, 10*time.Second, "announcement from the page", func(m chat.Msg) bool {
			return m.Type == chat.TypeAnnouncement && m.Op == "post" && m.Text == ann
		})
		if got.From != "Zoë Ångström" {
			t.Errorf("announcement from %q", got.From)
		}
		waitTrue(t, ctx, 5*time.Second, shown("#banner .text", ann))
		// Delete takes two taps.
		sel := fmt.Sprintf(`#banner .announcement[data-id="%d"] .tools button:last-child`, got.ID)
		do(t, ctx, chromedp.Click(sel), chromedp.Click(sel))
		tcp.wait(t, 10*time.Second, "deletion from the page", func(m chat.Msg) bool {
			return m.Type == chat.TypeAnnouncement && m.Op == "delete" && m.Target == got.ID
		})
		waitTrue(t, ctx, 5*time.Second, `!`+shown("#banner .text", ann))

		do(t, ctx, chromedp.SendKeys("#text", "Quiet please"), chromedp.KeyEvent("\r"))
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
			waitTrue(t, ctx, 10*time.Second, shown("#messages li .text", s))
		}
		waitTrue(t, ctx, time.Second, shown("#messages li .from", `<img src=x onerror=alert(1)>`))
		waitTrue(t, ctx, time.Second, shown("#presence-list li", `<img src=x onerror=alert(1)>`))

		// A right-to-left override typed in the page: the server refuses it
		// (bad_text), the page says so beside the message, and shows the
		// controls as codes rather than obeying them.
		override := "abc \u202Egnp.exe\u202C def"
		const overrideShown = "abc [U+202E]gnp.exe[U+202C] def"
		// No keyboard has the override as a key: it comes pasted.
		eval[bool](t, ctx, `(document.getElementById('text').value = `+jsString(override)+`, true)`)
		do(t, ctx, chromedp.Focus("#text"), chromedp.KeyEvent("\r"))
		waitTrue(t, ctx, 10*time.Second, `Array.from(document.querySelectorAll('#messages li.failed')).some((li) => li.querySelector('.text').textContent === `+jsString(overrideShown)+` && li.querySelector('.status').textContent.includes('not sent'))`)
		if n := eval[int](t, ctx, `document.querySelectorAll('#app img, #app script, #app b, #messages li li').length`); n != 0 {
			t.Errorf("%d elements made from chat text", n)
		}
		if eval[bool](t, ctx, `window.pwned !== undefined`) {
			t.Error("script from chat text ran")
		}
		if a := alerts(); len(a) != 0 {
			t.Errorf("alerts opened: %q", a)
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		screenshot(t, ctx, "chromium-1280x800.png", 1280, 800)
		screenshot(t, ctx, "chromium-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		// The phone layout: video above the chat, the input on screen.
		if !eval[bool](t, ctx, `(() => {
			const v = document.getElementById('video-pane').getBoundingClientRect();
			const c = document.getElementById('chat-pane').getBoundingClientRect();
			const i = document.getElementById('text').getBoundingClientRect();
			return v.bottom <= c.top + 1 && i.bottom <= innerHeight && i.height >= 44;
		})()`) {
			t.Error("portrait: video not above chat, or the input off screen or small")
		}
		screenshot(t, ctx, "chromium-844x390.png", 844, 390, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateLandscape)
		if !eval[bool](t, ctx, `(() => {
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
	ctx, _ := chromium(b)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.__latency = [];
		document.addEventListener('lsbroadcast:frame', (e) => window.__latency.push(e.detail.latency));`}); err != nil {
		b.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		b.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the first frames, the decoder warming up
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.__latency = [], true)`)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		time.Sleep(100 * time.Millisecond)
	}
	lat, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`window.__latency`))
	if err != nil || len(lat) == 0 {
		b.Fatalf("no frames drawn: %v", err)
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
	ctx, alerts := chromium(t)
	do(t, ctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible("#name-input"),
		chromedp.SendKeys("#name-input", "Rémi"), chromedp.KeyEvent("\r"))
	waitTrue(t, ctx, 15*time.Second, `document.body.dataset.chat === 'live' && Number(document.body.dataset.frames) >= 5`)

	srv.b.Stop()
	waitTrue(t, ctx, 10*time.Second, `document.body.dataset.chat === 'offline' && document.getElementById('video-state').dataset.state === 'offline'`)
	before := eval[int](t, ctx, `Number(document.body.dataset.frames)`)

	again := restartWeb(t, srv)
	// The backoff is at most 10 s (with jitter) between attempts.
	waitTrue(t, ctx, 25*time.Second, fmt.Sprintf(`document.body.dataset.chat === 'live' && Number(document.body.dataset.frames) >= %d`, before+5))
	tcp, _ := dialChat(t, again.ChatAddr, chat.Hello{Name: "Kofi"})
	do(t, ctx, chromedp.SendKeys("#text", "Back again"), chromedp.KeyEvent("\r"))
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

// ---- Firefox, through WebDriver BiDi (Firefox's own remote protocol: no
// geckodriver needed).

// firefoxPrefs keep a test Firefox off the network: anything but loopback
// goes to a dead proxy, and the services that phone home are off.
const firefoxPrefs = `user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", 9);
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", 9);
user_pref("network.trr.mode", 5);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("app.update.disabledForTesting", true);
user_pref("app.normandy.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:9/");
user_pref("messaging-system.rsexperimentloader.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
`

// bidi is a WebDriver BiDi session with one browsing context.
type bidi struct {
	t    *testing.T
	c    *websocket.Conn
	id   int
	page string // the browsing context
}

func firefox(t *testing.T) *bidi {
	t.Helper()
	path, err := exec.LookPath("firefox-esr")
	if err != nil {
		testenv.Unavailable(t, "firefox-esr not installed (make deps installs it)")
	}
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePortOn(t, "127.0.0.1")
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port", fmt.Sprint(port), "about:blank")
	// Its content processes are its children: stop them all.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var log testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		testenv.Unavailable(t, "firefox-esr does not start: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("firefox log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), "WebDriver BiDi listening") {
		if time.Now().After(deadline) {
			t.Fatalf("firefox-esr: no WebDriver BiDi after 30 s:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/session", port), nil)
	if err != nil {
		t.Fatalf("WebDriver BiDi: %v", err)
	}
	c.SetReadLimit(64 << 20) // screenshots and canvas snapshots
	t.Cleanup(func() { c.CloseNow() })
	b := &bidi{t: t, c: c}
	b.call("session.new", map[string]any{"capabilities": map[string]any{}})
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	b.callInto(&tree, "browsingContext.getTree", map[string]any{})
	if len(tree.Contexts) == 0 {
		t.Fatal("firefox has no browsing context")
	}
	b.page = tree.Contexts[0].Context
	return b
}

// call sends a command and returns its result, skipping events.
func (b *bidi) call(method string, params any) json.RawMessage {
	b.t.Helper()
	b.id++
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := json.Marshal(map[string]any{"id": b.id, "method": method, "params": params})
	if err := b.c.Write(ctx, websocket.MessageText, req); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	for {
		_, data, err := b.c.Read(ctx)
		if err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
		var m struct {
			ID      int             `json:"id"`
			Type    string          `json:"type"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			b.t.Fatalf("%s: %v", method, err)
		}
		if m.ID != b.id {
			continue
		}
		if m.Type == "error" {
			b.t.Fatalf("%s: %s: %s", method, m.Error, m.Message)
		}
		return m.Result
	}
}

func (b *bidi) callInto(v any, method string, params any) {
	b.t.Helper()
	if err := json.Unmarshal(b.call(method, params), v); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
}

// eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value.
func (b *bidi) eval(expr string, v any) {
	b.t.Helper()
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	b.callInto(&r, "script.evaluate", map[string]any{"expression": expr, "awaitPromise": true,
		"target": map[string]any{"context": b.page}})
	if r.Type != "success" {
		b.t.Fatalf("%s: %s", expr, r.ExceptionDetails)
	}
	if v != nil {
		if err := json.Unmarshal(r.Result.Value, v); err != nil {
			b.t.Fatalf("%s: %v (%s)", expr, err, r.Result.Value)
		}
	}
}

func (b *bidi) waitTrue(d time.Duration, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		var ok bool
		b.eval(expr, &ok)
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("firefox: not true after %v: %s", d, expr)
}

// typeInto focuses the element and types text with real key events, one
// per character (grapheme clusters such as 👍🏽 as one), then Enter.
func (b *bidi) typeInto(sel, text string) {
	b.t.Helper()
	b.eval(`(document.querySelector(`+jsString(sel)+`).focus(), true)`, nil)
	var actions []map[string]any
	for _, r := range graphemes(text) {
		actions = append(actions, map[string]any{"type": "keyDown", "value": r}, map[string]any{"type": "keyUp", "value": r})
	}
	const enter = "\uE007"
	actions = append(actions, map[string]any{"type": "keyDown", "value": enter}, map[string]any{"type": "keyUp", "value": enter})
	b.call("input.performActions", map[string]any{"context": b.page,
		"actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": actions}}})
}

// graphemes splits s into what a person types as one key: a character
// with the modifiers and joiners that follow it.
func graphemes(s string) []string {
	var out []string
	for _, r := range s {
		if len(out) > 0 && (r == '\u200d' || (r >= 0x1F3FB && r <= 0x1F3FF) || r == '\uFE0F' || strings.HasSuffix(out[len(out)-1], "\u200d")) {
			out[len(out)-1] += string(r)
			continue
		}
		out = append(out, string(r))
	}
	return out
}

func (b *bidi) screenshot(name string, w, h int) {
	b.t.Helper()
	b.call("browsingContext.setViewport", map[string]any{"context": b.page, "viewport": map[string]any{"width": w, "height": h}})
	time.Sleep(700 * time.Millisecond)
	var r struct {
		Data string `json:"data"`
	}
	b.callInto(&r, "browsingContext.captureScreenshot", map[string]any{"context": b.page})
	raw, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	file := filepath.Join(webArtifactDir(b.t), name)
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", file)
}

func TestWebViewerInFirefox(t *testing.T) {
	srv := startWeb(t, "640x360")
	ff := firefox(t)
	ff.call("browsingContext.setViewport", map[string]any{"context": ff.page, "viewport": map[string]any{"width": 1280, "height": 800}})
	ff.call("browsingContext.navigate", map[string]any{"context": ff.page, "url": srv.URL, "wait": "complete"})

	t.Run("video advances", func(t *testing.T) {
		ff.t = t
		ff.waitTrue(15*time.Second, `Number(document.body.dataset.frames) >= 5`)
		var snap string
		ff.eval(canvasPNG, &snap)
		first, ok := patternSeq(t, snap)
		if !ok {
			t.Fatal("the canvas does not hold the test pattern's frame number")
		}
		time.Sleep(time.Second)
		ff.eval(canvasPNG, &snap)
		second, ok := patternSeq(t, snap)
		if !ok || second <= first {
			t.Fatalf("pattern frame %d then %d (ok %v): the video does not advance", first, second, ok)
		}
		t.Logf("pattern frames %d -> %d in 1 s", first, second)
	})

	tcp, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Kofi (lsview)"})
	host, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Ms Rivera", HostKey: srv.HostKey})

	t.Run("chat and announcements", func(t *testing.T) {
		ff.t = t
		ff.waitTrue(10*time.Second, `!document.getElementById('name-dialog').hidden`)
		ff.typeInto("#name-input", "Fennec 🦊")
		ff.waitTrue(10*time.Second, `document.body.dataset.chat === 'live'`)
		ff.typeInto("#text", pageText)
		tcp.wait(t, 10*time.Second, "chat from Firefox", func(m chat.Msg) bool {
			return m.Type == chat.TypeChat && m.Text == pageText && m.From == "Fennec 🦊"
		})
		if _, err := tcp.c.Chat(tcpText); err != nil {
			t.Fatal(err)
		}
		ff.waitTrue(10*time.Second, shown("#messages li .text", tcpText))
		const ann = "Firefox sees this banner 📌"
		if _, err := host.c.Announce("post", 0, ann); err != nil {
			t.Fatal(err)
		}
		ff.waitTrue(10*time.Second, shown("#banner .text", ann))
		if _, err := tcp.c.Chat(`<img src=x onerror="window.pwned = 1">`); err != nil {
			t.Fatal(err)
		}
		ff.waitTrue(10*time.Second, shown("#messages li .text", `<img src=x onerror="window.pwned = 1">`))
		var bad bool
		ff.eval(`document.querySelectorAll('#app img').length > 0 || window.pwned !== undefined`, &bad)
		if bad {
			t.Error("chat text became markup in Firefox")
		}
	})

	t.Run("screenshots", func(t *testing.T) {
		ff.t = t
		ff.screenshot("firefox-1280x800.png", 1280, 800)
		ff.screenshot("firefox-390x844.png", 390, 844)
	})
}
