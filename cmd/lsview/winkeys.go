package main

import "gocv.io/x/gocv"

// How typing reaches the window. OpenCV's waitKey carries one byte per key
// and, with the Qt backend, lowercases it and drops anything not ASCII: it
// can't carry a chat box. Where OpenCV's highgui is built with Qt 5
// (Debian's and Raspberry Pi OS's libopencv-highgui), winkeys_qt.cpp
// filters Qt's own events and hands over the real text; elsewhere (GTK,
// Cocoa and Win32 builds of highgui, or a Linux build with -tags noqt)
// the window falls back to waitKey's ASCII.

// editKey names a key the window acts on. The values are winkeys_qt.h's
// LSVIEW_KEY_*.
type editKey int

const (
	editText editKey = iota // the event is typed or pasted text
	editEnter
	editEsc
	editBackspace
	editDelete
	editLeft
	editRight
	editHome
	editEnd
	editUp
	editDown
	editPageUp
	editPageDown
	editF1
	editF11
	editQuit // Ctrl+Q
	editWheelUp
	editWheelDown
	editF2
	editF3
	editShiftLeft
	editShiftRight
	editF4
)

// typed is one thing done at the keyboard or mouse: text (key editText)
// or a named key.
type typed struct {
	text string
	key  editKey
}

// keyReader reads the window's keys, one beat at a time, on the main OS
// thread.
type keyReader struct {
	tried, textRoute bool
	buf              []typed
}

// read waits one beat (waitKey, which also runs the GUI's events; or,
// with the text route, until an event or a new picture) and returns what
// was typed meanwhile, valid until the next call.
func (r *keyReader) read(win *gocv.Window) []typed {
	if !r.tried {
		r.textRoute, r.tried = installTextRoute(), true
	}
	r.buf = r.buf[:0]
	if r.textRoute {
		waitTextRoute(idleBeat)
		return drainTextRoute(r.buf)
	}
	if t, ok := fromWaitKey(win.WaitKey(waitKeyMillis)); ok {
		r.buf = append(r.buf, t)
	}
	return r.buf
}

// fromWaitKey reads a waitKey code: printable ASCII and a few keys.
func fromWaitKey(k int) (typed, bool) {
	switch {
	case k == keyCodeEsc:
		return typed{key: editEsc}, true
	case k == keyCodeEnter || k == keyCodeLF:
		return typed{key: editEnter}, true
	case k == keyCodeBackspace || k == keyCodeDelete:
		// Qt's backend gives 127 for Backspace.
		return typed{key: editBackspace}, true
	case k == keyCodeF1:
		return typed{key: editF1}, true
	case k == keyCodeF2:
		return typed{key: editF2}, true
	case k == keyCodeF3:
		return typed{key: editF3}, true
	case k == keyCodeF4:
		return typed{key: editF4}, true
	case k >= ' ' && k < keyCodeDelete:
		return typed{text: string(rune(k))}, true
	}
	return typed{}, false
}

// press applies one typed event to the chat box and the window.
func (w *windowLoop) press(t typed) keyResult {
	u := w.u
	if u.help { // PgUp and PgDn turn its pages; any other key closes it
		switch t.key {
		case editPageUp, editWheelUp:
			u.helpPage = max(u.helpPage-1, 0)
		case editPageDown, editWheelDown:
			u.helpPage = min(u.helpPage+1, max(u.helpPages-1, 0))
		default:
			u.help, u.helpPage = false, 0
		}
		w.panelDirty = true
		return stay
	}
	if t.key == editText && t.text == "?" && w.edit.String() == "" {
		u.help, w.panelDirty = true, true
		return stay
	}
	switch w.edit.apply(t) {
	case editNone:
		return stay
	case editQuitNow:
		return quit
	case editSubmit:
		u.input = w.edit.String()
		w.sendInput()
		w.edit.sent()
		u.scroll = 0 // back to the newest, where the line will show
	case editScrollUp:
		u.scrollBack(scrollStep)
	case editScrollDown:
		u.scrollBack(-scrollStep)
	case editHelp:
		u.help = true
	case editFullScreen:
		w.toggleFullScreen()
	}
	u.input, u.cursor, w.panelDirty = w.edit.String(), w.edit.cursor, true
	return stay
}

// scrollStep is how many chat lines PgUp, PgDn and a wheel step move.
const scrollStep = 5
