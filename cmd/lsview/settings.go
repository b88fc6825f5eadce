package main

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/image/font"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// The settings panel (F3, /settings): the broadcaster's size, rate and
// quality and its camera's controls, each shown by its kind. The host
// changes them from the keyboard; a viewer reads them.

// controlSender is what the panel asks of the session.
type controlSender interface {
	SetControl(key string, value int64) error
	ResetControl(key string) error
}

// settingsPanel is the panel's state. A change goes out at once unless one
// for the same setting is waiting for its answer: then the newest wanted
// value follows that answer, so holding a key sends no more than the
// chat's round trips allow, never a flood the rate limit refuses.
type settingsPanel struct {
	open bool
	list []chat.Control // as the broadcaster last said
	sel  string         // key of the selected setting
	top  int            // first row shown
	msg  string         // what became of the last request, or a change heard
	warn bool           // msg is a refusal
	want map[string]int64
	sent map[string]int64 // on the wire, not answered yet
}

// take keeps a list from the broadcaster: after an answer it is the truth,
// so only values still on their way stay wanted.
func (s *settingsPanel) take(list []chat.Control, by, key string) {
	s.list = list
	for k := range s.want {
		if _, busy := s.sent[k]; !busy {
			delete(s.want, k)
		}
	}
	if s.index(s.sel) < 0 && len(list) > 0 {
		s.sel = list[0].Key
	}
	if by != "" {
		what := "every setting"
		if i := s.index(key); i >= 0 {
			what = fmt.Sprintf("%s to %s", s.list[i].Name, valueText(s.list[i], s.list[i].Value))
		} else if key != "" {
			what = key
		}
		s.msg, s.warn = textsafe.Terminal(by)+" set "+textsafe.Terminal(what), false
	}
}

func (s *settingsPanel) index(key string) int {
	return slices.IndexFunc(s.list, func(c chat.Control) bool { return c.Key == key })
}

// selected is the selected setting; false when there is none.
func (s *settingsPanel) selected() (chat.Control, bool) {
	if i := s.index(s.sel); i >= 0 {
		return s.list[i], true
	}
	return chat.Control{}, false
}

// move selects the setting n rows down (up for n < 0).
func (s *settingsPanel) move(n int) {
	if len(s.list) == 0 {
		return
	}
	i := max(0, min(s.index(s.sel)+n, len(s.list)-1))
	s.sel = s.list[i].Key
}

// shown is the value to show: the one asked for while it is on its way.
func (s *settingsPanel) shown(c chat.Control) (int64, bool) {
	if v, ok := s.want[c.Key]; ok {
		return v, true
	}
	return c.Value, false
}

// Steps of a change: by one step or item, or by a tenth of the range.
const (
	stepSmall = 1
	stepBig   = 10
)

// stepped is v moved n steps (n of ±stepSmall or ±stepBig) within c.
func stepped(c chat.Control, v int64, n int) int64 {
	switch c.Kind {
	case "bool":
		if n > 0 {
			return 1
		}
		return 0
	case "menu", "intmenu":
		if len(c.Menu) == 0 {
			return v
		}
		i := slices.IndexFunc(c.Menu, func(m chat.MenuItem) bool { return m.Value == v })
		if i < 0 {
			i = 0
		} else if n > 0 {
			i = min(i+max(1, n/2), len(c.Menu)-1)
		} else {
			i = max(i+min(-1, n/2), 0)
		}
		return c.Menu[i].Value
	case "int":
		step := max(c.Step, 1)
		k := int64(n)
		if abs(n) == stepBig {
			// A tenth of the range, in whole steps.
			big := max(step, (c.Max-c.Min)/10/step*step)
			k = int64(n/stepBig) * big / step
		}
		v = min(max(v+k*step, c.Min), c.Max)
		return c.Min + (v-c.Min)/step*step
	}
	return v
}

func abs(n int) int { return max(n, -n) }

// change moves the selected setting n steps, or sets it (to, when set),
// and asks for it. What it can't send is said in the panel, and returned.
func (s *settingsPanel) change(n int, host bool, to *int64, out controlSender) error {
	c, ok := s.selected()
	if !ok {
		return nil
	}
	if !host {
		return s.refuse(viewer.ErrNotHost)
	}
	if c.Kind == "button" {
		return s.ask(c, 1, out)
	}
	base, _ := s.shown(c)
	v := stepped(c, base, n)
	if to != nil {
		v = *to
	}
	if v == base {
		if to != nil {
			s.msg, s.warn = fmt.Sprintf("%s is %s already", c.Name, valueText(c, v)), false
		}
		return nil
	}
	if s.want == nil {
		s.want, s.sent = map[string]int64{}, map[string]int64{}
	}
	s.want[c.Key] = v
	if _, busy := s.sent[c.Key]; busy {
		return nil
	}
	return s.ask(c, v, out)
}

// refuse shows err in the panel and returns it.
func (s *settingsPanel) refuse(err error) error {
	s.msg, s.warn = err.Error(), true
	return err
}

// ask sends a set now.
func (s *settingsPanel) ask(c chat.Control, v int64, out controlSender) error {
	if err := out.SetControl(c.Key, v); err != nil {
		delete(s.want, c.Key)
		return s.refuse(fmt.Errorf("%s: %w", c.Name, err))
	}
	if c.Kind == "button" {
		s.msg, s.warn = c.Name+"…", false
		return nil
	}
	if s.sent == nil {
		s.want, s.sent = map[string]int64{}, map[string]int64{}
	}
	s.sent[c.Key] = v
	s.msg, s.warn = "", false
	return nil
}

// reset asks for one setting (key "": all) back to its default.
func (s *settingsPanel) reset(key string, host bool, out controlSender) error {
	if !host {
		return s.refuse(viewer.ErrNotHost)
	}
	what := "every setting"
	if i := s.index(key); i >= 0 {
		what = s.list[i].Name
	}
	if key != "" && s.list != nil && s.index(key) < 0 {
		return s.refuse(s.noSetting(key))
	}
	if err := out.ResetControl(key); err != nil {
		return s.refuse(fmt.Errorf("reset: %w", err))
	}
	delete(s.want, key)
	if key == "" {
		clear(s.want)
	}
	s.msg, s.warn = "resetting "+what+"…", false
	return nil
}

// noSetting is the error for a key the list doesn't have.
func (s *settingsPanel) noSetting(key string) error {
	keys := make([]string, len(s.list))
	for j, c := range s.list {
		keys[j] = c.Key
	}
	return fmt.Errorf("no setting %q: there are %s", key, strings.Join(keys, ", "))
}

// answered takes the answer to one of our requests; the wanted value that
// waited for it goes out now. It returns a line for the chat when the
// request was refused, so a refusal is seen with the panel closed too.
func (s *settingsPanel) answered(r viewer.ControlResult, out controlSender) string {
	name := r.Key
	if i := s.index(r.Key); i >= 0 {
		name = s.list[i].Name
	}
	if r.Op == viewer.ControlList {
		if r.Err != nil {
			s.list = []chat.Control{} // none to show: the message says why
			s.msg, s.warn = "settings: "+refusal(r.Err), true
		}
		return ""
	}
	sentV, wasSent := s.sent[r.Key]
	delete(s.sent, r.Key)
	if r.Err != nil {
		delete(s.want, r.Key)
		if r.Key == "" {
			name = "reset"
		}
		s.msg, s.warn = fmt.Sprintf("%s: %s", name, refusal(r.Err)), true
		return s.msg
	}
	switch {
	case r.Op == chat.OpReset:
		s.msg, s.warn = "reset done", false
	case wasSent:
		if w, ok := s.want[r.Key]; ok && w != sentV {
			if i := s.index(r.Key); i >= 0 {
				s.ask(s.list[i], w, out)
			}
		}
	}
	return ""
}

// refusal words a server's refusal of a settings request.
func refusal(e *chat.Error) string {
	msg := textsafe.Terminal(e.Message)
	switch e.Code {
	case chat.CodeForbidden:
		return "refused: " + msg
	case chat.CodeUnsupported:
		return "not offered: " + msg
	case chat.CodeRateLimited:
		return "too fast: " + msg
	}
	return msg
}

// valueText is a value as people read it: on/off, a menu's label, a
// number.
func valueText(c chat.Control, v int64) string {
	switch c.Kind {
	case "bool":
		if v != 0 {
			return "on"
		}
		return "off"
	case "menu", "intmenu":
		for _, m := range c.Menu {
			if m.Value == v {
				return textsafe.Terminal(m.Label)
			}
		}
	case "button":
		return "press Enter"
	}
	return strconv.FormatInt(v, 10)
}

// parseValue reads /set's VALUE for c: a number, on/off, or a menu label
// (1280x720).
func parseValue(c chat.Control, s string) (int64, error) {
	s = strings.TrimSpace(s)
	switch c.Kind {
	case "button":
		return 1, nil
	case "bool":
		switch strings.ToLower(s) {
		case "on", "true", "yes", "1":
			return 1, nil
		case "off", "false", "no", "0":
			return 0, nil
		}
		return 0, fmt.Errorf("%s is on or off", c.Key)
	case "menu", "intmenu":
		norm := func(l string) string { return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(l), "×", "x")) }
		labels := make([]string, 0, len(c.Menu))
		for _, m := range c.Menu {
			if norm(m.Label) == norm(s) {
				return m.Value, nil
			}
			labels = append(labels, m.Label)
		}
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v, nil // the server checks it is a menu value
		}
		return 0, fmt.Errorf("%s is one of %s", c.Key, strings.Join(labels, ", "))
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is a number from %d to %d", c.Key, c.Min, c.Max)
	}
	return v, nil
}

// errNoList: /set before the list came.
var errNoList = errors.New("the settings are not known yet (this broadcaster may have none)")

// setCommand does /set KEY VALUE.
func (s *settingsPanel) setCommand(key, value string, host bool, out controlSender) error {
	if !host {
		return s.refuse(viewer.ErrNotHost)
	}
	if s.list == nil {
		return s.refuse(errNoList)
	}
	i := s.index(key)
	if i < 0 {
		return s.refuse(s.noSetting(key))
	}
	c := s.list[i]
	if value == "" && c.Kind != "button" {
		return s.refuse(errors.New("usage: /set KEY VALUE"))
	}
	v, err := parseValue(c, value)
	if err != nil {
		return s.refuse(err)
	}
	s.sel = key
	return s.change(0, host, &v, out)
}

// settingsKey applies a key pressed while the panel is open: true when it
// closes the panel.
func (w *windowLoop) settingsKey(t typed) (closed bool) {
	s, u := &w.u.settings, w.u
	host := u.host()
	switch t.key {
	case editEsc, editF3:
		s.open = false
		return true
	case editUp, editWheelUp:
		s.move(-1)
	case editDown, editWheelDown:
		s.move(1)
	case editLeft:
		s.change(-stepSmall, host, nil, w.p.session)
	case editRight:
		s.change(stepSmall, host, nil, w.p.session)
	case editPageUp, editShiftRight:
		s.change(stepBig, host, nil, w.p.session)
	case editPageDown, editShiftLeft:
		s.change(-stepBig, host, nil, w.p.session)
	case editEnter:
		s.toggle(host, w.p.session)
	case editHome, editEnd:
		s.extreme(t.key == editEnd, host, w.p.session)
	case editText:
		switch t.text {
		case " ":
			s.toggle(host, w.p.session)
		case "r":
			s.reset(s.sel, host, w.p.session)
		case "R":
			s.reset("", host, w.p.session)
		case "+", "=":
			s.change(stepSmall, host, nil, w.p.session)
		case "-":
			s.change(-stepSmall, host, nil, w.p.session)
		}
	}
	return false
}

// toggle flips a bool or presses a button; other kinds are changed with
// the arrows.
func (s *settingsPanel) toggle(host bool, out controlSender) {
	c, ok := s.selected()
	if !ok {
		return
	}
	switch c.Kind {
	case "bool":
		v, _ := s.shown(c)
		to := 1 - min(v, 1)
		s.change(0, host, &to, out)
	case "button":
		s.change(0, host, nil, out)
	}
}

// extreme sets a number to its least or greatest, a menu to its first or
// last item.
func (s *settingsPanel) extreme(greatest bool, host bool, out controlSender) {
	c, ok := s.selected()
	if !ok {
		return
	}
	v := c.Min
	switch {
	case (c.Kind == "menu" || c.Kind == "intmenu") && len(c.Menu) > 0:
		v = c.Menu[0].Value
		if greatest {
			v = c.Menu[len(c.Menu)-1].Value
		}
	case c.Kind == "int" && greatest:
		v = c.Max
	case c.Kind != "int":
		return
	}
	s.change(0, host, &v, out)
}

// Colours of the settings panel.
var (
	inactiveFG = color.RGBA{95, 98, 108, 255}
	selectedBG = color.RGBA{50, 54, 64, 255}
	trackFG    = color.RGBA{70, 74, 84, 255}
)

// hostHints and viewerHints are the panel's keys, each kept whole on a
// line.
var (
	hostHints = []string{"Up/Down: pick", "Left/Right: change", "PgUp/PgDn, Shift: more", "Enter, Space: switch, press",
		"r: reset", "R: reset all", "Esc, F3: close"}
	viewerHints = []string{"Esc, F3: close"}
)

// items lays out items on lines no wider than w, separated by " · ",
// breaking between items (within one only when it alone is too wide).
func (p *painter) items(items []string, w int) []string {
	var lines []string
	line := ""
	for _, it := range items {
		try := it
		if line != "" {
			try = line + " · " + it
		}
		if font.MeasureString(p.face, try).Ceil() <= w {
			line = try
			continue
		}
		if line != "" {
			lines = append(lines, line)
		}
		wrapped := p.wrap(it, w)
		lines = append(lines, wrapped[:len(wrapped)-1]...)
		line = wrapped[len(wrapped)-1]
	}
	return append(lines, line)
}

// panelSettings draws the settings between top and the panel's bottom:
// a heading, one row per setting (name, value, and a bar for numbers),
// the last request's outcome and the keys.
func (p *painter) panelSettings(img *image.RGBA, a panelArea, u *uiState, top int) {
	s := &u.settings
	r, pad, w := a.r, a.pad, a.w
	left := r.Min.X + pad
	draw.Draw(img, image.Rect(r.Min.X, top, r.Max.X, r.Max.Y), image.NewUniform(panelBG), image.Point{}, draw.Src)
	y := top
	heading, hints := "Camera settings", hostHints
	if !u.host() {
		heading, hints = "Camera settings (read only)", viewerHints
	}
	p.text(img, left, y, w, heading, hostFG)
	y += p.line + 2
	// The foot: outcome and keys, wrapped, from the bottom up.
	foot := p.items(hints, w)
	var msg []string
	if s.msg != "" {
		msg = p.wrap(s.msg, w)
	}
	footTop := r.Max.Y - pad - (len(foot)+len(msg))*p.line
	fy := footTop
	for _, l := range msg {
		fg := dimFG
		if s.warn {
			fg = warnFG
		}
		p.text(img, left, fy, w, l, fg)
		fy += p.line
	}
	for _, l := range foot {
		p.text(img, left, fy, w, l, dimFG)
		fy += p.line
	}
	bottom := footTop - 4
	if len(s.list) == 0 {
		note := "reading the settings…"
		if s.list != nil {
			note = "this broadcaster has no settings"
		}
		p.text(img, left, y, w, note, dimFG)
		return
	}
	rowH := p.line + 10
	rows := max(1, (bottom-y)/rowH)
	sel := max(0, s.index(s.sel))
	s.top = max(0, min(s.top, sel, len(s.list)-rows))
	if sel >= s.top+rows {
		s.top = sel - rows + 1
	}
	for i := s.top; i < len(s.list) && i < s.top+rows; i++ {
		p.settingRow(img, a, s, s.list[i], i == sel, y)
		y += rowH
	}
	if s.top > 0 || s.top+rows < len(s.list) {
		more := fmt.Sprintf("%d–%d of %d", s.top+1, min(s.top+rows, len(s.list)), len(s.list))
		mw := font.MeasureString(p.face, more).Ceil()
		p.text(img, r.Max.X-pad-mw, top, mw, more, dimFG)
	}
}

// settingRow draws one setting at y: its name, its value at the right (the
// value asked for, with "…", while it is on its way), and under both a bar
// of where a number lies in its range.
func (p *painter) settingRow(img *image.RGBA, a panelArea, s *settingsPanel, c chat.Control, selected bool, y int) {
	left, right := a.r.Min.X+a.pad, a.r.Max.X-a.pad
	if selected {
		draw.Draw(img, image.Rect(a.r.Min.X, y, a.r.Max.X, y+p.line+8), image.NewUniform(selectedBG), image.Point{}, draw.Src)
		draw.Draw(img, image.Rect(a.r.Min.X, y, a.r.Min.X+3, y+p.line+8), image.NewUniform(hostFG), image.Point{}, draw.Src)
	}
	labelFG, valFG := textFG, nameFG
	if c.Inactive {
		labelFG, valFG = inactiveFG, inactiveFG
	}
	v, pending := s.shown(c)
	val := valueText(c, v)
	if pending {
		val += "…"
		valFG = pendingFG
	}
	if c.Inactive {
		val += " (inactive)"
	}
	val = p.ellipsis(val, a.w/2)
	vw := font.MeasureString(p.face, val).Ceil()
	p.text(img, left, y+1, a.w-vw-8, p.ellipsis(textsafe.Terminal(c.Name), a.w-vw-8), labelFG)
	p.text(img, right-vw, y+1, vw+1, val, valFG)
	if c.Kind == "int" && c.Max > c.Min {
		by := y + p.line + 3
		draw.Draw(img, image.Rect(left, by, right, by+2), image.NewUniform(trackFG), image.Point{}, draw.Src)
		fill := left + int(int64(right-left)*(min(max(v, c.Min), c.Max)-c.Min)/(c.Max-c.Min))
		draw.Draw(img, image.Rect(left, by, fill, by+2), image.NewUniform(valFG), image.Point{}, draw.Src)
	}
}
