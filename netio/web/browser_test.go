package web

// The quality selector in real browsers: headless Chromium (DevTools
// protocol, through chromedp) and Firefox ESR (WebDriver BiDi), against a
// web server this test feeds with the test pattern at two sizes, as the
// broadcaster will with its ladder. The full browser tests of the viewer
// (chat, announcements, layout) are cmd/lsbroadcast's; these drivers are
// a small copy of theirs. Screenshots go where those tests put theirs.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// artifactDir is where the browser tests keep their screenshots:
// $LSBROADCAST_ARTIFACTS, else bin/test-artifacts/web in the repository.
func artifactDir(t testing.TB) string {
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

// startPatternLadder serves the test pattern at 640x360 and, while a
// browser watches half, at 320x180 too.
func startPatternLadder(t *testing.T) *testWeb {
	t.Helper()
	w := startWeb(t, func(s *Server) {
		s.Status = func() Status {
			return Status{Name: "Ladder in a browser", Width: 640, Height: 360, FPS: 30, Live: true,
				Renditions: []netio.Rendition{{Name: netio.Half, Path: "/live/half", Width: 320, Height: 180}}}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var seq atomic.Uint64
	full := &pattern.Source{Size: capture.Size{W: 640, H: 360}, FPS: 30, Quality: 80, Workers: 1}
	half := &pattern.Source{Size: capture.Size{W: 320, H: 180}, FPS: 30, Quality: 80, Workers: 1}
	wg.Go(func() {
		full.Run(ctx, func(f capture.Frame) { w.WriteFrame(seq.Add(1), f.Captured, f.JPEG) })
	})
	wg.Go(func() {
		half.Run(ctx, func(f capture.Frame) {
			if n := seq.Load(); n > 0 && w.Watching(netio.Half) > 0 {
				w.WriteRendition(netio.Half, n, f.Captured, f.JPEG)
			}
		})
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return w
}

// The page's state, as expressions.
const (
	canvasWidth = `document.getElementById('video').width`
	framesDrawn = `Number(document.body.dataset.frames)`
	// selectorFits: the quality selector is shown, labelled, and inside
	// the viewport and the video bar.
	selectorFits = `(() => {
		const q = document.getElementById('quality');
		const r = q.getBoundingClientRect();
		const bar = document.getElementById('video-bar').getBoundingClientRect();
		return !document.getElementById('quality-box').hidden && q.labels.length === 1 &&
			q.labels[0].textContent === 'Video quality' && r.width > 0 &&
			r.left >= 0 && r.right <= innerWidth && r.top >= bar.top && r.bottom <= bar.bottom;
	})()`
)

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ---- Chromium

func TestQualitySelectorInChromium(t *testing.T) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Unavailable(t, "chromium not installed (make deps installs it)")
	}
	w := startPatternLadder(t)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Anything but loopback goes to a dead proxy.
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
	)
	ctx, cancelT := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelT(); cancelA() })
	// The browser starts with the tab's own context (not one of the
	// timeouts below, whose end would close it).
	if err := chromedp.Listen(ctx, func(any) {}); err != nil {
		testenv.Unavailable(t, "chromium does not start: %v", err)
	}

	run := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, actions...); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(expr string, v any) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		r, err := chromedp.Run(c, chromedp.Evaluate[json.RawMessage](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if err := json.Unmarshal(r, v); err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
	}
	waitTrue := func(d time.Duration, expr string) {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			var ok bool
			eval(expr, &ok)
			if ok {
				return
			}
			if time.Now().After(deadline) {
				var state string
				eval(`JSON.stringify({width: `+canvasWidth+`, frames: `+framesDrawn+`, quality: document.body.dataset.quality, rung: document.body.dataset.rung, options: Array.from(document.getElementById('quality').options).map((o) => o.textContent)})`, &state)
				t.Fatalf("not true after %v: %s\npage: %s", d, expr, state)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	shot := func(name string, width, height int64, opts ...chromedp.EmulateViewportOption) {
		t.Helper()
		run(chromedp.EmulateViewport(width, height, opts...), chromedp.Sleep(700*time.Millisecond))
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(artifactDir(t), name)
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", file)
	}

	run(chromedp.Navigate(w.base + "/"))
	// First visit: Auto, on the full picture while this fast socket keeps up.
	waitTrue(15*time.Second, framesDrawn+` >= 5 && `+canvasWidth+` === 640 && document.body.dataset.rung === 'full'`)
	waitTrue(5*time.Second, selectorFits)
	var options []string
	eval(`Array.from(document.getElementById('quality').options).map((o) => o.value + '=' + o.textContent)`, &options)
	if want := []string{"auto=Auto · Full", "full=Full 640×360", "half=Half 320×180"}; fmt.Sprint(options) != fmt.Sprint(want) {
		t.Errorf("options %q, want %q", options, want)
	}
	if w.Watching(netio.Full) != 1 || w.Watching(netio.Half) != 0 {
		t.Errorf("on Auto: Watching full %d, half %d", w.Watching(netio.Full), w.Watching(netio.Half))
	}

	// Half, by keyboard: the closed select moves on with the arrow keys.
	run(chromedp.Focus("#quality"), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown))
	waitTrue(10*time.Second, `document.body.dataset.quality === 'half' && document.body.dataset.rung === 'half' && `+canvasWidth+` === 320`)
	var drawnAtHalf int
	eval(framesDrawn, &drawnAtHalf)
	waitTrue(10*time.Second, fmt.Sprintf(`%s >= %d && %s === 320`, framesDrawn, drawnAtHalf+10, canvasWidth))
	if w.Watching(netio.Half) != 1 || w.Watching(netio.Full) != 0 {
		t.Errorf("on half: Watching full %d, half %d", w.Watching(netio.Full), w.Watching(netio.Half))
	}
	shot("ladder-chromium-half-1280x800.png", 1280, 800)

	// The choice survives a reload.
	var kept string
	eval(`localStorage.getItem('lsbroadcast.quality')`, &kept)
	if kept != netio.Half {
		t.Errorf("kept %q, want half", kept)
	}
	run(chromedp.Reload())
	waitTrue(15*time.Second, `document.getElementById('quality').value === 'half' && `+framesDrawn+` >= 5 && `+canvasWidth+` === 320`)

	// A phone held upright: the selector fits beside the video's figures.
	shot("ladder-chromium-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	waitTrue(5*time.Second, selectorFits)
	run(chromedp.Focus("#quality"), chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.ArrowUp)) // Auto
	waitTrue(10*time.Second, `document.body.dataset.quality === 'auto' && `+canvasWidth+` === 640`)
	shot("ladder-chromium-auto-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	waitTrue(5*time.Second, selectorFits)
}

// ---- Firefox, through WebDriver BiDi (its own remote protocol: no
// geckodriver).

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
	c.SetReadLimit(64 << 20) // screenshots
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
	for {
		var ok bool
		b.eval(expr, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("firefox: not true after %v: %s", d, expr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keys focuses the element and presses the keys (WebDriver key values).
func (b *bidi) keys(sel string, keys ...string) {
	b.t.Helper()
	b.eval(`(document.querySelector(`+jsonString(sel)+`).focus(), true)`, nil)
	var actions []map[string]any
	for _, k := range keys {
		actions = append(actions, map[string]any{"type": "keyDown", "value": k}, map[string]any{"type": "keyUp", "value": k})
	}
	b.call("input.performActions", map[string]any{"context": b.page,
		"actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": actions}}})
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
	file := filepath.Join(artifactDir(b.t), name)
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", file)
}

func TestQualitySelectorInFirefox(t *testing.T) {
	w := startPatternLadder(t)
	ff := firefox(t)
	ff.call("browsingContext.setViewport", map[string]any{"context": ff.page, "viewport": map[string]any{"width": 1280, "height": 800}})
	ff.call("browsingContext.navigate", map[string]any{"context": ff.page, "url": w.base + "/", "wait": "complete"})
	ff.waitTrue(15*time.Second, framesDrawn+` >= 5 && `+canvasWidth+` === 640 && document.body.dataset.rung === 'full'`)
	ff.waitTrue(5*time.Second, selectorFits)

	const arrowDown, arrowUp = "\uE015", "\uE013"
	ff.keys("#quality", arrowDown, arrowDown)
	ff.waitTrue(10*time.Second, `document.body.dataset.quality === 'half' && document.body.dataset.rung === 'half' && `+canvasWidth+` === 320`)
	var drawn int
	ff.eval(framesDrawn, &drawn)
	ff.waitTrue(10*time.Second, fmt.Sprintf(`%s >= %d && %s === 320`, framesDrawn, drawn+10, canvasWidth))
	if w.Watching(netio.Half) != 1 {
		t.Errorf("Watching(half) = %d", w.Watching(netio.Half))
	}
	ff.screenshot("ladder-firefox-half-1280x800.png", 1280, 800)

	ff.call("browsingContext.reload", map[string]any{"context": ff.page, "wait": "complete"})
	ff.waitTrue(15*time.Second, `document.getElementById('quality').value === 'half' && `+framesDrawn+` >= 5 && `+canvasWidth+` === 320`)
	ff.screenshot("ladder-firefox-390x844.png", 390, 844)
	ff.waitTrue(5*time.Second, selectorFits)
	ff.keys("#quality", arrowUp, arrowUp)
	ff.waitTrue(10*time.Second, `document.body.dataset.quality === 'auto' && `+canvasWidth+` === 640`)
}
