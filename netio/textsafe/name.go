package textsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxName is the longest name in characters (code points): the chat
// protocol's limit (chat.MaxName, PROTOCOL.md "1–32 printable characters").
const MaxName = 32

// CheckName accepts a chat name that is what it looks like: 1 to MaxName
// printable characters, no white space at either end (trim first), none of
// the hazards Terminal escapes, no blank fillers (U+2800 BRAILLE PATTERN
// BLANK and the Hangul fillers, which look like nothing), and at least one
// letter, digit or symbol, so a name of only spaces, marks or punctuation
// is refused. A *Error names the character at fault and why.
func CheckName(name string) error { return CheckNameLen(name, MaxName) }

// CheckNameLen is CheckName with another limit than MaxName, for names
// that are not chat names, such as a broadcaster's mDNS instance name.
func CheckNameLen(name string, limit int) error {
	if name == "" {
		return &Error{Subject: "name", Rune: -1, Reason: "is empty"}
	}
	if n := utf8.RuneCountInString(name); n > limit {
		return &Error{Subject: "name", Rune: -1, Reason: "has " + strconv.Itoa(n) + " characters, limit " + strconv.Itoa(limit)}
	}
	var err *Error
	visible := false
	walk(name, func(i int, r rune, _ int, why string) bool {
		switch {
		case why != "":
		case isFiller(r):
			why = "a blank filler character, which looks like nothing"
		case unicode.Is(defaultIgnorable, r):
			// An emoji joiner or selector inEmoji let through.
		case !unicode.IsPrint(r):
			why = "not a printable character"
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsSymbol(r):
			visible = true
		}
		if why != "" {
			err = &Error{Subject: "name", Rune: r, Offset: i, Reason: why}
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if strings.TrimSpace(name) != name {
		return &Error{Subject: "name", Rune: -1, Reason: "starts or ends with white space"}
	}
	if !visible {
		return &Error{Subject: "name", Rune: -1, Reason: "has no letter, digit or symbol"}
	}
	return nil
}

// isFiller reports characters that are letters or symbols on paper but
// render as blank space.
func isFiller(r rune) bool {
	switch r {
	case 0x2800, 0x3164, 0x115F, 0x1160, 0xFFA0:
		return true
	}
	return false
}

// Skeleton returns what name looks like, for uniqueness: two names with the
// same skeleton are one name. It is Unicode TR39's skeleton made
// case-insensitive, as chat names always were: compatibility decomposition
// (NFKD: fullwidth, ligatures and styled letters become plain ones; equal
// under NFKD exactly when equal under NFKC), case folding, removal of
// default-ignorable and blank filler characters, the confusables mapping
// (Cyrillic а, Greek ο, digit 0 … to their Latin look-alikes), NFD, repeated
// until nothing changes so Skeleton(Skeleton(s)) == Skeleton(s).
//
// A skeleton is for comparing, never for showing: it mixes scripts freely.
// Folding has to come before the mapping so that "ALICE" and "alice" collide
// (TR39 maps capital I to l); the price is that a capital I counts as i, not
// as the l it also resembles. Capitals of other scripts whose prototype is a
// Latin capital (Greek Β, Cyrillic Н) are mapped before folding, since their
// small forms (β, н) look like something else.
func Skeleton(name string) string {
	s := strings.ToValidUTF8(name, "\uFFFD")
	// Each round only removes differences; real names settle in one or two.
	for range 8 {
		t := skeletonRound(s)
		if t == s {
			break
		}
		s = t
	}
	return s
}

func skeletonRound(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFKD.String(s) {
		if to, ok := prototype(r); ok && r > unicode.MaxASCII && isLatinCapitals(to) {
			b.WriteString(to)
			continue
		}
		b.WriteRune(r)
	}
	s = cases.Fold().String(b.String())
	b.Reset()
	for _, r := range s {
		if unicode.Is(defaultIgnorable, r) || isFiller(r) {
			continue
		}
		if to, ok := prototype(r); ok {
			b.WriteString(to)
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFD.String(b.String())
}

func isLatinCapitals(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return s != ""
}
