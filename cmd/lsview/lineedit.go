package main

import "unicode"

// lineEdit is the chat box: its text, a cursor, and the last line sent,
// which Up brings back.
type lineEdit struct {
	text   []rune
	cursor int // in runes, 0 to len(text)
	last   string
	max    int // runes the box holds
}

// editAction is what a key asks of the window beyond the box itself.
type editAction int

const (
	editNone    editAction = iota
	editChanged            // the box changed: draw it again
	editSubmit             // Enter on a non-empty box: send String(), then sent()
	editQuitNow            // Esc on an empty box, or Ctrl+Q
	editScrollUp
	editScrollDown
	editHelp
	editFullScreen
)

// apply takes one typed event.
func (e *lineEdit) apply(t typed) editAction {
	switch t.key {
	case editText:
		return e.insert(t.text)
	case editEnter:
		if len(e.text) == 0 {
			return editNone
		}
		return editSubmit
	case editEsc:
		// Esc clears the box as it does everywhere else; a second one,
		// on the empty box, quits.
		if len(e.text) == 0 {
			return editQuitNow
		}
		e.text, e.cursor = e.text[:0], 0
		return editChanged
	case editQuit:
		return editQuitNow
	case editBackspace:
		if e.cursor == 0 {
			return editNone
		}
		e.text = append(e.text[:e.cursor-1], e.text[e.cursor:]...)
		e.cursor--
		return editChanged
	case editDelete:
		if e.cursor == len(e.text) {
			return editNone
		}
		e.text = append(e.text[:e.cursor], e.text[e.cursor+1:]...)
		return editChanged
	case editLeft, editShiftLeft:
		return e.move(e.cursor - 1)
	case editRight, editShiftRight:
		return e.move(e.cursor + 1)
	case editHome:
		return e.move(0)
	case editEnd:
		return e.move(len(e.text))
	case editUp:
		if e.last == "" {
			return editNone
		}
		e.text = []rune(e.last)
		e.cursor = len(e.text)
		return editChanged
	case editPageUp, editWheelUp:
		return editScrollUp
	case editPageDown, editWheelDown:
		return editScrollDown
	case editF1:
		return editHelp
	case editF11:
		return editFullScreen
	}
	return editNone
}

// insert puts s at the cursor, as much of it as the box has room for,
// without control characters.
func (e *lineEdit) insert(s string) editAction {
	var add []rune
	for _, r := range s {
		if len(e.text)+len(add) >= e.max {
			break
		}
		switch {
		case r == '\n' || r == '\t':
			add = append(add, ' ')
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
		default:
			add = append(add, r)
		}
	}
	if len(add) == 0 {
		return editNone
	}
	tail := append(add, e.text[e.cursor:]...)
	e.text = append(e.text[:e.cursor], tail...)
	e.cursor += len(add)
	return editChanged
}

func (e *lineEdit) move(to int) editAction {
	to = max(0, min(to, len(e.text)))
	if to == e.cursor {
		return editNone
	}
	e.cursor = to
	return editChanged
}

// String is the box's text.
func (e *lineEdit) String() string { return string(e.text) }

// sent empties the box after its line went out, keeping it for Up.
func (e *lineEdit) sent() {
	e.last = string(e.text)
	e.text, e.cursor = e.text[:0], 0
}
