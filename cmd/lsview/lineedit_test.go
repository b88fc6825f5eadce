package main

import "testing"

// TestLineEditKeys: the chat box edits as text boxes do everywhere.
func TestLineEditKeys(t *testing.T) {
	txt := func(s string) typed { return typed{text: s} }
	key := func(k editKey) typed { return typed{key: k} }
	cases := []struct {
		name   string
		in     []typed
		want   string
		cursor int
		last   editAction
	}{
		{"text as typed", []typed{txt("Hello "), txt("World ABC?!")}, "Hello World ABC?!", 17, editChanged},
		{"any script", []typed{txt("café "), txt("日本語"), txt("😀")}, "café 日本語😀", 9, editChanged},
		{"insert at the cursor", []typed{txt("helo"), key(editLeft), txt("l"), key(editEnd), txt("!"), key(editHome), key(editDelete), txt("H")}, "Hello!", 1, editChanged},
		{"backspace before the cursor", []typed{txt("ab日c"), key(editLeft), key(editBackspace)}, "abc", 2, editChanged},
		{"nothing left of the start", []typed{txt("a"), key(editHome), key(editLeft), key(editBackspace)}, "a", 0, editNone},
		{"nothing right of the end", []typed{txt("a"), key(editRight), key(editDelete)}, "a", 1, editNone},
		{"paste without control characters", []typed{txt("one\ntwo\tthree\x1b[31m\x00")}, "one two three[31m", 17, editChanged},
		{"Esc clears", []typed{txt("draft"), key(editEsc)}, "", 0, editChanged},
		{"Esc on an empty box quits", []typed{txt("draft"), key(editEsc), key(editEsc)}, "", 0, editQuitNow},
		{"Ctrl+Q quits", []typed{txt("draft"), key(editQuit)}, "draft", 5, editQuitNow},
		{"Enter sends", []typed{txt("x"), key(editEnter)}, "x", 1, editSubmit},
		{"Enter on nothing", []typed{key(editEnter)}, "", 0, editNone},
		{"scrolling", []typed{key(editPageUp), key(editWheelDown)}, "", 0, editScrollDown},
		{"help and full screen", []typed{key(editF1), key(editF11)}, "", 0, editFullScreen},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := lineEdit{max: maxInputRunes}
			var last editAction
			for _, in := range tc.in {
				last = e.apply(in)
			}
			if e.String() != tc.want || e.cursor != tc.cursor || last != tc.last {
				t.Fatalf("box %q cursor %d last action %d; want %q, %d, %d", e.String(), e.cursor, last, tc.want, tc.cursor, tc.last)
			}
		})
	}
}

func TestLineEditKeysUpBringsBackTheLastLine(t *testing.T) {
	e := lineEdit{max: maxInputRunes}
	if e.apply(typed{key: editUp}) != editNone {
		t.Error("Up with nothing sent changed the box")
	}
	e.apply(typed{text: "first"})
	e.sent()
	if e.String() != "" {
		t.Fatalf("box %q after sending", e.String())
	}
	e.apply(typed{text: "draft"})
	e.apply(typed{key: editUp})
	if e.String() != "first" || e.cursor != 5 {
		t.Fatalf("after Up: %q cursor %d", e.String(), e.cursor)
	}
}

func TestLineEditKeysBounded(t *testing.T) {
	e := lineEdit{max: 4}
	e.apply(typed{text: "ab"})
	e.apply(typed{key: editHome})
	e.apply(typed{text: "日本語"})
	if e.String() != "日本ab" || e.cursor != 2 {
		t.Fatalf("box %q cursor %d", e.String(), e.cursor)
	}
}

func TestWaitKeyFallbackKeys(t *testing.T) {
	for k, want := range map[int]typed{27: {key: editEsc}, 13: {key: editEnter}, 10: {key: editEnter},
		8: {key: editBackspace}, 127: {key: editBackspace}, 'A': {text: "A"}, ' ': {text: " "}} {
		if got, ok := fromWaitKey(k); !ok || got != want {
			t.Errorf("waitKey %d: %+v %v, want %+v", k, got, ok, want)
		}
	}
	for _, k := range []int{-1, 0, 200, 0x10000} {
		if got, ok := fromWaitKey(k); ok {
			t.Errorf("waitKey %d gave %+v", k, got)
		}
	}
}
