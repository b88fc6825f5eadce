package main

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

var (
	fpsControl   = chat.Control{Key: "fps", Name: "Frame rate", Kind: "int", Min: 1, Max: 60, Step: 1, Default: 30, Value: 30}
	sizeControl  = chat.Control{Key: "size", Name: "Size", Kind: "menu", Value: 640<<16 | 360, Menu: []chat.MenuItem{{Value: 320<<16 | 240, Label: "320x240"}, {Value: 640<<16 | 360, Label: "640x360"}, {Value: 1280<<16 | 720, Label: "1280x720"}}}
	autoControl  = chat.Control{Key: "white_balance_automatic", Name: "White Balance, Automatic", Kind: "bool", Max: 1, Value: 1}
	brightStep   = chat.Control{Key: "brightness", Name: "Brightness", Kind: "int", Min: -64, Max: 64, Step: 4, Value: 0}
	focusControl = chat.Control{Key: "focus_absolute", Name: "Focus", Kind: "int", Max: 250, Step: 5, Value: 0, Inactive: true}
)

func TestStepped(t *testing.T) {
	cases := []struct {
		c    chat.Control
		v    int64
		n    int
		want int64
	}{
		{fpsControl, 30, stepSmall, 31},
		{fpsControl, 60, stepSmall, 60},
		{fpsControl, 30, -stepBig, 25}, // a tenth of 59, in whole steps: 5
		{fpsControl, 3, -stepBig, 1},
		{brightStep, 0, stepSmall, 4},
		{brightStep, 0, stepBig, 12},
		{brightStep, 62, stepSmall, 64},
		{sizeControl, 640<<16 | 360, stepSmall, 1280<<16 | 720},
		{sizeControl, 1280<<16 | 720, stepSmall, 1280<<16 | 720},
		{sizeControl, 640<<16 | 360, -stepBig, 320<<16 | 240},
		{autoControl, 1, -stepSmall, 0},
		{autoControl, 0, stepSmall, 1},
	}
	for _, tc := range cases {
		if got := stepped(tc.c, tc.v, tc.n); got != tc.want {
			t.Errorf("%s from %d by %d: %d, want %d", tc.c.Key, tc.v, tc.n, got, tc.want)
		}
	}
}

func TestParseValue(t *testing.T) {
	cases := []struct {
		c    chat.Control
		s    string
		want int64
		ok   bool
	}{
		{sizeControl, "1280x720", 1280<<16 | 720, true},
		{sizeControl, "1280×720", 1280<<16 | 720, true},
		{sizeControl, "1x1", 0, false},
		{autoControl, "off", 0, true},
		{autoControl, "ON", 1, true},
		{autoControl, "maybe", 0, false},
		{fpsControl, "15", 15, true},
		{fpsControl, "fast", 0, false},
	}
	for _, tc := range cases {
		got, err := parseValue(tc.c, tc.s)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("%s %q: %d, %v", tc.c.Key, tc.s, got, err)
		}
	}
}

// sender records what the panel asks of the session.
type sender struct {
	sets   []int64
	resets []string
	err    error
}

func (s *sender) SetControl(_ string, v int64) error {
	if s.err == nil {
		s.sets = append(s.sets, v)
	}
	return s.err
}

func (s *sender) ResetControl(key string) error {
	s.resets = append(s.resets, key)
	return nil
}

// TestSettingsPanelCoalesces: presses while a set is on its way send no
// more; the newest wanted value follows the answer; the broadcaster's list
// is the truth after it.
func TestSettingsPanelCoalesces(t *testing.T) {
	var s settingsPanel
	var out sender
	s.take([]chat.Control{fpsControl, sizeControl}, "", "")
	for range 5 {
		s.change(stepSmall, true, nil, &out)
	}
	if len(out.sets) != 1 || out.sets[0] != 31 {
		t.Fatalf("sent %v, want [31]", out.sets)
	}
	if v, pending := s.shown(fpsControl); v != 35 || !pending {
		t.Fatalf("shown %d (pending %v), want 35 on its way", v, pending)
	}
	s.answered(viewer.ControlResult{Op: chat.OpSet, Key: "fps", Value: 31}, &out)
	if len(out.sets) != 2 || out.sets[1] != 35 {
		t.Fatalf("sent %v, want 35 after the answer", out.sets)
	}
	s.answered(viewer.ControlResult{Op: chat.OpSet, Key: "fps", Value: 35}, &out)
	now := fpsControl
	now.Value = 35
	s.take([]chat.Control{now, sizeControl}, "boss", "fps")
	if v, pending := s.shown(now); v != 35 || pending || s.msg != "boss set Frame rate to 35" {
		t.Fatalf("shown %d (pending %v), message %q", v, pending, s.msg)
	}

	s.change(stepSmall, true, nil, &out)
	if line := s.answered(viewer.ControlResult{Op: chat.OpSet, Key: "fps", Value: 36,
		Err: &chat.Error{Code: chat.CodeBadValue, Message: "fps 36: want 1 to 35"}}, &out); line != "Frame rate: fps 36: want 1 to 35" || !s.warn {
		t.Fatalf("refusal line %q, panel %q", line, s.msg)
	}
	if v, pending := s.shown(now); v != 35 || pending {
		t.Fatalf("after the refusal shown %d (pending %v)", v, pending)
	}
}

// TestSettingsPanelViewerSendsNothing: a viewer's keys and /set are
// refused in the panel; nothing reaches the session.
func TestSettingsPanelViewerSendsNothing(t *testing.T) {
	var s settingsPanel
	var out sender
	s.take([]chat.Control{fpsControl, autoControl, focusControl}, "", "")
	s.change(stepSmall, false, nil, &out)
	s.toggle(false, &out)
	err := s.setCommand("fps", "10", false, &out)
	s.reset("", false, &out)
	if len(out.sets)+len(out.resets) != 0 || !errors.Is(err, viewer.ErrNotHost) || s.msg != viewer.ErrNotHost.Error() {
		t.Fatalf("sent %v %v; /set %v; panel %q", out.sets, out.resets, err, s.msg)
	}
	if err := s.setCommand("nope", "1", true, &out); err == nil || len(out.sets) != 0 {
		t.Fatalf("unknown key: %v, sent %v", err, out.sets)
	}
	if err := s.setCommand("white_balance_automatic", "off", true, &out); err != nil || len(out.sets) != 1 || out.sets[0] != 0 {
		t.Fatalf("/set bool off: %v, sent %v", err, out.sets)
	}
}

// TestSettingsPanelDrawsEveryKind draws a camera's worth of settings (every
// kind, an inactive one, more rows than fit) in the panels of an 800×450
// and a 1920×1080 window, keeps the pictures to look at, and checks the
// selected row is in sight and the inactive one greyed.
func TestSettingsPanelDrawsEveryKind(t *testing.T) {
	p, err := newPainter()
	if err != nil {
		t.Fatal(err)
	}
	list := []chat.Control{sizeControl, fpsControl, {Key: "quality", Name: "JPEG quality", Kind: "int", Min: 1, Max: 100, Value: 80},
		brightStep, {Key: "contrast", Name: "Contrast", Kind: "int", Max: 95, Value: 32},
		{Key: "saturation", Name: "Saturation", Kind: "int", Max: 100, Value: 64},
		{Key: "hue", Name: "Hue", Kind: "int", Min: -2000, Max: 2000, Value: 0},
		autoControl,
		{Key: "power_line_frequency", Name: "Power Line Frequency", Kind: "menu", Value: 1, Menu: []chat.MenuItem{{Value: 0, Label: "Disabled"}, {Value: 1, Label: "50 Hz"}, {Value: 2, Label: "60 Hz"}}},
		{Key: "white_balance_temperature", Name: "White Balance Temperature", Kind: "int", Min: 2800, Max: 6500, Step: 10, Value: 4600, Inactive: true},
		{Key: "auto_exposure", Name: "Auto Exposure", Kind: "menu", Value: 3, Menu: []chat.MenuItem{{Value: 1, Label: "Manual Mode"}, {Value: 3, Label: "Aperture Priority Mode"}}},
		{Key: "exposure_time_absolute", Name: "Exposure Time, Absolute", Kind: "int", Min: 3, Max: 2047, Value: 250, Inactive: true},
		{Key: "link_frequency", Name: "Link Frequency", Kind: "intmenu", Value: 1, Menu: []chat.MenuItem{{Value: 0, Label: "100000000"}, {Value: 1, Label: "200000000"}}},
		{Key: "button", Name: "Button", Kind: "button"},
		focusControl,
		{Key: "zoom_absolute", Name: "Zoom, Absolute", Kind: "int", Min: 100, Max: 500, Value: 100},
	}
	for _, size := range []image.Point{{800, 450}, {1920, 1080}} {
		u := &uiState{title: "Kitchen cam", role: chat.RoleHost, chatStatus: "chat: cam:4000 as boss"}
		u.settings.open = true
		u.settings.take(list, "", "")
		u.settings.sel = "zoom_absolute"
		u.settings.want = map[string]int64{"zoom_absolute": 150}
		u.settings.sent = map[string]int64{"zoom_absolute": 150}
		u.settings.msg, u.settings.warn = "Brightness: brightness 200 is outside -64 to 64", true
		lay := newLayout(size.X, size.Y, image.Pt(16, 9))
		img := image.NewRGBA(lay.panel)
		p.drawPanel(img, u)
		name := fmt.Sprintf("settings-kinds-%dx%d", size.X, size.Y)
		f, err := os.Create(filepath.Join(artifactDir(t), name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
		if u.settings.top == 0 && size.Y < 600 {
			t.Errorf("%s: the list did not scroll to the selected last row", name)
		}
		grey := 0
		for _, px := range img.Pix {
			if px == inactiveFG.R {
				grey++
			}
		}
		if size.Y > 600 && grey == 0 {
			t.Errorf("%s: no greyed inactive row", name)
		}
	}
}

// TestHelpFits: the help shows whole at 1280×720 and up; at 800×450 it
// takes pages that hold every entry once, in order, each within the
// panel, and PgDn turns to the next. Each page is kept as a picture.
func TestHelpFits(t *testing.T) {
	p, err := newPainter()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []image.Point{{800, 450}, {1280, 720}, {1920, 1080}} {
		lay := newLayout(size.X, size.Y, image.Pt(16, 9))
		a := panelArea{r: lay.panel, pad: 8, w: lay.panel.Dx() - 16}
		u := &uiState{title: "Kitchen cam", help: true}
		img := image.NewRGBA(lay.panel)
		// The room the help has: the panel above the input line.
		room := p.panelInput(img, a, u) - lay.panel.Min.Y - a.pad
		pages := p.helpPages(a, room)
		if size.Y >= 720 && len(pages) != 1 {
			t.Errorf("%v: the help takes %d pages, want 1", size, len(pages))
		}
		var all [][2]string
		for i, page := range pages {
			if h := helpHeight(p, a, page); h > room || (len(pages) > 1 && h > room-p.line) {
				t.Errorf("%v page %d: %d px high, the panel has %d (less a line for the page turn)", size, i+1, h, room)
			}
			all = append(all, page...)
		}
		if !slices.Equal(all, helpLines) {
			t.Errorf("%v: the pages hold %d entries, want the %d of the help in order", size, len(all), len(helpLines))
		}
		for i := range pages {
			u.helpPage = i
			p.drawPanel(img, u)
			if u.helpPages != len(pages) {
				t.Errorf("%v: drawn with %d pages, want %d", size, u.helpPages, len(pages))
			}
			name := fmt.Sprintf("help-%dx%d", size.X, size.Y)
			if len(pages) > 1 {
				name += fmt.Sprintf("-page%d", i+1)
			}
			f, err := os.Create(filepath.Join(artifactDir(t), name+".png"))
			if err != nil {
				t.Fatal(err)
			}
			png.Encode(f, img)
			f.Close()
		}
	}
	// PgDn turns to the next page and stops at the last; PgUp goes back;
	// another key closes the help and the next one opens at page 1.
	w := &windowLoop{u: &uiState{help: true, helpPages: 2}}
	for _, c := range []struct {
		key      editKey
		page     int
		helpOpen bool
	}{{editPageDown, 1, true}, {editPageDown, 1, true}, {editPageUp, 0, true}, {editPageDown, 1, true}, {editText, 0, false}} {
		w.press(typed{key: c.key, text: map[bool]string{true: "x"}[c.key == editText]})
		if w.u.helpPage != c.page || w.u.help != c.helpOpen {
			t.Fatalf("after key %d: page %d, open %v; want %d, %v", c.key, w.u.helpPage, w.u.help, c.page, c.helpOpen)
		}
	}
}

// helpHeight is how high entries are drawn, as panelHelp lays them out.
func helpHeight(p *painter, a panelArea, entries [][2]string) int {
	col := helpColumn(p, a)
	n := 0
	for _, l := range entries {
		if l[1] == "" {
			n++
			continue
		}
		n += max(len(p.wrap(l[0], col-2*a.pad)), len(p.wrap(l[1], a.w-col)))
	}
	return n * p.line
}
