package textsafe

import (
	"fmt"
	"strings"
)

// Terminal returns s made safe to print on one line of a terminal: every
// hazard the package doc lists is replaced by a visible escape, \u001B for a
// code point (\U000E0001 above U+FFFF) and \xFF for a byte that is not
// UTF-8, so the reader sees that something was there and what. Everything
// else, including CJK, Arabic and Hebrew letters and emoji, passes
// unchanged. Terminal(Terminal(s)) == Terminal(s).
func Terminal(s string) string {
	clean := true
	walk(s, func(_ int, _ rune, _ int, why string) bool {
		clean = why == ""
		return clean
	})
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	walk(s, func(i int, r rune, size int, why string) bool {
		switch {
		case why == "":
			b.WriteString(s[i : i+size])
		case why == reasonInvalid:
			fmt.Fprintf(&b, `\x%02X`, s[i])
		case r > 0xFFFF:
			fmt.Fprintf(&b, `\U%08X`, r)
		default:
			fmt.Fprintf(&b, `\u%04X`, r)
		}
		return true
	})
	return b.String()
}
