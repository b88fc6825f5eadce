package main

import (
	"errors"
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
