// Package textsafe keeps strings from the network from doing anything on a
// screen but show themselves: Terminal makes any string safe to print,
// CheckName and CheckText say which names and chat texts to accept, and
// Skeleton says which names look alike.
//
// What counts as a hazard, in one place so the three agree:
//   - C0 controls (all of them, tab and newline too: every field printed is
//     one line, and a tab can fake column alignment), DEL and C1 controls:
//     they move the cursor, set titles and colours, clear the screen;
//   - invalid UTF-8: a terminal may read the stray bytes as C1 controls;
//   - bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
//     U+2066–U+2069): they make text read in another order than it is stored;
//   - line and paragraph separators (U+2028, U+2029): they break lines;
//   - default-ignorable code points (Unicode's Default_Ignorable_Code_Point,
//     table generated from DerivedCoreProperties.txt): they show as nothing,
//     so two different strings look the same.
//
// One exception: U+200D ZERO WIDTH JOINER and the variation selectors
// U+FE0E and U+FE0F are how emoji are spelled ("👩‍💻" is U+1F469 U+200D
// U+1F4BB, "❤️" is U+2764 U+FE0F). They are kept where they sit inside an
// emoji sequence (a joiner between two pictographs, a selector right after
// one), there they cannot hide a letter and render as part of the emoji;
// anywhere else they are hazards. Names accept them under the same rule
// because Skeleton drops every default-ignorable code point, so an emoji
// with and without its joiners is the same name.
package textsafe

//go:generate go run ./internal/gentables -ucd $UCD_DIR -o tables.go

import (
	"fmt"
	"sort"
	"unicode"
	"unicode/utf8"
)

// Error says why a name or a text was refused. Rune is the character at
// fault and Offset its byte offset, or Rune is -1 when the string as a whole
// is at fault (empty, too long).
type Error struct {
	Subject string // "name" or "text"
	Rune    rune
	Offset  int
	Reason  string
}

func (e *Error) Error() string {
	switch {
	case e.Rune < 0:
		return fmt.Sprintf("%s %s", e.Subject, e.Reason)
	case e.Rune == utf8.RuneError:
		return fmt.Sprintf("%s: byte %d: %s", e.Subject, e.Offset, e.Reason)
	}
	return fmt.Sprintf("%s: %U at byte %d is %s", e.Subject, e.Rune, e.Offset, e.Reason)
}

// Reasons, shared by the checks and Terminal.
const (
	reasonInvalid   = "not valid UTF-8"
	reasonControl   = "a control character, which can rewrite a terminal"
	reasonBidi      = "a bidirectional control, which makes text read in another order"
	reasonSeparator = "a line or paragraph separator, which breaks the line"
	reasonInvisible = "an invisible (default-ignorable) character, which makes different text look the same"
)

// none stands for "no rune shown before": the start of the string or an
// escape written in place of a hazard.
const none rune = -1

// walk calls fn for each code point of s with the reason it can't be shown
// as is, or "" when it can. An invalid byte comes as utf8.RuneError with
// size 1. fn returns false to stop.
func walk(s string, fn func(i int, r rune, size int, why string) bool) {
	prev := none
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		next, nsize := utf8.DecodeRuneInString(s[i+size:])
		if next == utf8.RuneError && nsize <= 1 {
			next = none // the end, or a byte that is not UTF-8
		}
		var why string
		if r == utf8.RuneError && size == 1 {
			why = reasonInvalid
		} else {
			why = hazard(prev, r, next)
		}
		if !fn(i, r, size, why) {
			return
		}
		prev = r
		if why != "" {
			prev = none
		}
		i += size
	}
}

// hazard says why r can't be shown as is, or "". prev is the code point shown
// just before r (none after an escape), next the one after it in the input.
func hazard(prev, r, next rune) string {
	switch {
	case r < 0x20, r == 0x7F, r >= 0x80 && r <= 0x9F:
		return reasonControl
	case isBidiControl(r):
		return reasonBidi
	case r == 0x2028, r == 0x2029:
		return reasonSeparator
	case unicode.Is(defaultIgnorable, r) && !inEmoji(prev, r, next):
		return reasonInvisible
	}
	return ""
}

func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F ||
		r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// inEmoji tells whether a joiner or emoji variation selector sits where an
// emoji sequence needs it. prev is what was shown before it, so a joiner
// after a selector that was itself escaped is escaped too: Terminal stays
// idempotent.
func inEmoji(prev, r, next rune) bool {
	switch r {
	case 0xFE0E, 0xFE0F:
		return isPictograph(prev) || isKeycapBase(prev) && next == 0x20E3
	case 0x200D:
		return (isPictograph(prev) || prev == 0xFE0F) && isPictograph(next)
	}
	return false
}

// isKeycapBase tells whether r starts a keycap emoji such as "1️⃣" (U+0031
// U+FE0F U+20E3).
func isKeycapBase(r rune) bool {
	return r >= '0' && r <= '9' || r == '#' || r == '*'
}

// isPictograph approximates Extended_Pictographic, which Go's unicode package
// lacks: emoji are Other_Symbol, skin-tone modifiers Modifier_Symbol.
func isPictograph(r rune) bool {
	return r >= 0x1F3FB && r <= 0x1F3FF ||
		r > 0x7F && r != utf8.RuneError && unicode.Is(unicode.So, r)
}

// confusable is one line of confusables.txt.
type confusable struct {
	from rune
	to   string
}

// prototype returns what TR39 maps r to, if anything.
func prototype(r rune) (string, bool) {
	i := sort.Search(len(confusables), func(i int) bool { return confusables[i].from >= r })
	if i < len(confusables) && confusables[i].from == r {
		return confusables[i].to, true
	}
	return "", false
}
