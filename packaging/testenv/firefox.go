package testenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

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

// WebDriver key values for Bidi.Keys.
const (
	KeyEnter     = "\uE007"
	KeyArrowLeft = "\uE012"
	KeyArrowUp   = "\uE013"
	KeyArrowDown = "\uE015"
)

// bidiTimeout bounds one command and its answer.
const bidiTimeout = 30 * time.Second

// Bidi is a WebDriver BiDi session (Firefox's own remote protocol: no
// geckodriver needed) with one browsing context, the page.
type Bidi struct {
	// T is the test a failed command fails; a subtest sets its own while
	// it drives the browser.
	T    testing.TB
	Page string // the browsing context
	c    *websocket.Conn
	id   int
}

// Firefox starts a headless Firefox ESR with a fresh profile, off the
// network, until the test ends, and returns a session with its first
// browsing context. Without a Firefox that starts, see Unavailable.
func Firefox(t testing.TB) *Bidi {
	t.Helper()
	path, err := exec.LookPath("firefox-esr")
	if err != nil {
		Unavailable(t, "firefox-esr not installed (make deps installs it)")
	}
	profile := t.TempDir()
	if err := os.WriteFile(filepath.Join(profile, "user.js"), []byte(firefoxPrefs), 0o644); err != nil {
		t.Fatal(err)
	}
	port := FreePortOn(t, "127.0.0.1")
	cmd := exec.Command(path, "--headless", "--no-remote", "--profile", profile,
		"--remote-debugging-port", fmt.Sprint(port), "about:blank")
	// Its content processes are its children: stop them all.
	ownGroup(cmd)
	var log SyncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		Unavailable(t, "firefox-esr does not start: %v", err)
	}
	t.Cleanup(func() {
		signalGroup(cmd, false)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(stopGrace):
			signalGroup(cmd, true)
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
	b := &Bidi{T: t, c: c}
	b.Call("session.new", map[string]any{"capabilities": map[string]any{}})
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	b.CallInto(&tree, "browsingContext.getTree", map[string]any{})
	if len(tree.Contexts) == 0 {
		t.Fatal("firefox has no browsing context")
	}
	b.Page = tree.Contexts[0].Context
	return b
}

// Call sends a command and returns its result, skipping events.
func (b *Bidi) Call(method string, params any) json.RawMessage {
	b.T.Helper()
	b.id++
	ctx, cancel := context.WithTimeout(context.Background(), bidiTimeout)
	defer cancel()
	req, _ := json.Marshal(map[string]any{"id": b.id, "method": method, "params": params})
	if err := b.c.Write(ctx, websocket.MessageText, req); err != nil {
		b.T.Fatalf("%s: %v", method, err)
	}
	for {
		_, data, err := b.c.Read(ctx)
		if err != nil {
			b.T.Fatalf("%s: %v", method, err)
		}
		var m struct {
			ID      int             `json:"id"`
			Type    string          `json:"type"`
			Result  json.RawMessage `json:"result"`
			Error   string          `json:"error"`
			Message string          `json:"message"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			b.T.Fatalf("%s: %v", method, err)
		}
		if m.ID != b.id {
			continue
		}
		if m.Type == "error" {
			b.T.Fatalf("%s: %s: %s", method, m.Error, m.Message)
		}
		return m.Result
	}
}

// CallInto sends a command and decodes its result into v.
func (b *Bidi) CallInto(v any, method string, params any) {
	b.T.Helper()
	if err := json.Unmarshal(b.Call(method, params), v); err != nil {
		b.T.Fatalf("%s: %v", method, err)
	}
}

// SetViewport sizes the page's viewport to w×h CSS pixels.
func (b *Bidi) SetViewport(w, h int) {
	b.T.Helper()
	b.Call("browsingContext.setViewport", map[string]any{"context": b.Page, "viewport": map[string]any{"width": w, "height": h}})
}

// Navigate loads url in the page and returns once it has loaded.
func (b *Bidi) Navigate(url string) {
	b.T.Helper()
	b.Call("browsingContext.navigate", map[string]any{"context": b.Page, "url": url, "wait": "complete"})
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its value into v, unless v is nil.
func (b *Bidi) Eval(expr string, v any) {
	b.T.Helper()
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	b.CallInto(&r, "script.evaluate", map[string]any{"expression": expr, "awaitPromise": true,
		"target": map[string]any{"context": b.Page}})
	if r.Type != "success" {
		b.T.Fatalf("%s: %s", expr, r.ExceptionDetails)
	}
	if v != nil {
		if err := json.Unmarshal(r.Result.Value, v); err != nil {
			b.T.Fatalf("%s: %v (%s)", expr, err, r.Result.Value)
		}
	}
}

// WaitTrue polls a JavaScript expression in the page until it is true,
// and fails the test if it is not after d.
func (b *Bidi) WaitTrue(d time.Duration, expr string) {
	b.T.Helper()
	waitTrue(b.T, "firefox: ", d, expr, func() bool {
		var ok bool
		b.Eval(expr, &ok)
		return ok
	})
}

// Keys focuses the element sel selects and presses the keys (WebDriver
// key values: a character, or one of the Key constants).
func (b *Bidi) Keys(sel string, keys ...string) {
	b.T.Helper()
	b.Eval(`(document.querySelector(`+JSString(sel)+`).focus(), true)`, nil)
	var actions []map[string]any
	for _, k := range keys {
		actions = append(actions, map[string]any{"type": "keyDown", "value": k}, map[string]any{"type": "keyUp", "value": k})
	}
	b.Call("input.performActions", map[string]any{"context": b.Page,
		"actions": []any{map[string]any{"type": "key", "id": "keyboard", "actions": actions}}})
}

// TypeInto focuses the element and types text with real key events, one
// per character (grapheme clusters such as 👍🏽 as one), then Enter.
func (b *Bidi) TypeInto(sel, text string) {
	b.T.Helper()
	b.Keys(sel, append(graphemes(text), KeyEnter)...)
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

// Screenshot sets the page's viewport to w×h, lets the page lay itself
// out, and keeps a screenshot under name among the web artifacts
// ($LSBROADCAST_ARTIFACTS, else bin/test-artifacts/web).
func (b *Bidi) Screenshot(name string, w, h int) {
	b.T.Helper()
	b.SetViewport(w, h)
	time.Sleep(700 * time.Millisecond)
	var r struct {
		Data string `json:"data"`
	}
	b.CallInto(&r, "browsingContext.captureScreenshot", map[string]any{"context": b.Page})
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.T.Fatal(err)
	}
	writeScreenshot(b.T, name, png)
}
