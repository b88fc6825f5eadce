package main

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"time"
	"unicode/utf8"

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// Keys as OpenCV's waitKey reports them.
const (
	keyCodeNone      = -1
	keyCodeEsc       = 27
	keyCodeEnter     = 13
	keyCodeLF        = 10
	keyCodeBackspace = 8
	keyCodeDelete    = 127
	statusEvery      = 500 * time.Millisecond
	// waitKeyMillis is the GUI loop's beat: keys and new pictures are
	// looked at this often.
	waitKeyMillis = 4
)

// screen owns the window and its canvas. All its methods run on the main
// OS thread.
type screen struct {
	win     *gocv.Window
	canvas  gocv.Mat
	lay     layout
	p       *painter
	panel   *image.RGBA
	status  *image.RGBA
	banner  *image.RGBA
	picRect image.Rectangle // where the last picture went
	hasPic  bool
	// bannerShown: the banner is on the canvas now.
	bannerShown bool
}

func newScreen(title string, w, h int) (*screen, error) {
	p, err := newPainter()
	if err != nil {
		return nil, err
	}
	lay := newLayout(w, h)
	// OpenCV finds windows by name, and not every backend keeps a non-ASCII
	// name intact on the way: the name stays ASCII, the title says it all.
	s := &screen{win: openWindow("lsview"), canvas: gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3), lay: lay, p: p,
		panel: image.NewRGBA(lay.panel), status: image.NewRGBA(lay.status), banner: image.NewRGBA(lay.banner)}
	s.canvas.SetTo(gocv.NewScalar(0, 0, 0, 0))
	s.win.SetWindowTitle(title)
	s.win.ResizeWindow(w, h)
	return s, nil
}

func (s *screen) close() {
	s.canvas.Close()
	s.win.Close()
}

// blit copies an RGBA picture into the canvas at its own bounds.
func (s *screen) blit(img *image.RGBA) {
	r := img.Bounds()
	src, err := gocv.NewMatFromBytes(r.Dy(), r.Dx(), gocv.MatTypeCV8UC4, img.Pix)
	if err != nil {
		return
	}
	defer src.Close()
	dst := s.canvas.Region(r)
	defer dst.Close()
	gocv.CvtColor(src, &dst, gocv.ColorRGBAToBGR)
}

// showPicture scales the picture into the video area, letterboxed.
func (s *screen) showPicture(m gocv.Mat) {
	r := fit(s.lay.video, m.Cols(), m.Rows())
	if r != s.picRect || !s.hasPic {
		video := s.canvas.Region(s.lay.video)
		video.SetTo(gocv.NewScalar(0, 0, 0, 0))
		video.Close()
		s.picRect, s.hasPic = r, true
	}
	dst := s.canvas.Region(r)
	defer dst.Close()
	// Bilinear: INTER_AREA is sharper when shrinking but ten times slower
	// (14 ms against 1.3 ms for 1080p into 896x504), and the GUI thread
	// must keep up with the stream.
	gocv.Resize(m, &dst, r.Size(), 0, 0, gocv.InterpolationLinear)
}

// runWindow is lsview's window: video, chat panel, input line, banner
// and status line, until Esc, the window closing or ctx ending.
func runWindow(ctx context.Context, o *options, st stream, log *slog.Logger) error {
	if err := st.usable(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if st.joined != nil {
		defer st.joined.c.Close() // if the session never took it
	}
	r := newReceiver(st.URL, o.transport, log)
	errc := make(chan error, 1)
	go func() { errc <- r.run(ctx) }()
	// The receiver must be gone before its Mats are: wait for it.
	defer func() { cancel(); <-errc }()

	// Open the window only once there is something to show, so a wrong
	// address is one line in the terminal, not an empty window.
	for r.decodedN.Load() == 0 {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			errc <- err
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
	sc, err := newScreen("lsview: "+sanitize(st.Name), o.size[0], o.size[1])
	if err != nil {
		return err
	}
	defer sc.close()

	u := &uiState{title: sanitize(st.Name), chatStatus: "video only: this camera has no chat", viewers: -1}
	var session *chatSession
	if st.Kind == "lsview" && st.Chat != "" {
		h, err := hello(o)
		if err != nil {
			return err
		}
		session = newChatSession(st.Chat, h, st.joined, log)
		done := make(chan struct{})
		go func() {
			defer close(done)
			session.run(ctx)
		}()
		defer func() { cancel(); <-done }()
	}
	var (
		display     samples
		shown       uint64
		panelDirty  = true
		bannerDirty = true
		nextStatus  time.Time
		wasReconn   bool
	)
	for {
		select {
		case <-ctx.Done():
			return finish(o, r, shown, &display)
		case err := <-errc:
			errc <- err // for the deferred wait
			if err != nil {
				return err
			}
			return finish(o, r, shown, &display)
		default:
		}
		changed := false
		reconn := connState(r.state.Load()) == reconnecting
		if reconn != wasReconn {
			u.reconnecting, wasReconn, bannerDirty = reconn, reconn, true
			if reconn {
				u.addLine(chatLine{at: time.Now(), name: "lsview", text: "connection lost, reconnecting…", note: true})
			} else {
				u.addLine(chatLine{at: time.Now(), name: "lsview", text: "reconnected", note: true})
			}
			panelDirty = true
		}
		if session != nil {
			for drained := false; !drained; {
				select {
				case up := <-session.updates:
					u.apply(up)
					panelDirty, bannerDirty = true, true
				default:
					drained = true
				}
			}
		}
		pic := r.take()
		if pic != nil {
			sc.showPicture(pic.mat)
			bannerDirty = true // the picture painted over it
			changed = true
		}
		if bannerDirty {
			shown := sc.p.drawBanner(sc.banner, u)
			switch {
			case shown:
				sc.blit(sc.banner)
			case sc.bannerShown:
				// The banner went: paint its area back; the next picture
				// restores the letterbox around itself.
				area := sc.canvas.Region(sc.lay.banner)
				area.SetTo(gocv.NewScalar(0, 0, 0, 0))
				area.Close()
				sc.hasPic = false
			}
			sc.bannerShown = shown
			bannerDirty, changed = false, true
		}
		if panelDirty {
			sc.p.drawPanel(sc.panel, u)
			sc.blit(sc.panel)
			panelDirty, changed = false, true
		}
		if now := time.Now(); now.After(nextStatus) {
			u.status = statusLine(r, &display, shown, u.viewers)
			sc.p.drawStatus(sc.status, u)
			sc.blit(sc.status)
			nextStatus, changed = now.Add(statusEvery), true
		}
		if changed {
			sc.win.IMShow(sc.canvas)
		}
		if pic != nil {
			display.add(time.Since(pic.received))
			shown++
			pic.mat.Close()
		}
		switch k := sc.win.WaitKey(waitKeyMillis); {
		case k == keyCodeNone:
		case k == keyCodeEsc:
			return finish(o, r, shown, &display)
		case k == keyCodeEnter || k == keyCodeLF:
			switch {
			case u.input == "":
			case session == nil:
				u.addLine(chatLine{at: time.Now(), name: "lsview", text: "not sent: this camera has no chat", note: true})
			case !session.send(u.input):
				u.addLine(chatLine{at: time.Now(), name: "lsview", text: "not sent: too many lines waiting for the chat", note: true})
			}
			u.input, panelDirty = "", true
		case k == keyCodeBackspace || k == keyCodeDelete:
			if u.input != "" {
				_, size := utf8.DecodeLastRuneInString(u.input)
				u.input, panelDirty = u.input[:len(u.input)-size], true
			}
		case k >= ' ' && k < keyCodeDelete:
			// OpenCV's Qt backend passes the first byte of the key's text:
			// printable ASCII comes through, other characters don't.
			if utf8.RuneCountInString(u.input) < maxInputRunes {
				u.input, panelDirty = u.input+string(rune(k)), true
			}
		}
		if sc.win.GetWindowProperty(gocv.WindowPropertyVisible) < 1 {
			return finish(o, r, shown, &display) // closed by its close button
		}
	}
}

// maxInputRunes bounds the input line, below the chat's 2 KiB text limit.
const maxInputRunes = 500

func statusLine(r *receiver, display *samples, shown uint64, viewers int) string {
	s := r.snapshot(shown, display)
	if s.State != "playing" {
		return fmt.Sprintf("%s  %s", s.State, r.url)
	}
	line := fmt.Sprintf("%s · %s · %.1f fps · latency %.0f ms (p99 %.0f) · shown after %.0f ms · lost %d · dropped %d",
		s.State, s.Transport, recentFPS(r, shown), s.Latency.P50, s.Latency.P99, s.Display.P50, s.Lost, s.Skipped)
	if viewers >= 0 {
		line += fmt.Sprintf(" · %d watching", viewers)
	}
	return line
}

// hello is how we introduce ourselves to the chat: --name or the user's
// login name, and the host key from --host-key.
func hello(o *options) (chat.Hello, error) {
	h := chat.Hello{Name: o.name}
	if h.Name == "" {
		if cu, err := user.Current(); err == nil {
			h.Name = cu.Username
		}
	}
	if o.hostKey != "" {
		b, err := os.ReadFile(o.hostKey)
		if err != nil {
			return h, fmt.Errorf("host key: %w", err)
		}
		h.HostKey = strings.TrimSpace(string(b))
	}
	return h, nil
}

// recentFPS is pictures shown per second since the last call.
func recentFPS(r *receiver, shown uint64) float64 {
	now := time.Now()
	r.fpsMu.Lock()
	defer r.fpsMu.Unlock()
	fps := r.fps
	if dt := now.Sub(r.fpsAt).Seconds(); dt >= 0.5 {
		fps = float64(shown-r.fpsShown) / dt
		r.fps, r.fpsAt, r.fpsShown = fps, now, shown
	}
	return fps
}

// finish prints the stats on exit when --stats asks for them.
func finish(o *options, r *receiver, shown uint64, display *samples) error {
	if o.stats {
		return writeStats(os.Stdout, r.snapshot(shown, display))
	}
	return nil
}
