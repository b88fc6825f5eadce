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

	"gocv.io/x/gocv"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// Keys as OpenCV's waitKey reports them.
const (
	keyCodeEsc       = 27
	keyCodeEnter     = 13
	keyCodeLF        = 10
	keyCodeBackspace = 8
	keyCodeDelete    = 127
	// keyCodeF1 to keyCodeF4 are F1 to F4 as the Qt and GTK backends
	// report them: the X11 keysyms (XK_F1 to XK_F4).
	keyCodeF1   = 0xFFBE
	keyCodeF2   = 0xFFBF
	keyCodeF3   = 0xFFC0
	keyCodeF4   = 0xFFC1
	statusEvery = 500 * time.Millisecond
	// waitKeyMillis is the GUI loop's beat: keys and new pictures are
	// looked at this often.
	waitKeyMillis = 4
	// idleBeat bounds a beat of the Qt text route, which wakes for every
	// event and new picture: chat updates and the status line wait at
	// most this long.
	idleBeat = 25 * time.Millisecond
)

// windowName is how OpenCV finds the window. Not every backend keeps a
// non-ASCII name intact on the way: the name stays ASCII, the title says
// it all.
const windowName = "lsview"

// screen owns the window and its canvas, laid out at the window's real
// size. All its methods run on the main OS thread.
type screen struct {
	win    *gocv.Window
	canvas gocv.Mat
	lay    layout
	p      *painter
	panel  *image.RGBA
	status *image.RGBA
	banner *image.RGBA
	// last is the newest picture shown, kept to paint again when the
	// layout changes between pictures; pic is the stream's own size (last
	// may be decoded smaller), which the layout and the letterbox follow.
	last    gocv.Mat
	pic     image.Point
	picRect image.Rectangle // where the last picture went
	hasPic  bool
	// bannerShown: the banner is on the canvas now.
	bannerShown bool
	// dirty is the part of the canvas changed since it was last shown.
	dirty image.Rectangle
}

func newScreen(title string, w, h int) (*screen, error) {
	p, err := newPainter()
	if err != nil {
		return nil, err
	}
	s := &screen{win: openWindow(windowName), p: p, last: gocv.NewMat()}
	s.win.SetWindowTitle(title)
	s.win.ResizeWindow(w, h)
	s.layOut(image.Pt(w, h))
	return s, nil
}

func (s *screen) close() {
	detachCanvas()
	s.canvas.Close()
	s.last.Close()
	s.win.Close()
}

// layOut makes the canvas size×size (at least the smallest canvas) and
// lays it out for the picture's size; the caller paints everything again.
func (s *screen) layOut(size image.Point) {
	size = image.Pt(max(size.X, minCanvasW), max(size.Y, minCanvasH))
	s.lay = newLayout(size.X, size.Y, s.pic)
	detachCanvas()
	s.canvas.Close()
	s.canvas = gocv.NewMatWithSize(size.Y, size.X, gocv.MatTypeCV8UC4)
	s.canvas.SetTo(gocv.NewScalar(0, 0, 0, 0))
	s.dirty = s.lay.canvas
	s.panel, s.status, s.banner = image.NewRGBA(s.lay.panel), image.NewRGBA(s.lay.status), image.NewRGBA(s.lay.banner)
	s.hasPic, s.bannerShown = false, false
}

// followWindow lays the canvas out again when the window's size or the
// picture's changed; true when it did. pic is the size of the picture
// about to be shown, zero if none.
func (s *screen) followWindow(pic image.Point) bool {
	size := s.lay.canvas.Size()
	if now, ok := windowSize(windowName); ok {
		size = now
	}
	want := image.Pt(max(size.X, minCanvasW), max(size.Y, minCanvasH))
	if want == s.lay.canvas.Size() && (pic == image.Point{} || pic == s.pic) {
		return false
	}
	if (pic != image.Point{}) {
		s.pic = pic
	}
	s.layOut(size)
	if !s.last.Empty() {
		s.showPicture(s.last)
	}
	return true
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
	// Swapping R and B is the same code both ways (RGBA2BGRA).
	gocv.CvtColor(src, &dst, gocv.ColorBGRAToRGBA)
	s.dirty = s.dirty.Union(r)
}

// show puts what changed on the canvas on the screen.
func (s *screen) show() {
	if !presentCanvas(s.canvas, s.dirty) {
		s.win.IMShow(s.canvas)
	}
	s.dirty = image.Rectangle{}
}

// showPicture puts the picture at its place in the canvas. It comes
// decoded at that size (decoder.setTarget) and is copied; one decoded
// before the layout changed is resized, bilinear, once.
func (s *screen) showPicture(m gocv.Mat) {
	r := s.lay.picture
	if r != s.picRect || !s.hasPic {
		video := s.canvas.Region(s.lay.video)
		video.SetTo(gocv.NewScalar(0, 0, 0, 0))
		video.Close()
		s.picRect, s.hasPic = r, true
		s.dirty = s.dirty.Union(s.lay.video)
	}
	dst := s.canvas.Region(r)
	defer dst.Close()
	if m.Cols() == r.Dx() && m.Rows() == r.Dy() {
		m.CopyTo(&dst)
	} else {
		gocv.Resize(m, &dst, r.Size(), 0, 0, gocv.InterpolationLinear)
	}
	s.dirty = s.dirty.Union(r)
}

// keep holds m as the newest picture shown and returns the one before,
// for the decoder to decode into again.
func (s *screen) keep(m gocv.Mat) (old gocv.Mat) {
	old, s.last = s.last, m
	return old
}

// runWindow is lsview's window: video, chat panel, input line, banner
// and status line, until Esc, the window closing or ctx ending.
func runWindow(ctx context.Context, o *options, st viewer.Stream, log *slog.Logger) error {
	if err := st.Usable(); err != nil {
		return err
	}
	p, err := startPlayer(ctx, o, st, false, log)
	if err != nil {
		return err
	}
	// The player must be gone before the screen is.
	defer p.close()
	if ok, err := firstPicture(ctx, p); !ok {
		return err
	}
	// After the first picture, the session has learnt the name from the
	// chat's welcome if there is one.
	title := textsafe.Terminal(p.session.Stream().Name)
	sc, err := newScreen("lsview: "+title, o.size[0], o.size[1])
	if err != nil {
		return err
	}
	defer sc.close()
	// Until a welcome says otherwise, a host key means the host.
	role := chat.RoleViewer
	if o.hostKey != "" {
		role = chat.RoleHost
	}
	w := &windowLoop{p: p, sc: sc, chat: st.HasChat(), updates: p.session.Updates(),
		u: &uiState{title: title, chatStatus: "video only: this camera has no chat", viewers: -1, role: role}, panelDirty: true, bannerDirty: true,
		edit: lineEdit{max: maxInputRunes}}
	for {
		if ended, err := w.ended(ctx); ended {
			if err != nil {
				return err
			}
			break
		}
		w.noteReconnect()
		w.applyChat()
		w.paint()
		if w.keys() == quit || w.closed() {
			break
		}
	}
	return finish(o, p)
}

// firstPicture waits until there is something to show, so a wrong address
// is one line in the terminal, not an empty window. Without a picture it
// returns false, with the player's error if the player ended.
func firstPicture(ctx context.Context, p *player) (bool, error) {
	select {
	case <-ctx.Done():
		return false, nil
	case <-p.done:
		return false, p.err
	case <-p.dec.fresh: // the loop takes the picture
		return true, nil
	}
}

// windowLoop is the window's state between beats; its methods are the
// steps of one beat, all on the main OS thread.
type windowLoop struct {
	p       *player
	sc      *screen
	u       *uiState
	chat    bool                     // the stream has a chat to send to
	updates <-chan viewer.ChatUpdate // nil once closed
	fps     rate

	panelDirty, bannerDirty bool
	changed                 bool // the canvas needs showing
	nextStatus              time.Time
	wasReconn               bool
	reconnSince             time.Time // when the video dropped
	lost                    uint64    // frames lost in the network so far
	lostAt                  time.Time // when lost last rose
	in                      keyReader
	edit                    lineEdit
	fullScreen              bool
	telemetry               bool // the status line shows the counters
}

// ended says the window should close because ctx or the player ended,
// with the player's error if it had one.
func (w *windowLoop) ended(ctx context.Context) (bool, error) {
	select {
	case <-ctx.Done():
		return true, nil
	case <-w.p.done:
		return true, w.p.err
	default:
		return false, nil
	}
}

// noteReconnect shows the reconnecting banner and a note in the panel
// when the video drops, and a note when it is back.
func (w *windowLoop) noteReconnect() {
	reconn := w.p.session.State() == viewer.Reconnecting
	if reconn == w.wasReconn {
		return
	}
	w.u.reconnecting, w.wasReconn = reconn, reconn
	text := "reconnected"
	if reconn {
		text = "connection lost, reconnecting…"
		w.reconnSince = time.Now()
	}
	w.nextStatus = time.Time{}
	w.u.addLine(viewer.ChatLine{At: time.Now(), Name: "lsview", Text: text, Note: true})
	w.panelDirty, w.bannerDirty = true, true
}

// applyChat takes every chat update waiting, without blocking.
func (w *windowLoop) applyChat() {
	for w.updates != nil {
		select {
		case up, ok := <-w.updates:
			if !ok {
				w.updates = nil
				return
			}
			w.u.apply(up)
			if up.Control != nil {
				if refused := w.u.settings.answered(*up.Control, w.p.session); refused != "" {
					w.u.note(refused)
				}
			}
			if up.Queue {
				w.u.pending = w.p.session.Pending()
			}
			w.panelDirty, w.bannerDirty = true, true
		default:
			return
		}
	}
}

// paint draws what changed (the newest picture, banner, panel, status
// line) and shows the canvas.
func (w *windowLoop) paint() {
	sc := w.sc
	w.changed = false
	pic := w.p.dec.take()
	var size image.Point
	if pic != nil {
		size = pic.full
	}
	if sc.followWindow(size) {
		w.panelDirty, w.bannerDirty, w.changed = true, true, true
		w.nextStatus = time.Time{}
	}
	// The decoder decodes the next pictures to the size drawn.
	w.p.dec.setTarget(sc.pic, sc.lay.picture.Size())
	if pic != nil {
		sc.showPicture(pic.mat)
		// The picture may have painted over the banner: put it back as
		// drawn, its text is only drawn again when it changes.
		if sc.bannerShown && sc.lay.banner.Overlaps(sc.lay.video) && !w.bannerDirty {
			sc.blit(sc.banner)
		}
		w.changed = true
	}
	if w.bannerDirty {
		w.paintBanner()
	}
	if w.panelDirty {
		sc.p.drawPanel(sc.panel, w.u)
		sc.blit(sc.panel)
		w.panelDirty, w.changed = false, true
	}
	if now := time.Now(); now.After(w.nextStatus) {
		w.u.status = w.statusLine(now)
		sc.p.drawStatus(sc.status, w.u)
		sc.blit(sc.status)
		w.nextStatus, w.changed = now.Add(statusEvery), true
	}
	if w.changed {
		sc.show()
	}
	if pic != nil {
		w.p.showed(pic)
		w.p.dec.recycle(sc.keep(pic.mat))
	}
}

func (w *windowLoop) paintBanner() {
	sc := w.sc
	shown := sc.p.drawBanner(sc.banner, w.u)
	switch {
	case shown:
		sc.blit(sc.banner)
	case sc.bannerShown:
		// The banner went: paint its area back; the next picture
		// restores the letterbox around itself.
		area := sc.canvas.Region(sc.lay.banner)
		area.SetTo(gocv.NewScalar(0, 0, 0, 0))
		area.Close()
		sc.dirty = sc.dirty.Union(sc.lay.banner)
		sc.hasPic = false
	}
	sc.bannerShown = shown
	w.bannerDirty, w.changed = false, true
}

// keyResult says what a key asked for.
type keyResult int

const (
	stay keyResult = iota
	quit
)

// keys waits one beat for keys and applies them.
func (w *windowLoop) keys() keyResult {
	for _, t := range w.in.read(w.sc.win) {
		if w.windowKey(t) {
			continue
		}
		if w.press(t) == quit {
			return quit
		}
	}
	return stay
}

// windowKey takes the keys that work the window rather than the chat box:
// F2 shows the status line's counters, F4 turns the picture size (the
// quality ladder's hold), F3 opens the settings, which then take every
// key but Ctrl+Q, F1, F2, F4 and F11. Full screen is F11 only: a letter
// such as "f" would also start every message that begins with it. While
// the help is up, every key goes to press, which closes it.
func (w *windowLoop) windowKey(t typed) bool {
	switch {
	case w.u.help:
		return false
	case t.key == editF2:
		w.telemetry = !w.telemetry
		w.nextStatus = time.Time{}
		return true
	case t.key == editF3:
		w.toggleSettings()
		return true
	case t.key == editF4:
		w.cycleQuality()
		return true
	case w.u.settings.open:
		switch t.key {
		case editQuit:
			return false
		case editF1:
			w.u.help, w.panelDirty = true, true
			return true
		case editF11:
			w.toggleFullScreen()
			return true
		}
		if w.settingsKey(t) {
			w.u.input, w.u.cursor = w.edit.String(), w.edit.cursor
		}
		w.panelDirty = true
		return true
	}
	return false
}

// toggleSettings opens or closes the settings panel. While it is open it
// takes the keys; the chat box keeps what was typed.
func (w *windowLoop) toggleSettings() {
	s := &w.u.settings
	s.open, w.panelDirty = !s.open, true
	if s.open && !w.chat {
		s.msg, s.warn = viewer.ErrNoChat.Error(), true
	}
}

// cycleQuality turns the hold on the quality ladder to the next of auto,
// full, half and quarter, and says in the panel what that shows.
func (w *windowLoop) cycleQuality() {
	s := w.p.session
	q := s.Quality().Next()
	s.SetQuality(q)
	w.u.note(qualityNote(q, s.Rungs()))
	w.panelDirty, w.nextStatus = true, time.Time{}
}

// qualityNote says what a hold on q shows, with the rungs offered.
func qualityNote(q viewer.Quality, rungs []viewer.Rung) string {
	if q == viewer.QualityAuto {
		if len(rungs) == 1 {
			return "picture size: auto; this broadcaster offers the full size only"
		}
		return "picture size: auto, as large as the connection carries"
	}
	for _, r := range rungs {
		if r.Name == string(q) {
			if size := r.Size(); size != "" {
				return fmt.Sprintf("picture size: %s (%s), held · F4: next", q, strings.Replace(size, "x", "×", 1))
			}
			return fmt.Sprintf("picture size: %s, held · F4: next", q)
		}
	}
	return fmt.Sprintf("picture size: %s is not offered by this broadcaster; showing full · F4: next", q)
}

// toggleFullScreen switches between full screen and the window; the next
// beat lays the canvas out at the new size.
func (w *windowLoop) toggleFullScreen() {
	w.fullScreen = !w.fullScreen
	flag := gocv.WindowNormal
	if w.fullScreen {
		flag = gocv.WindowFullscreen
	}
	w.sc.win.SetWindowProperty(gocv.WindowPropertyFullscreen, flag)
}

// sendInput does what the input line asks (commands.go): chat, an
// announcement, help, a new name or host key; or says why it can't.
// Nothing a viewer may not do is sent.
func (w *windowLoop) sendInput() {
	u := w.u
	c := parseInput(u.input)
	u.input, w.panelDirty = "", true
	queued := false
	switch c.kind {
	case cmdNone:
		return
	case cmdHelp:
		u.help = true
		return
	case cmdSettings:
		w.toggleSettings()
		return
	case cmdError:
		u.note(c.err)
		return
	}
	if !w.chat {
		u.note("not sent: this camera has no chat")
		return
	}
	switch c.kind {
	case cmdChat:
		queued = w.p.session.Send(c.text)
	case cmdAnnounce:
		if !u.host() {
			u.note(onlyHost(c.op))
			return
		}
		if _, ok := u.announcements[c.id]; c.op != viewer.AnnouncePost && !ok {
			u.note(fmt.Sprintf("no announcement #%d: the numbers are beside the announcements above", c.id))
			return
		}
		queued = w.p.session.Announce(c.op, c.id, c.text)
	case cmdSet:
		if err := u.settings.setCommand(c.key, c.text, u.host(), w.p.session); err != nil {
			u.note("/set: " + err.Error())
		}
		return
	case cmdReset:
		if err := u.settings.reset(c.key, u.host(), w.p.session); err != nil {
			u.note("/reset: " + err.Error())
		}
		return
	case cmdName:
		w.p.session.Rejoin(c.text, "")
		u.note("joining the chat as " + c.text + "…")
		return
	case cmdHost:
		key, err := hostKeyArg(c.text)
		if err != nil {
			u.note("host key: " + err.Error())
			return
		}
		w.p.session.Rejoin("", key)
		if key == "-" {
			u.note("joining the chat again as a viewer…")
		} else {
			u.note("joining the chat again as the host…")
		}
		return
	}
	if !queued {
		u.note("not sent: too many lines waiting for the chat")
	}
	u.pending = w.p.session.Pending()
}

// onlyHost is the refusal of an announcement command to a viewer.
func onlyHost(op string) string {
	what := map[string]string{viewer.AnnouncePost: "post", viewer.AnnounceEdit: "edit", viewer.AnnounceDelete: "delete"}[op]
	return "only the host can " + what + " announcements (join as host with --host-key FILE or /host KEYFILE)"
}

// closed says the window was closed by its close button.
func (w *windowLoop) closed() bool {
	return w.sc.win.GetWindowProperty(gocv.WindowPropertyVisible) < 1
}

// maxInputRunes bounds the input line, below the chat's 2 KiB text limit.
const maxInputRunes = 500

// lossMemory is how long a lost frame keeps the status at "losing
// frames": long enough to read, short enough to clear once the network
// recovers.
const lossMemory = 5 * time.Second

// statusLine says how the stream is, in words people read: its size, its
// rate and the connection's health; F2 swaps in the counters behind that.
func (w *windowLoop) statusLine(now time.Time) string {
	s := w.p.stats()
	fps := w.fps.update(w.p.shown, now)
	if s.Lost > w.lost {
		w.lost, w.lostAt = s.Lost, now
	}
	switch {
	case w.telemetry:
		return fmt.Sprintf("%s · latency %.0f ms (p99 %.0f) · shown after %.0f ms (p99 %.0f) · lost %d · dropped %d",
			s.Transport, s.Latency.P50, s.Latency.P99, s.Display.P50, s.Display.P99, s.Lost, s.Skipped)
	case w.wasReconn:
		return fmt.Sprintf("reconnecting for %d s · %s", int(now.Sub(w.reconnSince).Seconds()), s.URL)
	case s.State != viewer.Playing.String():
		return fmt.Sprintf("%s  %s", s.State, s.URL)
	}
	health := "connection good"
	if !w.lostAt.IsZero() && now.Sub(w.lostAt) < lossMemory {
		health = "losing frames"
	}
	line := fmt.Sprintf("%s%d×%d · %.0f fps · %s", rungLabel(s), w.sc.pic.X, w.sc.pic.Y, fps, health)
	if w.u.viewers >= 0 {
		line += fmt.Sprintf(" · %d watching", w.u.viewers)
	}
	return line + " · F1: help · F2: details · F3: settings · F4: size"
}

// rungLabel names the rung before its size in the status line: "half
// (held) ", "quarter ", "full (half unavailable) "; nothing for the full
// picture on auto, the usual case of a broadcaster without a ladder.
func rungLabel(s stats) string {
	switch {
	case s.Quality != string(viewer.QualityAuto) && s.QualityNote != "":
		return s.Rung + " (" + s.Quality + " unavailable) "
	case s.Quality != string(viewer.QualityAuto):
		return s.Rung + " (held) "
	case s.Rung != "" && s.Rung != netio.Full:
		return s.Rung + " "
	}
	return ""
}

// rate is a count's rate per second, measured over half a second at least.
type rate struct {
	at    time.Time
	count uint64
	perS  float64
}

func (r *rate) update(count uint64, now time.Time) float64 {
	if dt := now.Sub(r.at).Seconds(); dt >= 0.5 {
		r.perS = float64(count-r.count) / dt
		r.at, r.count = now, count
	}
	return r.perS
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

// finish prints the stats on exit when --stats asks for them.
func finish(o *options, p *player) error {
	if o.stats {
		return writeStats(os.Stdout, p.stats())
	}
	return nil
}
