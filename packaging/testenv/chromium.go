package testenv

import (
	"context"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromiumTimeout bounds one step in the tab (an action, an evaluation, a
// screenshot): a page that hangs fails the test instead of stalling it.
const chromiumTimeout = 20 * time.Second

// Chromium starts a headless Chromium (DevTools protocol, through
// chromedp) with a fresh profile, off the network, until the test ends.
// It returns a tab's context, for Do, Eval, WaitTrue and Screenshot, and
// the messages of every alert() the page opened (each dismissed). Without
// a Chromium that starts, see Unavailable.
func Chromium(t testing.TB) (context.Context, func() []string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		Unavailable(t, "chromium not installed (make deps installs it)")
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
	// Listen starts the browser with the tab's own context, not with one
	// of the steps' timeouts, whose end would close it.
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
		Unavailable(t, "chromium does not start: %v", err)
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

// OnNewDocument has the Chromium tab ctx run script in every page it
// loads from now on, before the page's own scripts: to watch a page from
// its first byte.
func OnNewDocument(t testing.TB, ctx context.Context, script string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, chromiumTimeout)
	defer cancel()
	if _, err := chromedp.Call(c, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script}); err != nil {
		t.Fatal(err)
	}
}

// Do runs the steps in the Chromium tab ctx, failing the test on an error
// or after 20 seconds.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, chromiumTimeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatal(err)
	}
}

// Eval evaluates a JavaScript expression in the Chromium tab ctx,
// awaiting a promise, and returns its value.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, chromiumTimeout)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// WaitTrue polls a JavaScript expression in the Chromium tab ctx until it
// is true, and fails the test if it is not after d.
func WaitTrue(t testing.TB, ctx context.Context, d time.Duration, expr string) {
	t.Helper()
	waitTrue(t, "", d, expr, func() bool { return Eval[bool](t, ctx, expr) })
}

// waitTrue polls ok every 100 ms, at least once and once more after d, and
// fails the test (saying which browser, when it is given) if it never
// holds.
func waitTrue(t testing.TB, browser string, d time.Duration, expr string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%snot true after %v: %s", browser, d, expr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Screenshot sets the Chromium tab's viewport to w×h (and the options,
// such as chromedp.EmulateMobile), lets the page lay itself out, and keeps
// a screenshot under name among the web artifacts
// ($LSBROADCAST_ARTIFACTS, else bin/test-artifacts/web).
func Screenshot(t testing.TB, ctx context.Context, name string, w, h int64, opts ...chromedp.EmulateViewportOption) {
	t.Helper()
	Do(t, ctx, chromedp.EmulateViewport(w, h, opts...), chromedp.Sleep(700*time.Millisecond))
	c, cancel := context.WithTimeout(ctx, chromiumTimeout)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	writeScreenshot(t, name, png)
}
