package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"

	"github.com/lsbroadcast/lsbroadcast/capture/encode"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// Layout of the window canvas, laid out at the window's real size: the
// video beside the chat panel in a landscape window, above it in a
// portrait one, a status line under both. Text keeps its size in pixels
// whatever the window's. Tests use it to find the video in screenshots.
const (
	statusHeight = 28
	bannerHeight = 40
	textSize     = 16 // pixels: readable, and the same in every window
	// panelMinW and panelMinH leave the chat room for a line of words
	// (landscape) or a few lines and the input (portrait).
	panelMinW = 300
	panelMinH = 220
	// minCanvasW and minCanvasH are the smallest canvas laid out; a
	// smaller window shows it shrunk.
	minCanvasW = 320
	minCanvasH = 240
)

type layout struct {
	canvas image.Rectangle
	video  image.Rectangle // area the picture is fitted into
	// picture is where the picture goes in video: its aspect, centred.
	picture image.Rectangle
	panel   image.Rectangle // chat
	status  image.Rectangle
	banner  image.Rectangle // over the top of video
}

// newLayout lays out a w×h canvas for a picture of size pic (zero: not
// known yet, taken as 16:9). The picture gets the room its aspect can
// use; the panel the rest, within bounds.
func newLayout(w, h int, pic image.Point) layout {
	if pic.X <= 0 || pic.Y <= 0 {
		pic = image.Pt(16, 9)
	}
	l := layout{canvas: image.Rect(0, 0, w, h), status: image.Rect(0, h-statusHeight, w, h)}
	body := h - statusHeight
	if h > w {
		videoH := min(w*pic.Y/pic.X, body-min(panelMinH, body/2))
		l.video = image.Rect(0, 0, w, videoH)
		l.panel = image.Rect(0, videoH, w, body)
	} else {
		panelW := min(max(w-body*pic.X/pic.Y, min(panelMinW, w/2)), w/2)
		l.video = image.Rect(0, 0, w-panelW, body)
		l.panel = image.Rect(w-panelW, 0, w, body)
	}
	l.placePicture(pic, h > w)
	l.banner = image.Rect(0, 0, l.video.Dx(), min(bannerHeight, l.video.Dy()))
	return l
}

// placePicture fits the picture into the video area. When one of
// libjpeg-turbo's fast scales of it (fastScaled) comes within 1/16 of
// that, the picture is that size, decoded at it with no resize (scaler):
// as sharp, and a few per cent smaller; the video area shrinks to it
// across (down, in a portrait window), the panel taking the rest. In a
// portrait window the picture must still span the width.
func (l *layout) placePicture(pic image.Point, portrait bool) {
	f := fit(l.video, pic.X, pic.Y)
	l.picture = f
	s, ok := fastScaled(pic, f.Size())
	switch {
	case !ok:
	case portrait && s.X == f.Dx():
		l.video.Max.Y, l.panel.Min.Y = s.Y, s.Y
		l.picture = image.Rect(f.Min.X, 0, f.Max.X, s.Y)
	case !portrait:
		l.video.Max.X, l.panel.Min.X = s.X, s.X
		y := (l.video.Dy() - s.Y) / 2
		l.picture = image.Rect(0, y, s.X, y+s.Y)
	}
}

// fastScaled is the largest fast scale of pic that fits in room, when it
// fills at least 15/16 of it across. The fast scales, 8/8, 4/8, 2/8 and
// 1/8, are those libjpeg-turbo decodes with SIMD code; at the others
// (3/8, 6/8, 9/8, ...) its IDCT takes 1.8 to 4 times as long as at full
// size (720p to 960×540: 3.0 ms against 1.2 ms), more than a full decode
// and a resize.
func fastScaled(pic, room image.Point) (image.Point, bool) {
	for _, div := range []int{1, 2, 4, 8} {
		s := encode.ScaledDown(pic.X, pic.Y, div)
		if s.X <= room.X && s.Y <= room.Y {
			return s, s.X*16 >= room.X*15
		}
	}
	return image.Point{}, false
}

// fit is the largest rectangle of the picture's aspect centred in area.
func fit(area image.Rectangle, w, h int) image.Rectangle {
	if w <= 0 || h <= 0 {
		return area
	}
	dw, dh := area.Dx(), area.Dy()
	if dw*h > dh*w { // area is wider: full height
		dw = dh * w / h
	} else {
		dh = dw * h / w
	}
	x := area.Min.X + (area.Dx()-dw)/2
	y := area.Min.Y + (area.Dy()-dh)/2
	return image.Rect(x, y, x+dw, y+dh)
}

// Colours of the interface.
var (
	panelBG   = color.RGBA{24, 26, 32, 255}
	statusBG  = color.RGBA{40, 44, 52, 255}
	bannerBG  = color.RGBA{250, 200, 40, 255}
	textFG    = color.RGBA{230, 230, 230, 255}
	dimFG     = color.RGBA{150, 150, 160, 255}
	nameFG    = color.RGBA{120, 190, 255, 255}
	bannerFG  = color.RGBA{20, 20, 20, 255}
	warnFG    = color.RGBA{255, 140, 90, 255}
	inputBG   = color.RGBA{50, 54, 64, 255}
	reconnBG  = color.RGBA{0, 0, 0, 255}
	reconnFG  = color.RGBA{255, 255, 255, 255}
	separator = color.RGBA{70, 74, 84, 255}
	hostFG    = color.RGBA{250, 200, 40, 255} // the host's name, as the banner
	pendingFG = color.RGBA{150, 150, 160, 255}
	helpBG    = color.RGBA{16, 18, 24, 255}
)

// painter draws Unicode text with a fallback chain of fonts (fonts.go);
// OpenCV's own fonts are ASCII only.
type painter struct {
	face   font.Face
	ascent int
	line   int
}

func newPainter() (*painter, error) {
	face, err := newFontChain(textSize, systemFonts)
	if err != nil {
		return nil, err
	}
	m := face.Metrics()
	return &painter{face: face, ascent: m.Ascent.Ceil(), line: m.Height.Ceil() + 2}, nil
}

// text draws s with its top-left at (x, y), cut to maxW pixels; it returns
// the x after the text. Right-to-left words are put in reading order.
func (p *painter) text(img draw.Image, x, y, maxW int, s string, c color.Color) int {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: p.face,
		Dot: fixed.P(x, y+p.ascent)}
	limit := fixed.I(x + maxW)
	for _, r := range visualOrder(s) {
		adv, ok := p.face.GlyphAdvance(r)
		if !ok {
			r = '�'
			adv, _ = p.face.GlyphAdvance(r)
		}
		if d.Dot.X+adv > limit {
			break
		}
		d.DrawString(string(r))
	}
	return d.Dot.X.Ceil()
}

// wrap splits s into lines no wider than w pixels, breaking at spaces
// where it can.
func (p *painter) wrap(s string, w int) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			try := word
			if line != "" {
				try = line + " " + word
			}
			if font.MeasureString(p.face, try).Ceil() <= w {
				line = try
				continue
			}
			if line != "" {
				lines = append(lines, line)
			}
			// A word wider than the line is cut by runes.
			for font.MeasureString(p.face, word).Ceil() > w {
				rs := []rune(word)
				n := len(rs)
				for n > 1 && font.MeasureString(p.face, string(rs[:n])).Ceil() > w {
					n--
				}
				lines = append(lines, string(rs[:n]))
				word = string(rs[n:])
			}
			line = word
		}
		lines = append(lines, line)
	}
	return lines
}

// uiState is everything the panel, banner and status line show.
type uiState struct {
	title         string
	lines         []viewer.ChatLine // oldest first, bounded by maxChatLines
	input         string
	cursor        int               // in runes into input: where the caret is drawn
	scroll        int               // chat lines hidden below the panel: scrolled back
	announcement  string            // the banner: the newest announcement
	announcements map[uint64]string // current ones by id, as "#id" shows them
	chatStatus    string
	refused       string // why the chat turned us away, until we join
	role          string // ours: chat.RoleHost or chat.RoleViewer
	pending       []viewer.Outgoing
	help          bool // the help overlay is up
	// helpPage is the page of the help shown; helpPages, how many the
	// help took when last drawn (a small panel pages it).
	helpPage, helpPages int
	settings            settingsPanel
	status              string
	reconnecting        bool
	viewers             int // -1: unknown
}

// host says whether we are the chat's host, or will be once it joins.
func (u *uiState) host() bool { return u.role == chat.RoleHost }

// apply takes an update from the chat session.
func (u *uiState) apply(up viewer.ChatUpdate) {
	for _, l := range up.Lines {
		l.Name, l.Text = textsafe.Terminal(l.Name), textsafe.Terminal(l.Text)
		u.addLine(l)
	}
	if up.Announcements != nil {
		u.announcements = map[uint64]string{}
		var newest uint64
		for id, text := range up.Announcements {
			u.announcements[id] = textsafe.Terminal(strings.TrimSpace(text))
			newest = max(newest, id)
		}
		u.announcement = ""
		if newest != 0 {
			u.announcement = fmt.Sprintf("#%d  %s", newest, u.announcements[newest])
		}
	}
	if up.Status != "" {
		u.chatStatus = textsafe.Terminal(up.Status)
	}
	if up.Role != "" {
		u.role, u.refused = up.Role, ""
	}
	if up.Refused != "" {
		u.refused = textsafe.Terminal(up.Refused)
	}
	if up.Viewers >= 0 {
		u.viewers = up.Viewers
	}
	if up.Controls != nil {
		u.settings.take(up.Controls, up.ControlsBy, up.ControlsKey)
	}
}

// note adds lsview's own line to the panel.
func (u *uiState) note(text string) {
	u.addLine(viewer.ChatLine{At: time.Now(), Name: "lsview", Text: text, Note: true})
}

// maxChatLines bounds the panel's history in memory.
const maxChatLines = 500

func (u *uiState) addLine(l viewer.ChatLine) {
	u.lines = append(u.lines, l)
	if len(u.lines) > maxChatLines {
		u.lines = append(u.lines[:0], u.lines[len(u.lines)-maxChatLines:]...)
	}
}

// scrollBack moves the panel n chat lines back in time (n < 0: forward),
// no further than the first line and no further forward than the newest.
func (u *uiState) scrollBack(n int) {
	u.scroll = max(0, min(u.scroll+n, len(u.lines)-1))
}

// maxListed bounds the announcements listed in the panel; the rest are
// counted.
const maxListed = 3

// panelArea is where the chat panel draws: its rectangle, padding and the
// width text may take.
type panelArea struct {
	r      image.Rectangle
	pad, w int
}

// drawPanel renders the chat panel: title with the host badge, the chat's
// state, the current announcements with their numbers, messages newest at
// the bottom, lines still sending, and the input line; or the help.
func (p *painter) drawPanel(img *image.RGBA, u *uiState) {
	r := img.Bounds()
	draw.Draw(img, r, image.NewUniform(panelBG), image.Point{}, draw.Src)
	a := panelArea{r: r, pad: 8, w: r.Dx() - 16}
	top := p.panelHeader(img, a, u, r.Min.Y+a.pad)
	top = p.panelAnnouncements(img, a, u, top)
	inputTop := p.panelInput(img, a, u)
	if u.help { // over the whole panel but the input line: it is long
		u.helpPages = p.panelHelp(img, a, r.Min.Y, inputTop, u.helpPage)
		return
	}
	if u.settings.open { // it has the keys: no input line
		p.panelSettings(img, a, u, top)
		return
	}
	p.panelMessages(img, a, u, top, inputTop-4)
}

// separate draws the panel's separator line below y and returns where the
// next part starts.
func (p *painter) separate(img *image.RGBA, a panelArea, y int) int {
	y += 4
	draw.Draw(img, image.Rect(a.r.Min.X, y, a.r.Max.X, y+1), image.NewUniform(separator), image.Point{}, draw.Src)
	return y + 4
}

// panelHeader draws the title, the host badge and the chat's state (or
// why it refused us) from y, and returns where the next part starts.
func (p *painter) panelHeader(img *image.RGBA, a panelArea, u *uiState, y int) int {
	titleW := a.w
	if u.host() {
		bw := font.MeasureString(p.face, "host").Ceil() + 12
		bx := a.r.Max.X - a.pad - bw
		draw.Draw(img, image.Rect(bx, y-2, bx+bw, y+p.line), image.NewUniform(hostFG), image.Point{}, draw.Src)
		p.text(img, bx+6, y, bw, "host", bannerFG)
		titleW -= bw + 6
	}
	p.text(img, a.r.Min.X+a.pad, y, titleW, u.title, textFG)
	y += p.line
	if u.refused != "" {
		for _, s := range p.wrap(u.refused, a.w) {
			p.text(img, a.r.Min.X+a.pad, y, a.w, s, warnFG)
			y += p.line
		}
	} else {
		p.text(img, a.r.Min.X+a.pad, y, a.w, u.chatStatus, dimFG)
		y += p.line
	}
	return p.separate(img, a, y)
}

// panelAnnouncements lists the newest announcements with their numbers
// from y, and returns where the next part starts.
func (p *painter) panelAnnouncements(img *image.RGBA, a panelArea, u *uiState, y int) int {
	if len(u.announcements) == 0 {
		return y
	}
	ids := make([]uint64, 0, len(u.announcements))
	for id := range u.announcements {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	left := a.r.Min.X + a.pad
	if n := len(ids) - maxListed; n > 0 {
		p.text(img, left, y, a.w, fmt.Sprintf("%d older announcements", n), dimFG)
		y += p.line
		ids = ids[n:]
	}
	for _, id := range ids {
		x := p.text(img, left, y, a.w, fmt.Sprintf("#%d ", id), hostFG)
		p.text(img, x, y, a.w-(x-left), p.ellipsis(u.announcements[id], a.w-(x-left)), textFG)
		y += p.line
	}
	return p.separate(img, a, y)
}

// panelInput draws the input line with its caret at the panel's bottom and
// returns its top.
func (p *painter) panelInput(img *image.RGBA, a panelArea, u *uiState) int {
	r, pad, w := a.r, a.pad, a.w
	inputTop := r.Max.Y - p.line - 2*pad
	draw.Draw(img, image.Rect(r.Min.X, inputTop, r.Max.X, r.Max.Y), image.NewUniform(inputBG), image.Point{}, draw.Src)
	// Keep the caret in sight: a long input loses its start first.
	in := []rune(u.input)
	cur := max(0, min(u.cursor, len(in)))
	before, after, cut := in[:cur], in[cur:], ""
	for len(before) > 0 && font.MeasureString(p.face, "> "+cut+string(before)+"_").Ceil() > w {
		before, cut = before[1:], "…"
	}
	x := p.text(img, r.Min.X+pad, inputTop+pad, w, "> "+cut+string(before), textFG)
	draw.Draw(img, image.Rect(x, inputTop+pad, x+2, inputTop+pad+p.line-2), image.NewUniform(textFG), image.Point{}, draw.Src)
	p.text(img, x+3, inputTop+pad, w-(x+3-r.Min.X-pad), string(after), textFG)
	return inputTop
}

// panelHelp draws page (clamped) of the keys and commands between top
// and bottom in two columns, each wrapped to its width, so the panel's
// width is enough; and returns how many pages the help takes there. A
// panel too short for all of it shows one page at a time, with a last
// line saying how to turn them.
func (p *painter) panelHelp(img *image.RGBA, a panelArea, top, bottom, page int) int {
	r, pad, w := a.r, a.pad, a.w
	draw.Draw(img, image.Rect(r.Min.X, top, r.Max.X, bottom), image.NewUniform(helpBG), image.Point{}, draw.Src)
	col := helpColumn(p, a)
	pages := p.helpPages(a, bottom-top-pad)
	page = min(max(page, 0), len(pages)-1)
	y := top + pad
	for _, l := range pages[page] {
		if l[1] == "" {
			p.text(img, r.Min.X+pad, y, w, l[0], hostFG)
			y += p.line
			continue
		}
		keys, what := p.wrap(l[0], col-2*pad), p.wrap(l[1], w-col)
		for i, s := range keys {
			p.text(img, r.Min.X+2*pad, y+i*p.line, col-2*pad, s, textFG)
		}
		for i, s := range what {
			p.text(img, r.Min.X+pad+col, y+i*p.line, w-col, s, dimFG)
		}
		y += max(len(keys), len(what)) * p.line
	}
	if len(pages) > 1 {
		p.text(img, r.Min.X+pad, bottom-p.line, w, helpTurn(page, len(pages)), hostFG)
	}
	return len(pages)
}

// helpTurn is the last line of a paged help.
func helpTurn(page, pages int) string {
	return fmt.Sprintf("page %d of %d · PgUp, PgDn: turn", page+1, pages)
}

// helpPages splits the help into pages of whole entries, each h pixels
// high at most: one page when it all fits, else pages that leave a line
// for helpTurn. A heading is never the last entry of a page.
func (p *painter) helpPages(a panelArea, h int) [][][2]string {
	col := helpColumn(p, a)
	height := func(l [2]string) int {
		if l[1] == "" {
			return p.line
		}
		return max(len(p.wrap(l[0], col-2*a.pad)), len(p.wrap(l[1], a.w-col))) * p.line
	}
	total := 0
	for _, l := range helpLines {
		total += height(l)
	}
	if total <= h {
		return [][][2]string{helpLines}
	}
	h -= p.line // the turn line
	var pages [][][2]string
	var cur [][2]string
	used := 0
	for _, l := range helpLines {
		if lh := height(l); used+lh > h && len(cur) > 0 {
			var heading [][2]string
			if last := cur[len(cur)-1]; last[1] == "" && len(cur) > 1 {
				cur, heading = cur[:len(cur)-1], [][2]string{last}
			}
			pages, cur, used = append(pages, cur), heading, 0
			for _, hl := range heading {
				used += height(hl)
			}
		}
		cur = append(cur, l)
		used += height(l)
	}
	return append(pages, cur)
}

// helpColumn is the width of the help's keys column: the widest key, up
// to half the panel, where the descriptions wrap less than the keys would.
func helpColumn(p *painter, a panelArea) int {
	col := 0
	for _, l := range helpLines {
		if l[1] != "" {
			col = max(col, font.MeasureString(p.face, l[0]).Ceil()+2*a.pad)
		}
	}
	return min(col, a.w/2)
}

// panelMessages draws the lines still on their way just above y, then the
// messages from the bottom up (skipping those scrolled back past) until
// top.
func (p *painter) panelMessages(img *image.RGBA, a panelArea, u *uiState, top, y int) {
	left := a.r.Min.X + a.pad
	// block draws wrapped lines ending at y, when they fit, and moves y up.
	block := func(body []string, draw func(j int, s string, y int)) bool {
		h := len(body) * p.line
		if y-h < top {
			return false
		}
		y -= h
		for j, s := range body {
			draw(j, s, y+j*p.line)
		}
		return true
	}
	for i := len(u.pending) - 1; i >= 0 && y > top; i-- {
		if !block(p.wrap("sending… "+describe(u.pending[i]), a.w), func(_ int, s string, y int) {
			p.text(img, left, y, a.w, s, pendingFG)
		}) {
			break
		}
	}
	for i := len(u.lines) - 1 - u.scroll; i >= 0 && y > top; i-- {
		l := u.lines[i]
		head, nameFG := lineHead(l)
		fg := textFG
		if l.Note {
			fg = dimFG
		}
		if !block(p.wrap(head+l.Text, a.w), func(j int, s string, y int) {
			x := left
			if j == 0 && !l.Note && strings.HasPrefix(s, head) {
				x = p.text(img, x, y, a.w, head, nameFG)
				s = strings.TrimPrefix(s, head)
			}
			p.text(img, x, y, a.w-(x-left), s, fg)
		}) {
			break
		}
	}
}

// lineHead is what a chat line starts with, and the colour of the name:
// time, name, the host's mark and the announcement's number.
func lineHead(l viewer.ChatLine) (string, color.Color) {
	head, fg := l.At.Format("15:04")+" "+l.Name, color.Color(nameFG)
	if l.Host {
		head += " [host]"
		fg = hostFG
	}
	if l.Announcement != 0 {
		head += fmt.Sprintf(" #%d", l.Announcement)
	}
	return head + ": ", fg
}

// describe is a queued request as the user typed it.
func describe(o viewer.Outgoing) string {
	switch o.Op {
	case viewer.AnnouncePost:
		return "/announce " + o.Text
	case viewer.AnnounceEdit:
		return fmt.Sprintf("/edit %d %s", o.ID, o.Text)
	case viewer.AnnounceDelete:
		return fmt.Sprintf("/delete %d", o.ID)
	}
	return o.Text
}

// ellipsis cuts s to w pixels, ending in "…" when cut.
func (p *painter) ellipsis(s string, w int) string {
	if font.MeasureString(p.face, s).Ceil() <= w {
		return s
	}
	rs := []rune(s)
	for len(rs) > 0 && font.MeasureString(p.face, string(rs)+"…").Ceil() > w {
		rs = rs[:len(rs)-1]
	}
	return string(rs) + "…"
}

func (p *painter) drawStatus(img *image.RGBA, u *uiState) {
	r := img.Bounds()
	draw.Draw(img, r, image.NewUniform(statusBG), image.Point{}, draw.Src)
	fg := textFG
	if u.reconnecting {
		fg = warnFG
	}
	p.text(img, r.Min.X+8, r.Min.Y+(r.Dy()-p.line)/2+1, r.Dx()-16, p.ellipsis(u.status, r.Dx()-16), fg)
}

// drawBanner renders the host's announcement, or the reconnecting notice.
func (p *painter) drawBanner(img *image.RGBA, u *uiState) bool {
	r := img.Bounds()
	switch {
	case u.reconnecting:
		draw.Draw(img, r, image.NewUniform(reconnBG), image.Point{}, draw.Src)
		p.text(img, r.Min.X+12, r.Min.Y+(r.Dy()-p.line)/2, r.Dx()-24, "reconnecting…", reconnFG)
	case u.announcement != "":
		draw.Draw(img, r, image.NewUniform(bannerBG), image.Point{}, draw.Src)
		p.text(img, r.Min.X+12, r.Min.Y+(r.Dy()-p.line)/2, r.Dx()-24, p.ellipsis("» "+u.announcement, r.Dx()-24), bannerFG)
	default:
		return false
	}
	return true
}
