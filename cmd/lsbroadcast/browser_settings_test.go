package main

// The web viewer's camera settings (issue 16) in headless Chromium and
// Firefox ESR against the real lsbroadcast test pattern: the host page
// changes them and a TCP host hears it, another host's change moves the
// page's controls, a bad value shows the server's message, and a viewer
// sees none of it.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/netio/web"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// ctlSel is a CSS selector for a part of the page's row of one setting.
func ctlSel(key, part string) string {
	return fmt.Sprintf(`#camera-list .ctl[data-key=%q] [data-part=%q]`, key, part)
}

// ctlJS is a JavaScript expression for that element.
func ctlJS(key, part string) string {
	return `document.querySelector(` + testenv.JSString(ctlSel(key, part)) + `)`
}

// ctlError is a JavaScript expression for the error text shown beside a
// setting.
func ctlError(key string) string {
	return `document.querySelector(` + testenv.JSString(fmt.Sprintf(`#camera-list .ctl[data-key=%q] .error`, key)) + `).textContent`
}

// asHost makes every page of ctx join as name, the host when key is set,
// without the dialogs (the chat tests go through them).
func asHost(t *testing.T, ctx context.Context, name, key string) {
	t.Helper()
	src := `localStorage.setItem('lsbroadcast.name', ` + testenv.JSString(name) + `);`
	if key != "" {
		src += `localStorage.setItem('lsbroadcast.hostKey', ` + testenv.JSString(key) + `);`
	}
	src += `
		window.__problems = [];
		document.addEventListener('securitypolicyviolation', (e) => window.__problems.push('CSP ' + e.violatedDirective + ' ' + e.blockedURI));
		window.addEventListener('error', (e) => window.__problems.push('error ' + e.message));
		window.__traffic = [];
		const send = WebSocket.prototype.send;
		WebSocket.prototype.send = function (d) {
			if (this.url.endsWith('/ws/chat')) window.__traffic.push('> ' + d);
			if (!this.__watched) {
				this.__watched = true;
				this.addEventListener('message', (e) => { if (this.url.endsWith('/ws/chat')) window.__traffic.push('< ' + String(e.data).slice(0, 160)); });
			}
			return send.call(this, d);
		};`
	testenv.OnNewDocument(t, ctx, src)
}

// webStatus reads /state.
func webStatus(t *testing.T, addr string) web.Status {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st web.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("/state: %v", err)
	}
	return st
}

// changedBy counts the "changed" events a chat client heard from who.
func (e *chatEvents) changedBy(who string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, m := range e.msgs {
		if m.Type == chat.TypeControls && m.Event == "changed" && m.From == who {
			n++
		}
	}
	return n
}

func TestWebCameraSettingsInChromium(t *testing.T) {
	srv := startWeb(t, "640x360")
	tcpHost, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Mr Tan", HostKey: srv.HostKey})
	ctx, alerts := testenv.Chromium(t)
	const me = "Ms Okafor"
	asHost(t, ctx, me, srv.HostKey)
	testenv.Do(t, ctx, chromedp.Navigate(srv.URL))
	t.Cleanup(func() {
		if p := testenv.Eval[[]string](t, ctx, `window.__problems`); len(p) != 0 {
			t.Errorf("the page had problems: %q", p)
		}
		if a := alerts(); len(a) != 0 {
			t.Errorf("alerts: %q", a)
		}
	})

	t.Run("the host sees the settings", func(t *testing.T) {
		testenv.WaitTrue(t, ctx, 15*time.Second, `document.body.dataset.role === 'host' && !document.getElementById('camera').hidden`)
		testenv.Do(t, ctx, chromedp.Click("#camera-toggle"))
		testenv.WaitTrue(t, ctx, 10*time.Second, `!document.getElementById('camera-body').hidden && `+ctlJS("size", "select")+` !== null && `+ctlJS("fps", "range")+` !== null && `+ctlJS("quality", "number")+` !== null`)
		if v := testenv.Eval[string](t, ctx, ctlJS("fps", "number")+`.value`); v != "30" {
			t.Errorf("fps shown as %q, want 30", v)
		}
		if v := testenv.Eval[string](t, ctx, ctlJS("size", "select")+`.selectedOptions[0].textContent`); v != "640x360" {
			t.Errorf("size shown as %q, want 640x360", v)
		}
		// Every control is named for assistive technology.
		if n := testenv.Eval[int](t, ctx, `Array.from(document.querySelectorAll('#camera-list input, #camera-list select, #camera-list button')).filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent).length`); n != 0 {
			t.Errorf("%d camera controls without a name", n)
		}
	})

	t.Run("fps from the slider's keys", func(t *testing.T) {
		testenv.Do(t, ctx, chromedp.Focus(ctlSel("fps", "range")))
		for range 10 {
			testenv.Do(t, ctx, chromedp.KeyEvent(kb.ArrowLeft))
		}
		m := tcpHost.wait(t, 10*time.Second, "fps 20 from the page", func(m chat.Msg) bool {
			v, _ := controlValue(m.Controls, "fps")
			return m.Type == chat.TypeControls && m.Event == "changed" && m.From == me && v == 20
		})
		if m.ControlKey != "fps" {
			t.Errorf("changed event names %q", m.ControlKey)
		}
		testenv.WaitTrue(t, ctx, 5*time.Second, ctlJS("fps", "number")+`.value === '20' && `+ctlError("fps")+` === ''`)
		testenv.WaitTrue(t, ctx, 10*time.Second, `document.getElementById('camera-list').querySelectorAll('.error:not([hidden])').length === 0`)
		if n := tcpHost.changedBy(me); n > 10 {
			t.Errorf("10 key presses sent %d sets", n)
		}
		deadline := time.Now().Add(10 * time.Second)
		for webStatus(t, srv.Addr).FPS != 20 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if st := webStatus(t, srv.Addr); st.FPS != 20 {
			t.Errorf("/state says %d fps, want 20", st.FPS)
		}
	})

	t.Run("a dragged slider sends a few sets, not a flood", func(t *testing.T) {
		before := tcpHost.changedBy(me)
		r := testenv.Eval[[]float64](t, ctx, `(() => { const r = `+ctlJS("quality", "range")+`.getBoundingClientRect(); return [r.left, r.top + r.height / 2, r.width]; })()`)
		x, y, w := r[0]+4, r[1], r[2]-8
		start := time.Now()
		steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft)}
		for i := range 40 {
			steps = append(steps, chromedp.MouseEvent(chromedp.MouseMoved, x+w*float64(i)/40, y, chromedp.ButtonLeft),
				chromedp.Sleep(40*time.Millisecond))
		}
		steps = append(steps, chromedp.MouseEvent(chromedp.MouseReleased, x+w*0.6, y, chromedp.ButtonLeft))
		testenv.Do(t, ctx, steps...)
		drag := time.Since(start)
		want := testenv.Eval[string](t, ctx, ctlJS("quality", "range")+`.value`)
		tcpHost.wait(t, 10*time.Second, "quality "+want+" from the page", func(m chat.Msg) bool {
			v, _ := controlValue(m.Controls, "quality")
			return m.Type == chat.TypeControls && m.Event == "changed" && m.From == me && fmt.Sprint(v) == want
		})
		sets := tcpHost.changedBy(me) - before
		// At most one set every 200 ms, and one more at the end.
		if limit := int(drag/(200*time.Millisecond)) + 2; sets > limit || sets < 2 {
			t.Errorf("a %v drag sent %d sets, want 2…%d", drag.Round(time.Millisecond), sets, limit)
		}
		if msg := testenv.Eval[string](t, ctx, ctlError("quality")); msg != "" {
			t.Errorf("error beside quality after the drag: %q", msg)
		}
		t.Logf("a %v drag over 40 moves: %d sets, ends at quality %s", drag.Round(time.Millisecond), sets, want)
	})

	t.Run("the size select changes the stream", func(t *testing.T) {
		small := fmt.Sprint(sizeValue(320, 240))
		testenv.Eval[bool](t, ctx, `(() => { const s = `+ctlJS("size", "select")+`; s.focus(); s.value = `+testenv.JSString(small)+`; s.dispatchEvent(new Event('change')); return true; })()`)
		tcpHost.wait(t, 10*time.Second, "size 320x240 from the page", func(m chat.Msg) bool {
			v, _ := controlValue(m.Controls, "size")
			return m.Type == chat.TypeControls && m.Event == "changed" && m.From == me && fmt.Sprint(v) == small
		})
		testenv.WaitTrue(t, ctx, 15*time.Second, `document.getElementById('video').width === 320 && document.getElementById('video').height === 240`)
		if st := webStatus(t, srv.Addr); st.Width != 320 || st.Height != 240 {
			t.Errorf("/state says %dx%d", st.Width, st.Height)
		}
		if _, ok := patternSeq(t, testenv.Eval[string](t, ctx, canvasPNG)); !ok {
			t.Error("the 320x240 canvas does not hold the test pattern")
		}
	})

	t.Run("another host's change moves the page", func(t *testing.T) {
		ref, _ := tcpHost.c.SetControl("quality", 42)
		if m := tcpHost.answer(t, ref); m.Type != chat.TypeAck {
			t.Fatalf("set quality: %+v", m)
		}
		testenv.WaitTrue(t, ctx, 10*time.Second, ctlJS("quality", "range")+`.value === '42' && `+ctlJS("quality", "number")+`.value === '42'`)
		testenv.WaitTrue(t, ctx, 5*time.Second, `document.getElementById('camera-status').textContent === 'Mr Tan changed JPEG quality'`)
	})

	t.Run("a bad value shows the server's message", func(t *testing.T) {
		ref, _ := tcpHost.c.SetControl("fps", 1000)
		want := tcpHost.answer(t, ref)
		if want.Code != chat.CodeBadValue || want.Message == "" {
			t.Fatalf("fps 1000 from Go: %+v", want)
		}
		num := ctlSel("fps", "number")
		testenv.Eval[bool](t, ctx, `(`+ctlJS("fps", "number")+`.select(), true)`)
		testenv.Do(t, ctx, chromedp.SendKeys(num, "1000"), chromedp.KeyEvent(kb.Enter))
		testenv.WaitTrue(t, ctx, 10*time.Second, ctlError("fps")+` === `+testenv.JSString(want.Message))
		// The row shows the server's value again once the box is left.
		testenv.Do(t, ctx, chromedp.Focus(ctlSel("fps", "range")))
		testenv.WaitTrue(t, ctx, 5*time.Second, ctlJS("fps", "number")+`.value === '20'`)
		if n := testenv.Eval[int](t, ctx, `document.querySelectorAll('#camera img, #camera script, #camera b').length`); n != 0 {
			t.Errorf("%d elements made from server text", n)
		}
	})

	t.Run("reset one", func(t *testing.T) {
		testenv.Do(t, ctx, chromedp.Click(ctlSel("quality", "reset")))
		// 80: lsbroadcast's default quality, as startWeb leaves it.
		tcpHost.wait(t, 10*time.Second, "quality reset from the page", func(m chat.Msg) bool {
			q, _ := controlValue(m.Controls, "quality")
			return m.Type == chat.TypeControls && m.Event == "changed" && m.From == me && m.ControlKey == "quality" && q == 80
		})
		testenv.WaitTrue(t, ctx, 5*time.Second, ctlJS("quality", "number")+`.value === '80'`)
	})

	t.Run("screenshots", func(t *testing.T) {
		testenv.Screenshot(t, ctx, "chromium-settings-1280x800.png", 1280, 800)
		testenv.Screenshot(t, ctx, "chromium-settings-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		// On a phone every setting's row fits the width, with room to tap.
		if bad := testenv.Eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#camera-list .ctl')).filter((row) => {
			const r = row.getBoundingClientRect();
			const small = Array.from(row.querySelectorAll('input[type=range], select, button')).some((e) => e.getBoundingClientRect().height < 40);
			return r.right > innerWidth + 1 || r.left < -1 || small;
		}).map((row) => row.dataset.key)`); len(bad) != 0 {
			t.Errorf("at 390 px these rows overflow or have small targets: %q", bad)
		}
		// The open settings leave the message input on screen.
		if !testenv.Eval[bool](t, ctx, `document.getElementById('text').getBoundingClientRect().bottom <= innerHeight`) {
			t.Error("at 390x844 the open settings push the message input off screen")
		}
	})

	t.Run("reset all takes two taps", func(t *testing.T) {
		testenv.Do(t, ctx, chromedp.EmulateViewport(1280, 800), chromedp.Click("#camera-reset-all"))
		time.Sleep(300 * time.Millisecond)
		if n := tcpHost.changedBy(me); testenv.Eval[string](t, ctx, `document.getElementById('camera-reset-all').textContent`) != "Reset all to defaults?" {
			t.Fatalf("one tap: button says %q (%d changes)", testenv.Eval[string](t, ctx, `document.getElementById('camera-reset-all').textContent`), n)
		}
		testenv.Do(t, ctx, chromedp.Click("#camera-reset-all"))
		m := tcpHost.wait(t, 10*time.Second, "reset all from the page", func(m chat.Msg) bool {
			return m.Type == chat.TypeControls && m.Event == "changed" && m.From == me && m.ControlKey == ""
		})
		if f, _ := controlValue(m.Controls, "fps"); f != 30 {
			t.Errorf("fps after reset all: %d, want the configured 30", f)
		}
		testenv.WaitTrue(t, ctx, 15*time.Second, ctlJS("fps", "number")+`.value === '30' && document.getElementById('video').width === 640`)
	})
}

// TestWebCameraSettingsViewer: a viewer's page has no settings, and
// changes made by the host don't bring them.
func TestWebCameraSettingsViewer(t *testing.T) {
	srv := startWeb(t, "320x240")
	tcpHost, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Mr Tan", HostKey: srv.HostKey})
	ctx, _ := testenv.Chromium(t)
	asHost(t, ctx, "Pupil", "")
	testenv.Do(t, ctx, chromedp.Navigate(srv.URL))
	testenv.WaitTrue(t, ctx, 15*time.Second, `document.body.dataset.chat === 'live' && document.body.dataset.role === 'viewer'`)
	ref, _ := tcpHost.c.SetControl("quality", 60)
	if m := tcpHost.answer(t, ref); m.Type != chat.TypeAck {
		t.Fatalf("set quality: %+v", m)
	}
	time.Sleep(time.Second)
	if !testenv.Eval[bool](t, ctx, `document.getElementById('camera').hidden && document.querySelectorAll('#camera-list .ctl').length === 0 && document.getElementById('camera').getBoundingClientRect().height === 0`) {
		t.Error("a viewer sees camera settings")
	}
	testenv.Screenshot(t, ctx, "chromium-settings-viewer-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
}

func TestWebCameraSettingsInFirefox(t *testing.T) {
	srv := startWeb(t, "640x360")
	tcpHost, _ := dialChat(t, srv.ChatAddr, chat.Hello{Name: "Mr Tan", HostKey: srv.HostKey})
	ff := testenv.Firefox(t)
	ff.SetViewport(1280, 800)
	ff.Navigate(srv.URL)
	const me = "Fennec host"
	ff.Eval(`(localStorage.setItem('lsbroadcast.name', `+testenv.JSString(me)+`), localStorage.setItem('lsbroadcast.hostKey', `+testenv.JSString(srv.HostKey)+`), localStorage.setItem('lsbroadcast.cameraOpen', '1'), true)`, nil)
	ff.Navigate(srv.URL)
	ff.WaitTrue(15*time.Second, `document.body.dataset.role === 'host' && !document.getElementById('camera-body').hidden && `+ctlJS("fps", "range")+` !== null`)

	// Five presses of the left arrow on the focused slider.
	ff.Keys(ctlSel("fps", "range"), slices.Repeat([]string{testenv.KeyArrowLeft}, 5)...)
	tcpHost.wait(t, 10*time.Second, "fps 25 from Firefox", func(m chat.Msg) bool {
		v, _ := controlValue(m.Controls, "fps")
		return m.Type == chat.TypeControls && m.Event == "changed" && m.From == me && v == 25
	})

	ref, _ := tcpHost.c.SetControl("quality", 33)
	if m := tcpHost.answer(t, ref); m.Type != chat.TypeAck {
		t.Fatalf("set quality: %+v", m)
	}
	ff.WaitTrue(10*time.Second, ctlJS("quality", "range")+`.value === '33' && `+ctlJS("quality", "number")+`.value === '33'`)

	ref, _ = tcpHost.c.SetControl("fps", 0)
	want := tcpHost.answer(t, ref)
	ff.Eval(`(() => { const n = `+ctlJS("fps", "number")+`; n.value = '0'; n.dispatchEvent(new Event('input')); n.dispatchEvent(new Event('change')); return true; })()`, nil)
	ff.WaitTrue(10*time.Second, ctlError("fps")+` === `+testenv.JSString(want.Message))

	ff.Screenshot("firefox-settings-1280x800.png", 1280, 800)
	ff.Screenshot("firefox-settings-390x844.png", 390, 844)
}

// kindsCamera is a camera with one setting of every kind, hostile text in
// its names and labels, and an exposure that is inactive while the
// automatic mode is on, as V4L2 drivers report them.
type kindsCamera struct {
	mu      sync.Mutex
	list    []chat.Control
	presses int
	off     bool // the source offers no settings (NO SIGNAL)
}

const hostileName = `<img src=x onerror="window.pwned = 1">Gain`

func newKindsCamera() *kindsCamera {
	return &kindsCamera{list: []chat.Control{
		{Key: "brightness", Name: "Brightness", Kind: "int", Min: -64, Max: 64, Step: 1, Default: 0, Value: 0},
		{Key: "backlight_compensation", Name: "Backlight Compensation", Kind: "bool", Min: 0, Max: 1, Step: 1, Default: 0, Value: 0},
		{Key: "auto_exposure", Name: "Auto Exposure", Kind: "menu", Min: 1, Max: 3, Default: 3, Value: 3,
			Menu: []chat.MenuItem{{Value: 1, Label: "Manual Mode"}, {Value: 3, Label: "Aperture Priority Mode"}}},
		{Key: "exposure_time_absolute", Name: "Exposure Time, Absolute", Kind: "int", Min: 1, Max: 5000, Step: 1, Default: 156, Value: 156, Inactive: true},
		{Key: "power_line_frequency", Name: "Power Line Frequency", Kind: "menu", Min: 0, Max: 2, Default: 1, Value: 1,
			Menu: []chat.MenuItem{{Value: 0, Label: "Disabled"}, {Value: 1, Label: "<b>50 Hz</b>"}, {Value: 2, Label: "60 Hz"}}},
		{Key: "link_frequency", Name: "Link Frequency", Kind: "intmenu", Min: 0, Max: 1, Default: 0, Value: 0,
			Menu: []chat.MenuItem{{Value: 0, Label: "456000000"}, {Value: 1, Label: "912000000"}}},
		{Key: "gain", Name: hostileName, Kind: "int", Min: 0, Max: 255, Step: 5, Default: 100, Value: 100},
		{Key: "focus_reset", Name: "Focus, Reset", Kind: "button"},
	}}
}

func (k *kindsCamera) Controls() ([]chat.Control, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.off {
		return nil, &chat.Error{Code: chat.CodeUnsupported, Message: "no camera now"}
	}
	return slices.Clone(k.list), nil
}

func (k *kindsCamera) SetControl(key string, v int64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	i := slices.IndexFunc(k.list, func(c chat.Control) bool { return c.Key == key })
	if i < 0 {
		return &chat.Error{Code: chat.CodeNotFound, Message: "no setting " + key}
	}
	c := &k.list[i]
	switch c.Kind {
	case "button":
		k.presses++
		return nil
	case "menu", "intmenu":
		if !slices.ContainsFunc(c.Menu, func(m chat.MenuItem) bool { return m.Value == v }) {
			return &chat.Error{Code: chat.CodeBadValue, Message: fmt.Sprintf("%s %d is not a choice", key, v)}
		}
	default:
		if v < c.Min || v > c.Max {
			return &chat.Error{Code: chat.CodeBadValue, Message: fmt.Sprintf("%s %d is outside %d to %d", key, v, c.Min, c.Max)}
		}
	}
	c.Value = v
	if key == "auto_exposure" {
		k.list[3].Inactive = v != 1
	}
	return nil
}

func (k *kindsCamera) ResetControl(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := range k.list {
		if key == "" || k.list[i].Key == key {
			k.list[i].Value = k.list[i].Default
		}
	}
	k.list[3].Inactive = k.list[2].Value != 1
	return nil
}

func (k *kindsCamera) value(key string) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, _ := controlValue(k.list, key)
	return v
}

func (k *kindsCamera) pressed() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.presses
}

// startKindsWeb serves the page and a chat hub whose camera is cam, in
// this process: no frames, only the settings.
func startKindsWeb(t *testing.T, cam chat.Camera) (pageURL, chatAddr string) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "chat.db"), store.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	hub := &chat.Server{Addr: "127.0.0.1:0", Store: st, HostKey: "kinds-host-key", Camera: cam,
		Logger: slog.New(slog.DiscardHandler),
		Info:   func() netio.Stream { return netio.Stream{Name: "Kinds", RTSPPort: 8554, RTSPPath: "/live"} }}
	if err := hub.Listen(); err != nil {
		t.Fatal(err)
	}
	w := &web.Server{Addr: "127.0.0.1:0", Chat: hub, Logger: slog.New(slog.DiscardHandler)}
	if err := w.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hub.Serve(ctx) })
	wg.Go(func() { w.Serve(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		st.Close()
	})
	return "http://" + w.ListenAddr().String() + "/", hub.ListenAddr().String()
}

// TestWebCameraSettingsEveryKind: the page builds a switch, menus, an
// integer menu, a button and an inactive slider from what a camera
// offers, keeps server text as text, and says when there is nothing to set.
func TestWebCameraSettingsEveryKind(t *testing.T) {
	cam := newKindsCamera()
	url, chatAddr := startKindsWeb(t, cam)
	tcpHost, _ := dialChat(t, chatAddr, chat.Hello{Name: "Mr Tan", HostKey: "kinds-host-key"})
	ctx, alerts := testenv.Chromium(t)
	const me = "Ms Okafor"
	asHost(t, ctx, me, "kinds-host-key")
	testenv.Do(t, ctx, chromedp.Navigate(url))
	testenv.WaitTrue(t, ctx, 15*time.Second, `document.body.dataset.role === 'host' && !document.getElementById('camera').hidden`)
	if testenv.Eval[bool](t, ctx, `document.getElementById('camera-body').hidden`) {
		testenv.Do(t, ctx, chromedp.Click("#camera-toggle"))
	}
	testenv.WaitTrue(t, ctx, 10*time.Second, `document.querySelectorAll('#camera-list .ctl').length === 8`)

	t.Run("a control for each kind", func(t *testing.T) {
		for _, c := range []struct{ key, part, js string }{
			{"brightness", "range", `e.type === 'range' && e.min === '-64' && e.max === '64'`},
			{"backlight_compensation", "switch", `e.type === 'checkbox' && e.getAttribute('role') === 'switch' && !e.checked`},
			{"auto_exposure", "select", `e.selectedOptions[0].textContent === 'Aperture Priority Mode'`},
			{"link_frequency", "select", `e.options.length === 2 && e.options[1].textContent === '912000000'`},
			{"focus_reset", "button", `e.textContent === 'Focus, Reset'`},
			{"gain", "number", `e.step === '5' && e.value === '100'`},
		} {
			if !testenv.Eval[bool](t, ctx, `(() => { const e = `+ctlJS(c.key, c.part)+`; return e !== null && (`+c.js+`); })()`) {
				t.Errorf("%s: no %s such that %s", c.key, c.part, c.js)
			}
		}
		if testenv.Eval[bool](t, ctx, ctlJS("focus_reset", "reset")+` !== null`) {
			t.Error("a button has a reset")
		}
	})

	t.Run("server text stays text", func(t *testing.T) {
		testenv.WaitTrue(t, ctx, time.Second, shown("#camera-list .ctl-name", hostileName))
		testenv.WaitTrue(t, ctx, time.Second, shown("#camera-list option", "<b>50 Hz</b>"))
		if n := testenv.Eval[int](t, ctx, `document.querySelectorAll('#camera img, #camera b, #camera script').length`); n != 0 || testenv.Eval[bool](t, ctx, `window.pwned !== undefined`) {
			t.Errorf("%d elements made from setting names", n)
		}
	})

	t.Run("inactive until the automatic mode is off", func(t *testing.T) {
		row := `document.querySelector('#camera-list .ctl[data-key="exposure_time_absolute"]')`
		if !testenv.Eval[bool](t, ctx, row+`.classList.contains('inactive') && !`+row+`.querySelector('.note').hidden`) {
			t.Error("the inactive exposure is not marked")
		}
		testenv.Screenshot(t, ctx, "chromium-settings-kinds-1280x800.png", 1280, 800)
		testenv.Screenshot(t, ctx, "chromium-settings-kinds-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		testenv.Do(t, ctx, chromedp.EmulateViewport(1280, 800))
		ref, _ := tcpHost.c.SetControl("auto_exposure", 1)
		if m := tcpHost.answer(t, ref); m.Type != chat.TypeAck {
			t.Fatalf("manual exposure: %+v", m)
		}
		testenv.WaitTrue(t, ctx, 5*time.Second, `!`+row+`.classList.contains('inactive') && `+row+`.querySelector('.note').hidden && `+ctlJS("auto_exposure", "select")+`.value === '1'`)
	})

	t.Run("switch, menu and button from the page", func(t *testing.T) {
		testenv.Do(t, ctx, chromedp.Click(ctlSel("backlight_compensation", "switch")))
		testenv.Eval[bool](t, ctx, `(() => { const s = `+ctlJS("power_line_frequency", "select")+`; s.value = '2'; s.dispatchEvent(new Event('change')); return true; })()`)
		testenv.Do(t, ctx, chromedp.Click(ctlSel("focus_reset", "button")))
		tcpHost.wait(t, 10*time.Second, "the switch and the menu from the page", func(m chat.Msg) bool {
			b, _ := controlValue(m.Controls, "backlight_compensation")
			p, _ := controlValue(m.Controls, "power_line_frequency")
			return m.Type == chat.TypeControls && m.Event == "changed" && m.From == me && b == 1 && p == 2
		})
		deadline := time.Now().Add(5 * time.Second)
		for cam.pressed() != 1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := cam.pressed(); n != 1 || cam.value("backlight_compensation") != 1 {
			t.Errorf("camera: %d presses, backlight %d", n, cam.value("backlight_compensation"))
		}
		// The other host flips the switch back: the page follows.
		ref, _ := tcpHost.c.SetControl("backlight_compensation", 0)
		tcpHost.answer(t, ref)
		testenv.WaitTrue(t, ctx, 5*time.Second, `!`+ctlJS("backlight_compensation", "switch")+`.checked`)
	})

	t.Run("keyboard only", func(t *testing.T) {
		// Tab from the brightness slider reaches its number, then its
		// reset; arrows on the slider step it.
		testenv.Do(t, ctx, chromedp.Focus(ctlSel("brightness", "range")), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight))
		tcpHost.wait(t, 10*time.Second, "brightness 2 from the keyboard", func(m chat.Msg) bool {
			v, _ := controlValue(m.Controls, "brightness")
			return m.Type == chat.TypeControls && m.From == me && v == 2
		})
		testenv.Do(t, ctx, chromedp.KeyEvent(kb.Tab), chromedp.KeyEvent(kb.Tab))
		if p := testenv.Eval[string](t, ctx, `document.activeElement.dataset.part + ' ' + document.activeElement.dataset.ctl`); p != "reset brightness" {
			t.Fatalf("two tabs from the slider reach %q", p)
		}
		testenv.Do(t, ctx, chromedp.KeyEvent(kb.Enter))
		testenv.WaitTrue(t, ctx, 5*time.Second, ctlJS("brightness", "number")+`.value === '0'`)
		if cam.value("brightness") != 0 {
			t.Errorf("brightness after reset: %d; the page's chat:\n%s", cam.value("brightness"), strings.Join(testenv.Eval[[]string](t, ctx, `window.__traffic.slice(-30)`), "\n"))
		}
	})

	t.Run("no settings to change", func(t *testing.T) {
		cam.mu.Lock()
		cam.off = true
		cam.mu.Unlock()
		testenv.Do(t, ctx, chromedp.Reload())
		testenv.WaitTrue(t, ctx, 15*time.Second, `document.body.dataset.role === 'host' && !document.getElementById('camera-note').hidden`)
		if got := testenv.Eval[string](t, ctx, `document.getElementById('camera-note').textContent`); got != "This source has no settings to change." {
			t.Errorf("note %q", got)
		}
		if !testenv.Eval[bool](t, ctx, `document.querySelectorAll('#camera-list .ctl').length === 0 && document.getElementById('camera-reset-all').hidden`) {
			t.Error("settings shown for a source without any")
		}
	})
	if a := alerts(); len(a) != 0 {
		t.Errorf("alerts: %q", a)
	}
}
