package web

// The quality selector in real browsers: headless Chromium (DevTools
// protocol, through chromedp) and Firefox ESR (WebDriver BiDi), against a
// web server this test feeds with the test pattern at two sizes, as the
// broadcaster will with its ladder. The full browser tests of the viewer
// (chat, announcements, layout) are cmd/lsbroadcast's; both drive the
// browsers testenv starts, and keep their screenshots in its web artifacts.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

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

func TestQualitySelectorInChromium(t *testing.T) {
	w := startPatternLadder(t)
	ctx, _ := testenv.Chromium(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("page: %s", testenv.Eval[string](t, ctx, `JSON.stringify({width: `+canvasWidth+`, frames: `+framesDrawn+`, quality: document.body.dataset.quality, rung: document.body.dataset.rung, options: Array.from(document.getElementById('quality').options).map((o) => o.textContent)})`))
		}
	})

	testenv.Do(t, ctx, chromedp.Navigate(w.base+"/"))
	// First visit: Auto, on the full picture while this fast socket keeps up.
	testenv.WaitTrue(t, ctx, 15*time.Second, framesDrawn+` >= 5 && `+canvasWidth+` === 640 && document.body.dataset.rung === 'full'`)
	testenv.WaitTrue(t, ctx, 5*time.Second, selectorFits)
	options := testenv.Eval[[]string](t, ctx, `Array.from(document.getElementById('quality').options).map((o) => o.value + '=' + o.textContent)`)
	if want := []string{"auto=Auto · Full", "full=Full 640×360", "half=Half 320×180"}; fmt.Sprint(options) != fmt.Sprint(want) {
		t.Errorf("options %q, want %q", options, want)
	}
	if w.Watching(netio.Full) != 1 || w.Watching(netio.Half) != 0 {
		t.Errorf("on Auto: Watching full %d, half %d", w.Watching(netio.Full), w.Watching(netio.Half))
	}

	// Half, by keyboard: the closed select moves on with the arrow keys.
	testenv.Do(t, ctx, chromedp.Focus("#quality"), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown))
	testenv.WaitTrue(t, ctx, 10*time.Second, `document.body.dataset.quality === 'half' && document.body.dataset.rung === 'half' && `+canvasWidth+` === 320`)
	drawnAtHalf := testenv.Eval[int](t, ctx, framesDrawn)
	testenv.WaitTrue(t, ctx, 10*time.Second, fmt.Sprintf(`%s >= %d && %s === 320`, framesDrawn, drawnAtHalf+10, canvasWidth))
	if w.Watching(netio.Half) != 1 || w.Watching(netio.Full) != 0 {
		t.Errorf("on half: Watching full %d, half %d", w.Watching(netio.Full), w.Watching(netio.Half))
	}
	testenv.Screenshot(t, ctx, "ladder-chromium-half-1280x800.png", 1280, 800)

	// The choice survives a reload.
	if kept := testenv.Eval[string](t, ctx, `localStorage.getItem('lsbroadcast.quality')`); kept != netio.Half {
		t.Errorf("kept %q, want half", kept)
	}
	testenv.Do(t, ctx, chromedp.Reload())
	testenv.WaitTrue(t, ctx, 15*time.Second, `document.getElementById('quality').value === 'half' && `+framesDrawn+` >= 5 && `+canvasWidth+` === 320`)

	// A phone held upright: the selector fits beside the video's figures.
	testenv.Screenshot(t, ctx, "ladder-chromium-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	testenv.WaitTrue(t, ctx, 5*time.Second, selectorFits)
	testenv.Do(t, ctx, chromedp.Focus("#quality"), chromedp.KeyEvent(kb.ArrowUp), chromedp.KeyEvent(kb.ArrowUp)) // Auto
	testenv.WaitTrue(t, ctx, 10*time.Second, `document.body.dataset.quality === 'auto' && `+canvasWidth+` === 640`)
	testenv.Screenshot(t, ctx, "ladder-chromium-auto-390x844.png", 390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	testenv.WaitTrue(t, ctx, 5*time.Second, selectorFits)
}

func TestQualitySelectorInFirefox(t *testing.T) {
	w := startPatternLadder(t)
	ff := testenv.Firefox(t)
	ff.SetViewport(1280, 800)
	ff.Navigate(w.base + "/")
	ff.WaitTrue(15*time.Second, framesDrawn+` >= 5 && `+canvasWidth+` === 640 && document.body.dataset.rung === 'full'`)
	ff.WaitTrue(5*time.Second, selectorFits)

	ff.Keys("#quality", testenv.KeyArrowDown, testenv.KeyArrowDown)
	ff.WaitTrue(10*time.Second, `document.body.dataset.quality === 'half' && document.body.dataset.rung === 'half' && `+canvasWidth+` === 320`)
	var drawn int
	ff.Eval(framesDrawn, &drawn)
	ff.WaitTrue(10*time.Second, fmt.Sprintf(`%s >= %d && %s === 320`, framesDrawn, drawn+10, canvasWidth))
	if w.Watching(netio.Half) != 1 {
		t.Errorf("Watching(half) = %d", w.Watching(netio.Half))
	}
	ff.Screenshot("ladder-firefox-half-1280x800.png", 1280, 800)

	ff.Call("browsingContext.reload", map[string]any{"context": ff.Page, "wait": "complete"})
	ff.WaitTrue(15*time.Second, `document.getElementById('quality').value === 'half' && `+framesDrawn+` >= 5 && `+canvasWidth+` === 320`)
	ff.Screenshot("ladder-firefox-390x844.png", 390, 844)
	ff.WaitTrue(5*time.Second, selectorFits)
	ff.Keys("#quality", testenv.KeyArrowUp, testenv.KeyArrowUp)
	ff.WaitTrue(10*time.Second, `document.body.dataset.quality === 'auto' && `+canvasWidth+` === 640`)
}
