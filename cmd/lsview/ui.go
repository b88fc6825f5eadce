package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// Layout of the window canvas: video on the left, chat on the right, a
// status line under both. Tests use it to find the video in screenshots.
const (
	statusHeight = 28
	bannerHeight = 40
	textSize     = 16
)

type layout struct {
	canvas image.Rectangle
	video  image.Rectangle // area the picture is fitted into
	panel  image.Rectangle // chat
	status image.Rectangle
	banner image.Rectangle // over the top of video
}

func newLayout(w, h int) layout {
	panelW := max(w*3/10, 260)
	l := layout{canvas: image.Rect(0, 0, w, h)}
	l.video = image.Rect(0, 0, w-panelW, h-statusHeight)
	l.panel = image.Rect(w-panelW, 0, w, h-statusHeight)
	l.status = image.Rect(0, h-statusHeight, w, h)
	l.banner = image.Rect(0, 0, l.video.Dx(), bannerHeight)
	return l
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
)

// painter draws Unicode text with the Go font; OpenCV's own fonts are
// ASCII only.
type painter struct {
	face   font.Face
	ascent int
	line   int
}

func newPainter() (*painter, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse Go font: %w", err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: textSize, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("Go font face: %w", err)
	}
	m := face.Metrics()
	return &painter{face: face, ascent: m.Ascent.Ceil(), line: m.Height.Ceil() + 2}, nil
}

// text draws s with its top-left at (x, y), cut to maxW pixels; it returns
// the x after the text.
func (p *painter) text(img draw.Image, x, y, maxW int, s string, c color.Color) int {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: p.face,
		Dot: fixed.P(x, y+p.ascent)}
	limit := fixed.I(x + maxW)
	for _, r := range s {
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
	title        string
	lines        []viewer.ChatLine // oldest first, bounded by maxChatLines
	input        string
	cursor       int // in runes into input: where the caret is drawn
	scroll       int // chat lines hidden below the panel: scrolled back
	announcement string
	chatStatus   string
	status       string
	reconnecting bool
	viewers      int // -1: unknown
}

// apply takes an update from the chat session.
func (u *uiState) apply(up viewer.ChatUpdate) {
	for _, l := range up.Lines {
		l.Name, l.Text = textsafe.Terminal(l.Name), textsafe.Terminal(l.Text)
		u.addLine(l)
	}
	if up.Announcements != nil {
		u.announcement = textsafe.Terminal(viewer.NewestAnnouncement(up.Announcements))
	}
	if up.Status != "" {
		u.chatStatus = textsafe.Terminal(up.Status)
	}
	if up.Viewers >= 0 {
		u.viewers = up.Viewers
	}
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

// drawPanel renders the chat panel: title, messages newest at the bottom,
// and the input line.
func (p *painter) drawPanel(img *image.RGBA, u *uiState) {
	r := img.Bounds()
	draw.Draw(img, r, image.NewUniform(panelBG), image.Point{}, draw.Src)
	pad := 8
	w := r.Dx() - 2*pad
	y := r.Min.Y + pad
	p.text(img, r.Min.X+pad, y, w, u.title, textFG)
	y += p.line
	p.text(img, r.Min.X+pad, y, w, u.chatStatus, dimFG)
	y += p.line + 4
	draw.Draw(img, image.Rect(r.Min.X, y, r.Max.X, y+1), image.NewUniform(separator), image.Point{}, draw.Src)
	top := y + 4

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

	// Messages from the bottom up until the space is used.
	y = inputTop - 4
	for i := len(u.lines) - 1 - u.scroll; i >= 0 && y > top; i-- {
		l := u.lines[i]
		head := l.At.Format("15:04") + " " + l.Name + ": "
		body := p.wrap(head+l.Text, w)
		h := len(body) * p.line
		if y-h < top {
			break
		}
		y -= h
		for j, s := range body {
			x := r.Min.X + pad
			fg := textFG
			if l.Note {
				fg = dimFG
			}
			if j == 0 && !l.Note && strings.HasPrefix(s, head) {
				x = p.text(img, x, y+j*p.line, w, head, nameFG)
				s = strings.TrimPrefix(s, head)
			}
			p.text(img, x, y+j*p.line, w-(x-r.Min.X-pad), s, fg)
		}
	}
}

func (p *painter) drawStatus(img *image.RGBA, u *uiState) {
	r := img.Bounds()
	draw.Draw(img, r, image.NewUniform(statusBG), image.Point{}, draw.Src)
	fg := textFG
	if u.reconnecting {
		fg = warnFG
	}
	p.text(img, r.Min.X+8, r.Min.Y+(r.Dy()-p.line)/2+1, r.Dx()-16, u.status, fg)
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
		p.text(img, r.Min.X+12, r.Min.Y+(r.Dy()-p.line)/2, r.Dx()-24, "» "+u.announcement, bannerFG)
	default:
		return false
	}
	return true
}
